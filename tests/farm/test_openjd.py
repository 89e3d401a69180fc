"""The Open Job Description template, checked and run for real by the `openjd` command (PyPI openjd-cli)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "farm" / "openjd" / "maskprop-batch.yaml"
SHOTS = {"sh010": 4, "sh020": 3}


def openjd(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "openjd", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=cwd)


def run_template(job_file: Path, shots: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    parameters = {"JobFile": str(job_file), "Shots": shots, "Python": sys.executable}
    return openjd("run", str(TEMPLATE), "--job-param", json.dumps(parameters), env=env, cwd=job_file.parent)


@pytest.fixture
def job_file(tmp_path, write_small_shot, parity_checkpoint) -> Path:
    """Two tiny shots and a job file that lists them, with the parity checkpoint."""
    text = f'[defaults]\ncheckpoint = "{parity_checkpoint.as_posix()}"\nmax_size = 0\n'
    for index, (name, frames) in enumerate(SHOTS.items()):
        write_small_shot(tmp_path / name, frames, seed=index)
        text += f'\n[[shot]]\nname = "{name}"\nframes = "{name}/frames"\nmask = "{name}/mask.png"\nout = "out/{name}"\n'
    path = tmp_path / "job.toml"
    path.write_text(text)
    return path


def test_the_template_passes_openjd_check(tmp_path, one_thread_env):
    done = openjd("check", str(TEMPLATE), env=one_thread_env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_openjd_runs_one_task_per_shot_in_a_session(job_file, one_thread_env):
    done = run_template(job_file, list(SHOTS), one_thread_env)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    assert "Session ended successfully" in log
    for name, frames in SHOTS.items():
        out = job_file.parent / "out" / name
        assert len(list((out / "labels").glob("*.png"))) == frames
        assert (out / "confidence.json").is_file()
        assert f"openjd_status: shot {name} frame {frames}/{frames}" in log
    assert log.count("openjd_progress: 100.0") == len(SHOTS)


@pytest.mark.slow
def test_a_bad_shot_fails_the_session_before_any_task_runs(job_file, one_thread_env):
    done = run_template(job_file, ["sh010", "sh099"], one_thread_env)
    log = done.stdout + done.stderr
    assert done.returncode != 0
    assert "error: " in log and "no shot named 'sh099'" in log
    assert not (job_file.parent / "out").exists()
