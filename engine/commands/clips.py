"""`maskprop clips OUT`: procedural clips written as a DAVIS folder, to measure what training taught.

Clips drawn with another `--seed` than training's are clips the network never saw; `eval --gt OUT
--checkpoint ...` then scores a trained checkpoint on them.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from engine.commands.propagation_options import positive
from engine.commands.train import size_argument
from engine.exit_codes import OK, run_reporting_errors

log = logging.getLogger("engine.clips")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", type=Path, help="folder to write JPEGImages/ and Annotations/ into")
    parser.add_argument("--count", type=positive, default=20, help="clips to write (default %(default)s)")
    parser.add_argument("--frames", type=positive, default=24, help="frames per clip (default %(default)s)")
    parser.add_argument("--size", type=size_argument, default=(240, 320), help="HxW (default 240x320)")
    parser.add_argument(
        "--max-objects", type=positive, default=3, help="objects per clip, at most (default %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default %(default)s; training uses 0)")


def run(args: argparse.Namespace) -> int:
    return run_reporting_errors(lambda: _write(args))


def _write(args: argparse.Namespace) -> int:
    from engine.train.export import write_clips
    from engine.train.procedural import ProceduralClips

    if args.out.exists() and any(args.out.iterdir()):
        raise ValueError(f"{args.out} is not empty; choose a new folder")
    source = ProceduralClips(args.frames, args.size, args.max_objects)
    names = write_clips(source, args.out, args.count, args.seed)
    log.info("wrote %d clips of %d frames to %s", len(names), args.frames, args.out)
    return OK
