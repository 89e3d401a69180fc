"""The `maskprop` / `python -m engine` command line.

Each subcommand lives in its own module with two functions, `configure(parser)` and `run(args) -> int`.
They are imported only when the command line is built, and import torch, numpy and OpenCV inside `run`, so
`--help` and argument errors answer at once instead of after torch has loaded.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from engine import __version__
from engine.compute.allocator import keep_freed_memory

# Subcommand name -> (module, one-line help).
COMMANDS: dict[str, tuple[str, str]] = {
    "propagate": ("engine.commands.propagate", "propagate keyframe masks through a shot and write mattes"),
    "eval": ("engine.commands.eval", "J and F of results against DAVIS-format ground truth"),
    "batch": ("engine.commands.batch", "run a job file of shots for render farms (resumable)"),
    "farm-engine": ("engine.commands.farm_engine", "start or stop the engine a farm worker's tasks share"),
    "report": ("engine.commands.report", "rebuild a job file's report.html from its shots' folders"),
    "serve": ("engine.commands.serve", "serve the engine over ZeroMQ to the Blender add-on and other clients"),
    "keygen": ("engine.commands.keygen", "write a CurveZMQ key pair for the server or a client"),
    "train": ("engine.commands.train", "train or fine-tune a network (procedural clips, DAVIS videos, stills)"),
    "publish": ("engine.commands.publish", "a trained checkpoint as a network to ship: weights only, fp16, its size"),
    "clips": ("engine.commands.clips", "write procedural clips as a DAVIS-format folder (held-out test sets)"),
    "bench": ("engine.commands.bench", "benchmarks: per-frame time split and memory of the engine"),
    "info": ("engine.commands.info", "print the engine, protocol and library versions"),
}


def build_parser() -> argparse.ArgumentParser:
    """The whole argument parser, every subcommand included."""
    parser = argparse.ArgumentParser(
        prog="maskprop",
        description="Mask propagation engine (AFB-URR) for Blender and render farms.",
    )
    parser.add_argument("--version", action="version", version=f"maskprop {__version__}")
    _add_verbosity(parser, logging.INFO)
    # After the subcommand too; unset there, so that they do not undo the same flags given before it.
    verbosity = argparse.ArgumentParser(add_help=False)
    _add_verbosity(verbosity, argparse.SUPPRESS)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        sub = subparsers.add_parser(name, help=help_text, description=help_text, parents=[verbosity])
        module.configure(sub)
        sub.set_defaults(run=module.run)
    return parser


def _add_verbosity(parser: argparse.ArgumentParser, default: int | str) -> None:
    """`-v` and `-q`, which set `log_level` for the `engine` loggers (and `-q` turns progress off)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-v",
        "--verbose",
        dest="log_level",
        action="store_const",
        const=logging.DEBUG,
        default=default,
        help="debug messages too (default: information, warnings and errors)",
    )
    group.add_argument(
        "-q",
        "--quiet",
        dest="log_level",
        action="store_const",
        const=logging.WARNING,
        default=default,
        help="warnings and errors only, and no progress bar or lines (default: both shown)",
    )


def shows_progress(args: argparse.Namespace) -> bool:
    """Progress is information: `--quiet` turns it off with the rest."""
    return args.log_level <= logging.INFO


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` and run the chosen subcommand; returns the process exit code."""
    args = build_parser().parse_args(argv)
    _configure_logging(args.log_level)
    keep_freed_memory()
    return int(args.run(args))


def _configure_logging(level: int) -> None:
    """Log the engine's records from `level` up to stderr as `level: message` lines, like the `error:` ones.

    Other libraries keep logging's default (warnings and up). `serve` then puts its own structured lines in
    place; where a host already configured logging (an embedding program, pytest), its handlers stay.
    """
    logging.getLogger("engine").setLevel(level)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LevelPrefixed())
    logging.basicConfig(handlers=[handler])


class _LevelPrefixed(logging.Formatter):
    """`info: ...`, `warning: ...`: log lines that read like the commands' own `error:` lines."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {super().format(record)}"


if __name__ == "__main__":
    sys.exit(main())
