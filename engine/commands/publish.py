"""`maskprop publish`: a trained checkpoint as a network to ship (weights only, fp16, its internal size)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from engine.commands.propagation_options import non_negative, positive
from engine.exit_codes import run_reporting_errors

if TYPE_CHECKING:
    from engine.model.calibration import ConfidenceCalibration


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
    parser.add_argument(
        "--calibrate",
        type=Path,
        metavar="PAIRS",
        help="fit how the network's confidence maps to J from the confidence-j.csv that `eval --checkpoint "
        "CHECKPOINT` wrote (on data other than the figures you report), so that confidence estimates J "
        "(default: confidence reported raw)",
    )
    parser.add_argument("--note", default="", help="a line of provenance stored in the file (default: none)")


def run(args: argparse.Namespace) -> int:
    return run_reporting_errors(lambda: _publish(args))


def _publish(args: argparse.Namespace) -> int:
    from engine.model.publish import publish

    calibration = _calibration(args.calibrate) if args.calibrate else None
    path = publish(args.checkpoint, args.out, args.max_size, args.memory_every, args.note, calibration)
    size = path.stat().st_size / 2**20
    print(
        f"wrote {path} ({size:.1f} MiB), internal size {args.max_size}, memory every {args.memory_every}",
        file=sys.stderr,
    )
    return 0


def _calibration(pairs: Path) -> ConfidenceCalibration:
    from engine.evaluation.confidence_rank import read_pairs
    from engine.io import InputError
    from engine.model.calibration import fit_calibration

    confidence, j = read_pairs(pairs)
    try:
        calibration = fit_calibration(confidence, j)
    except ValueError as error:
        raise InputError(f"{pairs}: {error}", pairs) from None
    knots = ", ".join(f"{r:.2f}->{e:.2f}" for r, e in zip(calibration.raw, calibration.estimate, strict=True))
    print(f"confidence calibrated on {len(j)} object-frames: {knots}", file=sys.stderr)
    return calibration
