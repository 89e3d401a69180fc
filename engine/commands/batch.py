"""`maskprop batch JOBFILE`: a job file's shots, one after another with one model, for render farms.

docs/farm.md describes the job file, resuming, the progress lines, signals and exit codes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.cli import shows_progress
from engine.commands.job_options import add_job_arguments, read_job_of
from engine.exit_codes import OK, run_reporting_errors


def configure(parser: argparse.ArgumentParser) -> None:
    add_job_arguments(parser, "TOML job file: a [defaults] table and one [[shot]] per shot")
    parser.add_argument(
        "--shot",
        action="append",
        metavar="NAME[,NAME...]",
        help="run only these shots (repeat, or separate names with commas); default: every shot",
    )
    parser.add_argument(
        "--engine",
        metavar="DIR",
        default="",
        help="send the shots to the engine started in DIR (maskprop farm-engine start) (default: none, the network "
        "loads in this process)",
    )
    parser.add_argument(
        "--inputs",
        metavar="DIR",
        default="",
        help="refuse the job unless every plate and mask is inside DIR, the input folder a farm moves (default: none)",
    )
    parser.add_argument(
        "--outputs",
        metavar="DIR",
        default="",
        help="refuse the job unless every shot's output folder is inside DIR, the output folder a farm brings back "
        "(default: none)",
    )
    parser.add_argument(
        "--no-review",
        action="store_true",
        help="write no review pictures (contact sheet, confidence plot, preview movie) into each shot's review/",
    )
    parser.add_argument(
        "--report",
        metavar="PATH",
        help="where to write the job's report.html, rebuilt from every shot's folder at the end of the run "
        "(default: report.html beside the job file; '' writes none)",
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="stderr's log and progress lines: text, or one JSON object per line for log collectors "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="check the job file and the selected shots' files (creating output folders), propagate nothing",
    )


def run(args: argparse.Namespace) -> int:
    return run_reporting_errors(lambda: _batch(args))


def _batch(args: argparse.Namespace) -> int:
    from engine.shots.batch import BatchOptions, check_shots, run_job
    from engine.shots.data_flow import check_data_flow
    from engine.shots.stop_request import StopRequest

    if args.log_format == "json":
        _log_json(args)
    stop = StopRequest()
    stop.install()  # first: a farm's SIGTERM from here on finishes the current frame instead of killing
    job = read_job_of(args)
    shots = job.select(name.strip() for value in args.shot or () for name in value.split(",") if name.strip())
    check_data_flow(shots, args.inputs, args.outputs)
    if not args.check:
        options = BatchOptions(shows_progress(args), args.engine, not args.no_review, _report_path(args, job.source))
        return run_job(job, shots, stop, options)
    for plan in check_shots(job, shots):
        print(f"{plan.shot.spec.name}: {plan.frames} frames, {'finished' if plan.finished else 'to propagate'}")
    return OK


def _report_path(args: argparse.Namespace, job_file: Path) -> Path | None:
    if args.report is None:
        return job_file.parent / "report.html"
    return Path(args.report) if args.report else None


def _log_json(args: argparse.Namespace) -> None:
    from engine.logs import configure_logging
    from engine.progress import use_json_events

    configure_logging("json", args.log_level)
    use_json_events()
