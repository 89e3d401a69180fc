"""`maskprop eval`: J and F with the official DAVIS semantics, on predictions or by propagating first."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from engine.cli import shows_progress
from engine.commands import propagation_options
from engine.exit_codes import run_reporting_errors

log = logging.getLogger("engine.eval")


PAIRS_FILE = "confidence-j.csv"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gt", required=True, type=Path, help="DAVIS folder (Annotations/, JPEGImages/)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--pred",
        type=Path,
        help="results folder: one folder of label PNGs per sequence (default: propagate first, into --out)",
    )
    source.add_argument(
        "--checkpoint",
        help="network to propagate every sequence with, from its first annotation (default, without --pred: "
        "as propagate's, $MASKPROP_CHECKPOINT, the config file, else the shipped network)",
    )
    parser.add_argument("--out", type=Path, help="where CSVs (and propagated results) go (default: --pred)")
    parser.add_argument("--sequences", help="comma-separated sequence names (default: all)")
    propagation_options.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    return run_reporting_errors(lambda: _evaluate(args))


def _evaluate(args: argparse.Namespace) -> int:
    from engine.evaluation import davis

    names = davis.sequences(args.gt, args.sequences.split(",") if args.sequences else None)
    out = args.out or args.pred
    if out is None:
        raise ValueError("--out is required without --pred (the propagated results are written there)")
    pred = args.pred or _propagate_all(args, names, out)
    results = davis.evaluate_folders(args.gt, pred, names)
    per_sequence, overall = davis.write_tables(results, out)
    _print_table(results)
    _confidence_rank(args.gt, pred, names, Path(out))
    log.info("wrote %s and %s", per_sequence, overall)
    return 0


def _confidence_rank(gt: Path, pred: Path, names: list[str], out: Path) -> None:
    """Where every sequence has its confidence table (results of `propagate`), how well it ranks the frames;
    the pairs it ranked go to `confidence-j.csv`, which `publish --calibrate` fits a calibration to."""
    import numpy as np

    from engine.evaluation.confidence_rank import scored_frames, spearman, write_pairs

    if not all((pred / name / "confidence.csv").is_file() for name in names):
        return
    scored = scored_frames(gt, pred, names)
    write_pairs(out / PAIRS_FILE, scored)
    rho = spearman(np.array([s.confidence for s in scored]), np.array([s.j for s in scored]))
    shown = "undefined" if rho is None else f"{rho:.4f}"
    print(f"confidence vs J, Spearman rank correlation: {shown} over {len(scored)} object-frames")


def _propagate_all(args: argparse.Namespace, names: list[str], out: Path) -> Path:
    """Propagate each sequence from its first annotated frame, as the semi-supervised benchmark does."""
    from engine.compute.device import select_device
    from engine.compute.precision import choose_for_device
    from engine.evaluation.benchmark import prepare_sequences
    from engine.model.loader import load_network
    from engine.propagation.settings import settings_from
    from engine.shots.shot import propagate_shot

    shots = prepare_sequences(args.gt, names, out)
    precision = choose_for_device(args.precision, args.strict_precision, select_device(args.device))
    model = load_network(args.checkpoint, args.device, args.deterministic)
    settings = settings_from(vars(args), precision.precision)
    propagation_options.note_adaptation(args)
    for shot in shots:
        propagate_shot(model, shot, settings, show_progress=shows_progress(args))
    return out


def _print_table(results: dict) -> None:
    from engine.evaluation.metrics import summarise

    print(f"{'sequence':<24}{'object':>7}{'J&F':>8}{'J':>8}{'F':>8}")
    for name, objects in results.items():
        for obj, stats in objects.items():
            jf = (stats["J_mean"] + stats["F_mean"]) / 2
            print(f"{name:<24}{obj:>7}{jf:>8.4f}{stats['J_mean']:>8.4f}{stats['F_mean']:>8.4f}")
    overall = summarise(results)
    print(f"{'overall':<24}{'':>7}{overall['JF_mean']:>8.4f}{overall['J_mean']:>8.4f}{overall['F_mean']:>8.4f}")
