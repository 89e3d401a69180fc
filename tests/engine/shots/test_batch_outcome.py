"""What a batch leaves when shots fail: the other shots still run, each failure is named and recorded in its
folder, the review pictures and `report.html` are written, and the exit code says the job did not finish."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import shutil
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from engine.shots import manifest
from tests.engine.shots.test_batch import batch, job_text, labels

FRAMES = 5


@pytest.fixture
def job(tmp_path, write_small_shot, parity_checkpoint) -> Path:
    """Two small shots, `bad` and `good`, and their job file."""
    shots = {}
    for seed, name in enumerate(("bad", "good")):
        shots[name] = tmp_path / name
        write_small_shot(shots[name], FRAMES, seed=seed)
    path = tmp_path / "job.toml"
    path.write_text(job_text(parity_checkpoint, shots))
    return path


def out(job: Path, name: str) -> Path:
    return job.parent / "out" / name


def test_a_failing_shot_is_named_recorded_and_the_next_shot_still_runs(job, one_thread_env):
    (job.parent / "bad" / "frames" / "00003.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)  # decodes as nothing
    done = batch(str(job), env=one_thread_env)
    assert done.returncode == 2
    assert "error: shot 'bad': " in done.stderr and "00003.png" in done.stderr
    assert "openjd_status: 1 of 2 shots failed: bad" in done.stdout
    assert manifest.recorded(out(job, "good")) == "complete"
    assert manifest.recorded(out(job, "bad")) == "started"
    assert 0 < len(labels(out(job, "bad"))) < FRAMES
    assert "00003.png" in manifest.recorded_failure(out(job, "bad"))
    report = (job.parent / "report.html").read_text()
    assert 'data-shot="bad"' in report and "00003.png" in report


def test_a_review_that_cannot_be_written_fails_its_shot_and_keeps_its_mattes(job, one_thread_env):
    assert batch(str(job), env=one_thread_env).returncode == 0
    review = out(job, "good") / "review"
    assert sorted(path.name for path in review.iterdir()) == [
        "confidence.png",
        "contact_sheet.png",
        "preview.mp4",
        "worst.png",
    ]
    shutil.rmtree(review)
    review.write_text("not a folder")  # the review of a finished shot is written again when it is missing
    done = batch(str(job), env=one_thread_env)
    assert done.returncode == 2
    assert "error: shot 'good': " in done.stderr and "shots failed: good" in done.stdout
    assert manifest.recorded(out(job, "good")) == "complete" and "already finished" in done.stdout
    review.unlink()
    again = batch(str(job), env=one_thread_env)
    assert again.returncode == 0, again.stderr
    assert (review / "worst.png").is_file() and manifest.recorded_failure(out(job, "good")) is None


def test_without_the_review_extra_the_shots_are_written_and_the_run_says_how_to_get_pictures(
    job, one_thread_env, tmp_path
):
    blocked = tmp_path / "blocked" / "matplotlib"
    blocked.mkdir(parents=True)
    (blocked / "__init__.py").write_text("raise ImportError('not installed here')\n")
    done = batch(str(job), env={**one_thread_env, "PYTHONPATH": str(blocked.parent)})
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("pip install 'maskprop[review]'") == 1
    assert manifest.recorded(out(job, "good")) == "complete" and not (out(job, "good") / "review").exists()


def test_the_report_is_written_beside_the_job_file_unless_told_otherwise(job, one_thread_env, tmp_path):
    done = batch(str(job), "--no-review", "--report", "", env=one_thread_env)
    assert done.returncode == 0 and not (job.parent / "report.html").exists()
    assert not (out(job, "good") / "review").exists()
    unwritable = tmp_path / "missing" / "report.html"
    done = batch(str(job), "--no-review", "--report", str(unwritable), env=one_thread_env)
    assert done.returncode == 0
    assert f"error: the report {unwritable} could not be written" in done.stderr
    done = batch(str(job), "--no-review", env=one_thread_env)
    assert done.returncode == 0 and f"openjd_status: report: {job.parent / 'report.html'}" in done.stdout


def test_json_log_format_makes_every_stderr_line_an_event(job, one_thread_env):
    (job.parent / "bad" / "frames" / "00003.png").write_bytes(b"broken")
    done = batch(str(job), "--no-review", "--log-format", "json", env=one_thread_env)
    assert done.returncode == 2
    events = [json.loads(line) for line in done.stderr.splitlines()]
    progress = [event for event in events if event["message"] == "progress"]
    assert [event["done"] for event in progress if event["label"] == "good"] == list(range(1, FRAMES + 1))
    assert {"total", "frame", "confidence"} <= set(progress[0])
    assert any(event["level"] == "ERROR" and "shot 'bad'" in event["message"] for event in events)
    assert done.stdout.splitlines()[-1] == "openjd_status: 1 of 2 shots failed: bad"


def test_a_terminal_gets_a_bar_for_the_job_and_one_for_the_shot(job, one_thread_env):
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a 0-column terminal shows no bar
    command = [sys.executable, "-m", "engine", "batch", str(job), "--no-review"]
    process = subprocess.Popen(command, stdout=follower, stderr=follower, env=one_thread_env)
    os.close(follower)
    screen = b""
    with contextlib.suppress(OSError):  # the terminal closes when the batch exits
        while chunk := os.read(leader, 4096):
            screen += chunk
    assert process.wait(timeout=120) == 0
    text = screen.decode(errors="replace")
    assert "job:" in text and "good:" in text and f"{2 * FRAMES}/{2 * FRAMES}" in text
    assert "openjd_progress" not in text and "openjd_status: done" in text


def test_a_failure_that_cannot_be_recorded_in_its_folder_is_still_only_the_shots(tmp_path):
    not_a_folder = tmp_path / "out"
    not_a_folder.write_text("a file where the shot's folder should be")
    manifest.record_failure(not_a_folder, "shot 'x': the disk is full")  # said on stderr already; nothing raised
    assert manifest.recorded_failure(not_a_folder) is None
