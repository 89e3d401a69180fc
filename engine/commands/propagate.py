"""`maskprop propagate`: one shot from a terminal: frames and keyframe masks in, mattes and confidence out."""

from __future__ import annotations

import argparse
import logging

from engine.cli import shows_progress
from engine.commands import propagation_options, view_options
from engine.exit_codes import run_reporting_errors

log = logging.getLogger("engine.propagate")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--frames", required=True, help="image folder, printf or #### pattern (plate.%%04d.exr), or a video file"
    )
    parser.add_argument(
        "--mask",
        action="append",
        required=True,
        help="keyframe mask PNG: DAVIS palette, or grey 0/255 for one object; repeat for more keyframes",
    )
    parser.add_argument(
        "--mask-frame",
        action="append",
        type=propagation_options.non_negative,
        help="frame index (0 = first frame of --frames) of each --mask, in order (default 0)",
    )
    parser.add_argument(
        "--exr-layer",
        default="",
        metavar="LAYER",
        help="layer of multi-layer EXR plates to read, e.g. ViewLayer.Denoised or Denoised (default: the image, "
        "else the Combined pass)",
    )
    parser.add_argument("--out", required=True, help="output folder (labels/, mattes/, confidence.csv/.json)")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the results of another run in --out whole (default: refuse, so no two runs ever mix)",
    )
    parser.add_argument("--checkpoint", help=propagation_options.CHECKPOINT_HELP)
    parser.add_argument(
        "--first", type=propagation_options.non_negative, help="first frame index to fill (default: the first frame)"
    )
    parser.add_argument(
        "--last", type=propagation_options.non_negative, help="last frame index to fill (default: the last frame)"
    )
    propagation_options.add_arguments(parser)
    view_options.add_view_arguments(parser)


def run(args: argparse.Namespace) -> int:
    return run_reporting_errors(lambda: _propagate(args))


def _propagate(args: argparse.Namespace) -> int:
    from engine.checkpoint_choice import resolve_checkpoint
    from engine.compute.device import select_device
    from engine.compute.precision import choose_for_device
    from engine.io.view import DisplayView
    from engine.model.loader import load_network
    from engine.propagation.settings import DEFAULTS, settings_from
    from engine.shots.shot import ShotSpec, prepare_shot, propagate_shot

    mask_frames = args.mask_frame or [0] * len(args.mask)
    if len(mask_frames) != len(args.mask):
        raise ValueError(f"{len(args.mask)} --mask given but {len(mask_frames)} --mask-frame: give one per mask")
    spec = ShotSpec(
        frames=args.frames,
        masks=dict(zip(mask_frames, args.mask, strict=True)),
        out=args.out,
        first=args.first,
        last=args.last,
        direction=args.direction,
        matte_format=args.matte_format,
        view=DisplayView.from_options(vars(args), args.ocio_config),
        exr_layer=args.exr_layer,
    )
    options = {key: vars(args)[key] for key in DEFAULTS}
    request = {**options, "checkpoint": str(resolve_checkpoint(args.checkpoint))}
    shot = prepare_shot(spec, request, "replace" if args.overwrite else "refuse")
    precision = choose_for_device(args.precision, args.strict_precision, select_device(args.device))
    model = load_network(args.checkpoint, args.device, args.deterministic)
    settings = settings_from(vars(args), precision.precision)
    propagation_options.note_adaptation(args)
    summary = propagate_shot(model, shot, settings, show_progress=shows_progress(args))
    log.info(summary.describe())
    return 0
