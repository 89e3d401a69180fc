"""`maskprop report JOBFILE`: a job's `report.html`, rebuilt from its shots' folders (docs/farm.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.exit_codes import OK, run_reporting_errors


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job", metavar="JOBFILE", help="TOML job file whose shots to report on")
    parser.add_argument(
        "--out", metavar="PATH", help="the HTML file to write (default: report.html in the job file's folder)"
    )


def run(args: argparse.Namespace) -> int:
    return run_reporting_errors(lambda: _report(args))


def _report(args: argparse.Namespace) -> int:
    from engine.review.batch_report import gather_rows, write_report
    from engine.shots.job_file import read_job

    job = read_job(args.job)
    path = Path(args.out) if args.out else job.source.parent / "report.html"
    print(write_report(path, gather_rows(job), f"{job.source.name}: batch report"))
    return OK
