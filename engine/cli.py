"""The `maskprop` / `python -m engine` command line.

Each subcommand lives in its own module with two functions, `configure(parser)` and `run(args) -> int`.
They are imported only when the command line is built, and import torch inside `run`, so `--help` and
argument errors answer at once instead of after torch has loaded.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from engine import __version__

# Subcommand name -> (module, one-line help).
COMMANDS: dict[str, tuple[str, str]] = {
    "propagate": ("engine.commands.propagate", "propagate keyframe masks through a shot and write mattes"),
    "eval": ("engine.commands.eval", "J and F of results against DAVIS-format ground truth"),
    "batch": ("engine.commands.batch", "run a job file of shots for render farms (resumable)"),
    "serve": ("engine.commands.serve", "serve the engine over ZeroMQ to the Blender add-on and other clients"),
    "keygen": ("engine.commands.keygen", "write a CurveZMQ key pair for the server or a client"),
    "train": ("engine.commands.train", "train or fine-tune a network (procedural clips, DAVIS videos, stills)"),
    "publish": ("engine.commands.publish", "a trained checkpoint as a network to ship: weights only, fp16, its size"),
    "clips": ("engine.commands.clips", "write procedural clips as a DAVIS-format folder (held-out test sets)"),
    "bench": ("engine.commands.bench", "benchmarks: per-frame time split and memory of the engine"),
    "info": ("engine.commands.info", "print the engine, protocol and library versions"),
}

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    """The whole argument parser, every subcommand included."""
    parser = argparse.ArgumentParser(
        prog="maskprop",
        description="Mask propagation engine (AFB-URR) for Blender and render farms.",
    )
    parser.add_argument("--version", action="version", version=f"maskprop {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        module.configure(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` and run the chosen subcommand; returns the process exit code."""
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
