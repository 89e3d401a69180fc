"""`maskprop publish`: a trained checkpoint as a network to ship (weights only, fp16, its internal size)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.commands.propagation_options import non_negative, positive
from engine.exit_codes import run_reporting_errors


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path, help="checkpoint to publish, e.g. RUN/checkpoints/last.pth")
    parser.add_argument("out", type=Path, help="file to write (.pth)")
    parser.add_argument(
        "--max-size",
        type=non_negative,
        required=True,
        help="internal size (shorter side) the network runs at by default: the scale it was trained and validated at",
    )
    parser.add_argument(
        "--memory-every",
        type=positive,
        default=1,
        help="memorise every N-th frame of a pass by default (default %(default)s: every frame, the reference's loop)",
    )
    parser.add_argument("--note", default="", help="a line of provenance stored in the file (default: none)")


def run(args: argparse.Namespace) -> int:
    return run_reporting_errors(lambda: _publish(args))


def _publish(args: argparse.Namespace) -> int:
    from engine.model.publish import publish

    path = publish(args.checkpoint, args.out, args.max_size, args.memory_every, args.note)
    size = path.stat().st_size / 2**20
    print(
        f"wrote {path} ({size:.1f} MiB), internal size {args.max_size}, memory every {args.memory_every}",
        file=sys.stderr,
    )
    return 0
