"""`maskprop farm-engine start DIR JOBFILE` / `stop DIR`: one engine per farm worker session, for its tasks.

A farm environment starts it when a session enters and stops it when the session exits; the session's tasks run
`maskprop batch JOBFILE --shot NAME --engine DIR` and pay no model load (docs/farm.md, `farm/openjd/`).
"""

from __future__ import annotations

import argparse

from engine.commands.job_options import add_job_arguments, read_job_of
from engine.exit_codes import OK, run_reporting_errors


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="{start,stop}")
    start = actions.add_parser("start", help="start the job's engine in the background, return once it serves")
    start.add_argument("dir", metavar="DIR", help="folder for the engine's record, keys and log (created)")
    add_job_arguments(start, "the job file whose network, device and plates it serves")
    stop = actions.add_parser("stop", help="stop the engine started in DIR (SIGTERM, then a kill)")
    stop.add_argument("dir", metavar="DIR", help="the folder given to start")


def run(args: argparse.Namespace) -> int:
    return run_reporting_errors(lambda: _start(args) if args.action == "start" else _stop(args))


def _start(args: argparse.Namespace) -> int:
    from engine.errors import EngineError
    from engine.shots.worker_engine import start_worker_engine
    from protocol.launch import EngineStartError

    job = read_job_of(args)
    try:
        engine = start_worker_engine(args.dir, job)
    except EngineStartError as error:
        raise EngineError(error.message) from None
    print(f"engine serving on {engine.endpoint} (pid {engine.pid}), recorded in {args.dir}", flush=True)
    return OK


def _stop(args: argparse.Namespace) -> int:
    from engine.shots.worker_engine import stop_worker_engine

    stopped = stop_worker_engine(args.dir)
    print(f"engine in {args.dir} {'stopped' if stopped else 'had already stopped'}", flush=True)
    return OK
