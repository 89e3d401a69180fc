"""The `--precision` and `--strict-precision` flags of every command that runs the network (see
`engine.compute.precision.choose_for_device` for how the choice is made and logged)."""

from __future__ import annotations

import argparse

from engine.choices import DEFAULT_PRECISION, REQUESTS


def add_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup, default: str = DEFAULT_PRECISION) -> None:
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
