"""Batch jobs for render farms: a TOML job file of shots, propagated one after another with one model.

- `job`: the job file format, read and checked completely before anything loads;
- `runner`: checking the shots' files, resuming, progress lines, SIGTERM, and the exit code.

`maskprop batch JOBFILE` (engine/commands/batch.py) is the command line; docs/farm.md is the user's guide.
"""

from engine.batch.job import Job, JobShot, read_job
from engine.batch.runner import check_shots, run_job
from engine.stop_request import StopRequest

__all__ = ["Job", "JobShot", "StopRequest", "check_shots", "read_job", "run_job"]
