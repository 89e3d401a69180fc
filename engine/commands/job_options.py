"""The options of the commands that read a job file (`batch`, `farm-engine start`): the file, the command line's
overrides of its process settings, and the farm's path mapping rules, declared and applied the same way by both,
so a farm session's engine and its tasks read one job identically."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from engine.commands import view_options

if TYPE_CHECKING:
    from engine.shots.job_file import JobFile


def add_job_arguments(parser: argparse.ArgumentParser, job_help: str) -> None:
    parser.add_argument("job", metavar="JOBFILE", help=job_help)
    parser.add_argument("--checkpoint", help="AFB-URR checkpoint (.pth) (default: the job file's)")
    parser.add_argument("--device", help="auto, cpu, cuda or cuda:N (default: the job file's, else auto)")
    view_options.add_config_argument(parser)
    parser.add_argument(
        "--path-mapping-rules",
        metavar="FILE",
        help="OpenJD path mapping rules (JSON, e.g. {{Session.PathMappingRulesFile}}) applied to every path of the "
        "job file and to --checkpoint (default: none, paths as written)",
    )


def read_job_of(args: argparse.Namespace) -> JobFile:
    """The job file of `args`, with its paths mapped and the command line's checkpoint and device over its own."""
    import dataclasses

    from engine.shots.job_file import read_job

    job = read_job(args.job, args.ocio_config, checkpoint=args.checkpoint, path_mapping_rules=args.path_mapping_rules)
    return dataclasses.replace(job, device=args.device or job.device)
