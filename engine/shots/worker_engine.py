"""One engine per farm worker session, started when the session enters and stopped when it exits.

Each task of a farm job is a process, and starting torch and reading a network costs seconds per process. A
session runs many tasks on one worker, so its environment starts `engine serve` once (`maskprop farm-engine
start DIR JOBFILE`) and every task sends its shots to it (`maskprop batch JOBFILE --engine DIR`), paying no
model load of its own. The engine listens on a free loopback port with a CurveZMQ key pair made for it in DIR,
and accepts only the client key made beside it, so other users of the worker cannot use it; it may read only
the folders of the job's plates. `DIR/engine.json` says where it listens and what it runs; its log is
`DIR/engine.log`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.checkpoint_choice import resolve_checkpoint
from engine.io import InputError, write_text_atomic
from engine.shots.job_file import JobFile
from protocol.curve import CurveKeys
from protocol.launch import STOP_TIMEOUT, EngineProcess, EngineStartError

INFO = "engine.json"
SERVER_KEY = "engine"  # DIR/engine.key and .key_secret
CLIENT_KEY = "task"  # DIR/clients/task.key (which the engine trusts) and .key_secret
# An engine whose session ended without stopping it (a worker agent that crashed) stops itself after this long
# with no task: longer than any wait between two tasks of a session.
UNUSED_EXIT = 3600.0


@dataclass(frozen=True)
class WorkerEngine:
    """A started engine, as `engine.json` records it."""

    folder: str
    endpoint: str
    pid: int
    checkpoint: str  # the file it loaded: a job naming another one cannot use it
    device: str
    precision: str  # as asked ("auto" resolves in the engine)
    strict_precision: bool

    def keys(self) -> CurveKeys:
        folder = Path(self.folder)
        return CurveKeys.from_files(folder / f"{SERVER_KEY}.key", folder / "clients" / f"{CLIENT_KEY}.key_secret")


def start_worker_engine(folder: str | os.PathLike[str], job: JobFile, python: str = sys.executable) -> WorkerEngine:
    """Start the job's engine in the background, wait until it serves, record it in `folder`; it outlives this
    process. Raises `InputError` when the job's shots cannot share one engine, `EngineStartError` when it fails."""
    folder = Path(folder).absolute()
    if (folder / INFO).exists():
        raise InputError(f"{folder} already holds an engine ({INFO}); stop it first (maskprop farm-engine stop)")
    precision, strict = _one_precision(job)
    checkpoint = str(resolve_checkpoint(job.checkpoint))
    _make_keys(folder, python)
    args = ["--bind", "tcp://127.0.0.1:0", "--checkpoint", checkpoint, "--device", job.device]
    args += ["--exit-when-unused", str(UNUSED_EXIT)]
    args += ["--precision", precision, *(["--strict-precision"] if strict else [])]
    args += ["--curve-secret-key", str(folder / f"{SERVER_KEY}.key_secret"), "--curve-clients", str(folder / "clients")]
    args += [arg for root in plate_folders(job) for arg in ("--allow-root", root)]
    args += ["--ocio-config", config] if (config := _ocio_config(job)) else []
    process = EngineProcess(python, args, folder / "engine.log", detached=True)
    endpoint = process.wait()
    engine = WorkerEngine(str(folder), endpoint, process.process.pid, checkpoint, job.device, precision, strict)
    write_text_atomic(folder / INFO, json.dumps(asdict(engine), indent=2) + "\n")
    return engine


def read_worker_engine(folder: str | os.PathLike[str]) -> WorkerEngine:
    """The engine recorded in `folder`; `InputError` when there is none or the record is damaged."""
    path = Path(folder) / INFO
    try:
        return WorkerEngine(**json.loads(path.read_text()))
    except FileNotFoundError:
        message = f"no engine was started in {folder} ({INFO} is missing): maskprop farm-engine start"
        raise InputError(message, path) from None
    except (ValueError, TypeError) as error:
        raise InputError(f"{path} is not an engine record: {error}", path) from None


def stop_worker_engine(folder: str | os.PathLike[str], timeout: float = STOP_TIMEOUT) -> bool:
    """SIGTERM the engine recorded in `folder` (it finishes its step), SIGKILL after `timeout`; forget it.
    Returns False when it had already gone."""
    engine = read_worker_engine(folder)
    alive = _alive(engine.pid)
    if alive:
        os.kill(engine.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(engine.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(engine.pid):
            os.kill(engine.pid, signal.SIGKILL)
    (Path(folder) / INFO).unlink()
    return alive


def plate_folders(job: JobFile) -> list[str]:
    """The folders the engine must read: each shot's plate folder (a pattern's or a movie's parent)."""
    folders = set()
    for shot in job.shots:
        frames = Path(shot.spec.frames)
        folders.add(str(frames if frames.is_dir() else frames.parent))
    return sorted(folders)


def _one_precision(job: JobFile) -> tuple[str, bool]:
    asked = {(shot.options["precision"], shot.options["strict_precision"]) for shot in job.shots}
    if len(asked) > 1:
        listed = ", ".join(f"{precision}{' (strict)' if strict else ''}" for precision, strict in sorted(asked))
        raise InputError(
            f"{job.source}: the shots ask for different precisions ({listed}), and one engine computes in one: "
            "give every shot the same precision, or run the tasks without a shared engine",
            job.source,
        )
    return asked.pop()


def _ocio_config(job: JobFile) -> str:
    configs = {shot.spec.view.config for shot in job.shots} - {""}
    return configs.pop() if configs else ""  # the job file has one ocio_config, for every shot


def _make_keys(folder: Path, python: str) -> None:
    """The engine's key pair and the tasks' key, by `maskprop keygen` (which never overwrites a key)."""
    for where, name in ((folder, SERVER_KEY), (folder / "clients", CLIENT_KEY)):
        done = subprocess.run(
            [python, "-m", "engine", "keygen", str(where), "--name", name], capture_output=True, text=True
        )
        if done.returncode != 0:
            raise EngineStartError(f"could not make the engine's keys in {where}: {done.stderr.strip()}")


def _alive(pid: int) -> bool:
    """Whether `pid` runs; a zombie (exited, not yet reaped by whoever adopted it) has stopped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True  # no /proc (macOS): signal 0 succeeded
