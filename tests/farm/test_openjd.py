"""The Open Job Description template, checked and run for real by the `openjd` command (PyPI openjd-cli): one
engine per session, tasks that load no model, data-flow folders, and a cancel that leaves the shot resumable."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.shots import manifest
from tests.engine.shots.test_batch import batch, files, labels
from tests.paths import REPO

TEMPLATE = REPO / "farm" / "openjd" / "maskprop-batch.yaml"
SHOTS = {"sh010": 4, "sh020": 3}


def openjd(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "openjd", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=cwd)


def template_command(job_file: Path, shots: list[str], outputs: Path | None = None) -> list[str]:
    parameters = {
        "JobFile": str(job_file),
        "InputFolder": str(job_file.parent),
        "OutputFolder": str(outputs or job_file.parent / "out"),
        "Shots": shots,
        "Python": sys.executable,
    }
    return [sys.executable, "-m", "openjd", "run", str(TEMPLATE), "--job-param", json.dumps(parameters)]


def run_template(job_file: Path, shots: list[str], env: dict[str, str], **kwargs: Path) -> str:
    """The whole log of `openjd run` (its exit code is checked by the callers)."""
    command = template_command(job_file, shots, **kwargs)
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=job_file.parent)
    return f"exit code {done.returncode}\n{done.stdout}{done.stderr}"


def engine_pids(log: str) -> list[int]:
    return [int(pid) for pid in re.findall(r"engine serving on \S+ \(pid (\d+)\)", log)]


def gone(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().split(")")[-1].split()[0] == "Z"


@pytest.fixture
def env(one_thread_env) -> dict[str, str]:
    return {**one_thread_env, "PYTHONPATH": str(REPO)}  # this checkout's engine, wherever an install points


def write_job(folder: Path, write_small_shot, checkpoint: Path, shots: dict[str, int]) -> Path:
    text = f'[defaults]\ncheckpoint = "{checkpoint.as_posix()}"\nmax_size = 0\n'
    for index, (name, frames) in enumerate(shots.items()):
        write_small_shot(folder / name, frames, seed=index)
        text += f'\n[[shot]]\nname = "{name}"\nframes = "{name}/frames"\nmask = "{name}/mask.png"\nout = "out/{name}"\n'
    path = folder / "job.toml"
    path.write_text(text)
    return path


@pytest.fixture
def job_file(tmp_path, write_small_shot, parity_checkpoint) -> Path:
    """Two tiny shots and a job file that lists them, with the parity checkpoint."""
    return write_job(tmp_path, write_small_shot, parity_checkpoint, SHOTS)


def test_the_template_passes_openjd_check(tmp_path, one_thread_env):
    done = openjd("check", str(TEMPLATE), env=one_thread_env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_a_session_loads_the_network_once_for_all_its_tasks(job_file, env):
    log = run_template(job_file, list(SHOTS), env)
    assert log.startswith("exit code 0") and "Session ended successfully" in log, log
    for name, frames in SHOTS.items():
        out = job_file.parent / "out" / name
        assert len(labels(out)) == frames
        assert manifest.recorded(out) == "complete"
        assert f"openjd_status: shot {name} frame {frames}/{frames}" in log
    assert log.count("openjd_progress: 100.0") == len(SHOTS)
    assert log.count("no model to load") == len(SHOTS) and "loading the model" not in log
    pids = engine_pids(log)
    assert len(pids) == 1 and "engine in" in log and "maskprop-engine stopped" in log
    assert gone(pids[0])


@pytest.mark.slow
def test_a_bad_shot_fails_the_session_before_any_task_runs(job_file, env):
    log = run_template(job_file, ["sh010", "sh099"], env)
    assert not log.startswith("exit code 0")
    assert "error: " in log and "no shot named 'sh099'" in log
    assert not (job_file.parent / "out").exists() and not engine_pids(log)


@pytest.mark.slow
def test_an_output_outside_the_output_folder_fails_the_session_before_any_task(job_file, env, tmp_path):
    log = run_template(job_file, list(SHOTS), env, outputs=tmp_path / "elsewhere")
    assert not log.startswith("exit code 0")
    assert "shot 'sh010': its output folder" in log and "is outside the job's output folder" in log
    assert not list(job_file.parent.rglob("labels/*.png")) and not engine_pids(log)


@pytest.mark.slow
def test_a_cancelled_session_leaves_its_shot_resumable(tmp_path, write_small_shot, parity_checkpoint, env):
    frames = 150
    job = write_job(tmp_path, write_small_shot, parity_checkpoint, {"long": frames})
    out = tmp_path / "out" / "long"
    command = template_command(job, ["long"])
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path)
    deadline = time.monotonic() + 240
    while len(labels(out)) < 10:
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()[0]
        time.sleep(0.02)
    os.kill(run.pid, signal.SIGINT)  # openjd cancels the task: SIGTERM, the grace period, then a kill
    log = run.communicate(timeout=240)[0]
    written = len(labels(out))
    assert 10 <= written < frames, log
    assert manifest.recorded(out) == "started" and manifest.verdict(out, _identity(out)).state == "resume"
    assert all(gone(pid) for pid in engine_pids(log)), log
    rerun = batch(str(job), env=env)
    assert rerun.returncode == 0, rerun.stderr
    assert len(labels(out)) == frames and manifest.recorded(out) == "complete"
    again = write_job(tmp_path / "uninterrupted", write_small_shot, parity_checkpoint, {"long": frames})
    assert batch(str(again), env=env).returncode == 0
    whole = files(again.parent / "out" / "long")
    assert {k: v for k, v in files(out).items() if k.startswith("labels/")} == {
        k: v for k, v in whole.items() if k.startswith("labels/")
    }


def _identity(out: Path) -> dict:
    return json.loads((out / manifest.MANIFEST).read_text())["identity"]
