"""The `--precision` and `--strict-precision` flags of every command that runs the network, and the line it
prints once the device is known (see `engine.precision` for how the choice is made)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, TextIO

from engine.choices import REQUESTS

if TYPE_CHECKING:
    import torch

    from engine.precision import PrecisionChoice

DEFAULT = "auto"


def add_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup, default: str = DEFAULT) -> None:
    parser.add_argument(
        "--precision",
        choices=REQUESTS,
        default=default,
        help="auto: bf16 where the device has bf16 matrix units, else fp32; fp16: CUDA only (default %(default)s)",
    )
    parser.add_argument(
        "--strict-precision",
        action="store_true",
        help="refuse to run, rather than compute in fp32, when bf16 is asked for on a device without bf16 units",
    )


def choose(requested: str, strict: bool, device: torch.device, stream: TextIO | None = None) -> PrecisionChoice:
    """Resolve the precision for `device` and say what was chosen and why on `stream` (stderr)."""
    from engine.precision import resolve_precision

    choice = resolve_precision(requested, device, strict)
    print(choice.describe(), file=stream or sys.stderr, flush=True)
    return choice
