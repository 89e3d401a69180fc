"""`maskprop train`: train or fine-tune a network on procedural clips, DAVIS-format videos or still images.

docs/training.md walks through a studio's fine-tuning, from folder layout to evaluation. The run folder
holds `checkpoints/` (`last.pth` and the newest step files), `loss.csv`, `validation.csv` and, with
`--val-davis`, J&F tables per validation. `--resume RUN` continues an interrupted run exactly.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from dataclasses import MISSING
from pathlib import Path

from engine.choices import BACKGROUNDS, LEARN, MODEL_NAMES
from engine.commands import precision_option
from engine.commands.propagation_options import non_negative, positive
from engine.exit_codes import OK, run_reporting_errors
from engine.propagation.settings import DEFAULTS as PROPAGATION_DEFAULTS
from engine.propagation.settings import READERS
from engine.train.options import TrainOptions

# Each flag's default is the training options' own (one place for each); the options load no torch.
DEFAULTS = {field.name: field.default for field in dataclasses.fields(TrainOptions) if field.default is not MISSING}


log = logging.getLogger("engine.train")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", type=Path, metavar="RUN", help="run folder for checkpoints and logs")
    parser.add_argument("--resume", action="store_true", help="continue the run in RUN from its last checkpoint")
    data = parser.add_argument_group("data")
    data.add_argument(
        "--data",
        action="append",
        metavar="SOURCE[@WEIGHT]",
        help="'procedural', a DAVIS folder (JPEGImages/, Annotations/), a stills folder (images/, masks/), "
        "stills:DAVIS (each annotated frame as a still) or composite:DAVIS (objects of its videos moved over "
        "others); repeat to mix, weights default to 1 (default: procedural)",
    )
    data.add_argument(
        "--frames", type=_at_least_two, default=DEFAULTS["frames"], help="frames per clip (default %(default)s)"
    )
    data.add_argument(
        "--size",
        type=size_argument,
        default=DEFAULTS["size"],
        help=f"HxW of clips, multiples of 16 (default {_size_text()})",
    )
    data.add_argument(
        "--max-objects", type=positive, default=DEFAULTS["max_objects"], help="objects per clip (default %(default)s)"
    )
    data.add_argument("--max-skip", type=positive, help="video frames at most N apart, in order (default: anywhere)")
    data.add_argument(
        "--hide-ramp",
        type=non_negative,
        default=DEFAULTS["hide_ramp"],
        help="steps to ramp Hide-and-Seek up (default %(default)s: off)",
    )
    data.add_argument(
        "--workers",
        type=non_negative,
        default=DEFAULTS["workers"],
        help="dataloader worker processes (default %(default)s)",
    )
    model = parser.add_argument_group("model")
    model.add_argument(
        "--model",
        default=DEFAULTS["model"],
        choices=MODEL_NAMES,
        help="named network configuration to train (default %(default)s); lite* ones start from ImageNet weights "
        "(the train extra)",
    )
    model.add_argument(
        "--init", type=Path, help="checkpoint to fine-tune from, its configuration kept (default: train from scratch)"
    )
    model.add_argument(
        "--background",
        choices=BACKGROUNDS,
        help="explicit: memorise and decode the background as an object, as the reference; implicit: the objects "
        "alone, faster (default: the configuration's, or the --init checkpoint's)",
    )
    model.add_argument(
        "--skip-blocks",
        action=argparse.BooleanOptionalAction,
        help="--no-skip-blocks drops the residual blocks that end the decoder's skip paths, decoding a third "
        "faster; fine-tune from --init to recover (default: the configuration's, or the --init checkpoint's)",
    )
    model.add_argument(
        "--learn",
        choices=LEARN,
        default=DEFAULTS["learn"],
        help="which parameters learn: all, or only the decoder (and the memory encoder), the rest kept as --init "
        "has them (default %(default)s)",
    )
    model.add_argument(
        "--reader",
        choices=tuple(READERS),
        default=PROPAGATION_DEFAULTS["reader"],
        help="memory reader to train with (default %(default)s)",
    )
    model.add_argument("--recurrent", action="store_true", help="memorise each frame's prediction, as inference does")
    schedule = parser.add_argument_group("schedule")
    schedule.add_argument("--steps", type=positive, help=f"optimiser steps in total (default {DEFAULTS['steps']})")
    schedule.add_argument(
        "--clips-per-step",
        type=positive,
        default=DEFAULTS["clips_per_step"],
        help="clips per optimiser step (default %(default)s)",
    )
    schedule.add_argument("--lr", type=float, default=DEFAULTS["lr"], help="AdamW learning rate (default %(default)s)")
    schedule.add_argument(
        "--lr-step",
        type=positive,
        default=DEFAULTS["lr_step"],
        help="halve the rate every N steps (default %(default)s)",
    )
    schedule.add_argument(
        "--seed", type=int, default=DEFAULTS["seed"], help="seed of clip sampling and weights (default %(default)s)"
    )
    schedule.add_argument(
        "--device", default=DEFAULTS["device"], help="auto, cpu, cuda or cuda:N (default %(default)s)"
    )
    precision_option.add_arguments(schedule)
    output = parser.add_argument_group("checkpoints and validation")
    output.add_argument(
        "--save-every",
        type=positive,
        default=DEFAULTS["save_every"],
        help="steps between checkpoints (default %(default)s)",
    )
    output.add_argument(
        "--keep",
        type=non_negative,
        default=DEFAULTS["keep"],
        help="step checkpoints kept besides last.pth (default %(default)s)",
    )
    output.add_argument(
        "--val-every",
        type=positive,
        default=DEFAULTS["val_every"],
        help="steps between validations (default %(default)s)",
    )
    output.add_argument(
        "--val-clips",
        type=non_negative,
        default=DEFAULTS["val_clips"],
        help="held-out clips of the validation loss (default %(default)s)",
    )
    output.add_argument(
        "--val-davis", type=Path, help="DAVIS folder scored with J&F at each validation (default: none, no J&F)"
    )
    output.add_argument(
        "--val-max-size",
        type=non_negative,
        default=DEFAULTS["val_max_size"],
        help="internal size for J&F runs (default %(default)s)",
    )
    output.add_argument(
        "--log-every",
        type=positive,
        default=DEFAULTS["log_every"],
        help="steps between progress lines (default %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    return run_reporting_errors(lambda: _train(args))


def _train(args: argparse.Namespace) -> int:
    from engine.shots.stop_request import StopRequest
    from engine.train.trainer import resume_options, train

    stop = StopRequest()
    stop.install()
    options = resume_options(args.out, args.steps) if args.resume else _options(args)
    result = train(options, resume=args.resume, should_stop=stop)
    log.info("trained %d steps; checkpoint %s", result.step, result.checkpoint)
    return stop.exit_code if stop() else OK


def _options(args: argparse.Namespace) -> TrainOptions:
    from engine.model.config import named_config
    from engine.train.options import DataSpec

    if (args.out / "checkpoints").is_dir():
        raise ValueError(f"{args.out} already holds a run: add --resume to continue it, or choose another folder")
    named_config(args.model)  # a wrong name answered now, not after the data is read
    return TrainOptions(
        out=args.out,
        data=tuple(DataSpec.parse(text) for text in args.data or ["procedural"]),
        model=args.model,
        init=args.init,
        background=args.background,
        skip_blocks=args.skip_blocks,
        learn=args.learn,
        steps=args.steps or DEFAULTS["steps"],
        clips_per_step=args.clips_per_step,
        frames=args.frames,
        size=args.size,
        max_objects=args.max_objects,
        max_skip=args.max_skip,
        lr=args.lr,
        lr_step=args.lr_step,
        recurrent=args.recurrent,
        reader=READERS[args.reader],
        hide_ramp=args.hide_ramp,
        seed=args.seed,
        workers=args.workers,
        device=args.device,
        precision=args.precision,
        strict_precision=args.strict_precision,
        save_every=args.save_every,
        keep=args.keep,
        val_every=args.val_every,
        val_clips=args.val_clips,
        val_davis=args.val_davis,
        val_max_size=args.val_max_size,
        log_every=args.log_every,
    )


def _size_text() -> str:
    height, width = DEFAULTS["size"]
    return f"{height}x{width}"


def size_argument(text: str) -> tuple[int, int]:
    height, _, width = text.lower().partition("x")
    try:
        return int(height), int(width or height)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not HxW, e.g. 384x384") from None


def _at_least_two(text: str) -> int:
    value = positive(text)
    if value < 2:
        raise argparse.ArgumentTypeError("a clip needs at least 2 frames: one to memorise, one to segment")
    return value
