"""The propagation options shared by `propagate`, `eval` and `bench`, as flags (names and defaults:
`engine.propagation.settings`)."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from engine.choices import ADAPT_STEPS, MATTE_FORMATS
from engine.commands import precision_option
from engine.propagation.plan import DIRECTIONS
from engine.propagation.settings import DEFAULTS, READERS

log = logging.getLogger(__name__)

# Where a command that runs the network finds it without --checkpoint: `engine.checkpoint_choice.resolve_checkpoint`.
CHECKPOINT_HELP = (
    "AFB-URR checkpoint (.pth) (default: $MASKPROP_CHECKPOINT, else the config file's, else the shipped network)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("propagation")
    group.add_argument(
        "--direction",
        choices=DIRECTIONS,
        default=DEFAULTS["direction"],
        help="fill each stretch between keyframes from the keyframe before it, after it, or both, each frame then "
        "taking the more confident result (default %(default)s)",
    )
    group.add_argument(
        "--reader",
        choices=tuple(READERS),
        default=DEFAULTS["reader"],
        help="memory reader: global (AFB-URR's attention over the whole bank), kernel (KMN: each entry only near "
        "where it matches best) or spatial (kernel, matched near the previous mask) (default %(default)s)",
    )
    group.add_argument(
        "--max-size",
        type=non_negative,
        default=DEFAULTS["max_size"],
        help="cap on the shorter side of the internal resolution; 0 keeps the plate's size (default: the size "
        "the network was trained at, which its checkpoint stores; 480 for the published AFB-URR ones)",
    )
    group.add_argument(
        "--memory-every",
        type=positive,
        default=DEFAULTS["memory_every"],
        help="memorise every N-th frame of a pass (default: the network's own, which its checkpoint stores; "
        "1, every frame, for the published AFB-URR ones)",
    )
    group.add_argument(
        "--budget",
        type=positive,
        default=DEFAULTS["budget"],
        help="feature-bank entries over all objects, background included (default %(default)s)",
    )
    group.add_argument(
        "--update-rate",
        type=fraction,
        default=DEFAULTS["update_rate"],
        help="weight of a new feature when it merges into a bank entry, 0 to 1 (default %(default)s; "
        "0.05 suits long videos)",
    )
    group.add_argument(
        "--merge-threshold",
        type=float,
        default=DEFAULTS["merge_threshold"],
        help="cosine similarity above which a new feature merges into a bank entry instead of adding one "
        "(default %(default)s)",
    )
    group.add_argument(
        "--no-protect-keyframes",
        dest="protect_keyframes",
        action="store_false",
        help="let the bank evict features of the drawn masks (the reference's behaviour; default: never evicted)",
    )
    group.add_argument(
        "--adapt",
        type=non_negative,
        nargs="?",
        const=ADAPT_STEPS,
        metavar="STEPS",
        help=f"learn the shot first: fine-tune a copy of the network on the keyframes for STEPS steps (about half "
        f"a second each for a 480-line plate on a 2-core CPU; {ADAPT_STEPS} when no number is given), then "
        "propagate with it (default: no adaptation)",
    )
    precision_option.add_arguments(group, DEFAULTS["precision"])
    group.add_argument(
        "--matte-format",
        choices=tuple(MATTE_FORMATS),
        default=DEFAULTS["matte_format"],
        help="soft mattes as 8- or 16-bit PNG, or half-float EXR (default %(default)s)",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default %(default)s)")
    parser.add_argument("--deterministic", action="store_true", help="bit-reproducible kernels only")


def note_adaptation(args: argparse.Namespace) -> None:
    """`--adapt 0` asks for no step of adaptation: say that the base network propagates, rather than leave the
    artist to wonder why the shot was not learnt."""
    if args.adapt == 0:
        log.warning("--adapt 0: no adaptation steps, so the shot propagates with the network as it is")


def non_negative(text: str) -> int:
    return bounded(int, text, lambda v: v >= 0, "a whole number, 0 or more")


def positive(text: str) -> int:
    return bounded(int, text, lambda v: v > 0, "a whole number above 0")


def fraction(text: str) -> float:
    return bounded(float, text, lambda v: 0 <= v <= 1, "a number from 0 to 1")


def bounded(kind: type, text: str, ok: Any, expected: str) -> Any:
    """`text` as a `kind`, or the argparse error that says what was `expected` when it is not one or not `ok`."""
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {expected}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not {expected}")
    return value
