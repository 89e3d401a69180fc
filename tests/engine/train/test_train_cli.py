"""`train` and `clips` from the command line, in real processes: a tiny run end to end, resuming after
SIGTERM, and every command that loads a checkpoint building the network the checkpoint was trained as."""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
import torch

from engine.model.weights import load_model
from engine.train.log import read_log

TINY = ["--model", "tiny", "--size", "32x32", "--frames", "3", "--clips-per-step", "1", "--val-clips", "2"]


def _engine(env: dict[str, str], *args: object, timeout: float = 300) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "engine", *map(str, args)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def held_out(tmp_path_factory, one_thread_env) -> Path:
    folder = tmp_path_factory.mktemp("held-out") / "clips"
    done = _engine(one_thread_env, "clips", folder, "--count", 2, "--frames", 4, "--size", "32x48", "--seed", 9)
    assert done.returncode == 0, done.stderr
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory, one_thread_env, held_out) -> Path:
    run = tmp_path_factory.mktemp("train") / "run"
    validation = ["--val-davis", held_out, "--val-max-size", 0, "--val-every", 2, "--save-every", 2]
    done = _engine(one_thread_env, "train", run, *TINY, "--steps", 4, *validation)
    assert done.returncode == 0, done.stderr
    return run


def test_clips_are_written_as_a_davis_folder(held_out):
    for kind, suffix in (("JPEGImages", ".jpg"), ("Annotations", ".png")):
        assert [len(list((held_out / kind / name).glob(f"*{suffix}"))) for name in ("clip0000", "clip0001")] == [4, 4]


def test_a_run_writes_checkpoints_logs_and_validation_with_j_and_f(trained):
    assert [int(row["step"]) for row in read_log(trained / "loss.csv")] == [1, 2, 3, 4]
    rows = read_log(trained / "validation.csv")
    assert [int(row["step"]) for row in rows] == [0, 2, 4]
    assert all(0 <= float(row["JF"]) <= 1 and float(row["val_loss"]) > 0 for row in rows)
    assert (trained / "validation" / "step_0000004" / "per-sequence.csv").is_file()
    assert load_model(trained / "checkpoints" / "last.pth").config.name == "tiny"


def test_eval_and_propagate_load_the_trained_configuration(trained, held_out, one_thread_env, tmp_path):
    checkpoint = trained / "checkpoints" / "last.pth"
    done = _engine(one_thread_env, "eval", "--gt", held_out, "--checkpoint", checkpoint, "--out", tmp_path / "eval")
    assert done.returncode == 0, done.stderr
    assert "overall" in done.stdout
    frames, mask = held_out / "JPEGImages" / "clip0000", held_out / "Annotations" / "clip0000" / "00000.png"
    shot = ["--frames", frames, "--mask", mask, "--out", tmp_path / "shot", "--checkpoint", checkpoint]
    done = _engine(one_thread_env, "propagate", *shot)
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "shot").rglob("*.png"))) >= 4


def test_sigterm_saves_and_resume_finishes_the_run(tmp_path, one_thread_env):
    run = tmp_path / "run"
    command = [sys.executable, "-m", "engine", "train", run, *TINY, "--steps", 100000, "--val-every", 100000]
    with (tmp_path / "stderr.txt").open("w") as log:
        process = subprocess.Popen(list(map(str, command)), env=one_thread_env, stderr=log)
    deadline = time.monotonic() + 120
    while not (run / "loss.csv").is_file() or len(read_log(run / "loss.csv")) < 2:
        assert time.monotonic() < deadline and process.poll() is None, "training did not get going"
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 143, (tmp_path / "stderr.txt").read_text()
    stopped = len(read_log(run / "loss.csv"))
    done = _engine(one_thread_env, "train", run, "--resume", "--steps", stopped + 2)
    assert done.returncode == 0, done.stderr
    assert [int(row["step"]) for row in read_log(run / "loss.csv")] == list(range(1, stopped + 3))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--size", "30x30"], "multiple of 16"),
        (["--size", "big"], "HxW"),
        (["--model", "huge"], "tiny"),
        (["--data", "/nowhere/at/all"], "JPEGImages"),
        (["--frames", "1"], "at least 2 frames"),
        (["--steps", "0"], "steps"),
        (["--data", "procedural@zero"], "weight"),
        (["--device", "cpu", "--precision", "fp16"], "loss scaling"),
        (["--learn", "encoder"], "argument --learn: invalid choice"),
    ],
)
def test_bad_arguments_are_one_clear_error(tmp_path, one_thread_env, args, message):
    done = _engine(one_thread_env, "train", tmp_path / "run", *TINY, "--steps", 1, *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_an_existing_run_needs_resume_and_resume_needs_a_run(trained, tmp_path, one_thread_env):
    done = _engine(one_thread_env, "train", trained, *TINY, "--steps", 1)
    assert done.returncode == 2 and "--resume" in done.stderr
    done = _engine(one_thread_env, "train", tmp_path / "empty", "--resume")
    assert done.returncode == 2 and "last.pth" in done.stderr


def test_fine_tuning_can_drop_the_skip_blocks_and_learn_the_decoder_alone(trained, tmp_path, one_thread_env):
    init = trained / "checkpoints" / "last.pth"
    done = _engine(
        one_thread_env, "train", tmp_path / "run", *TINY, "--steps", 1, "--init", init, "--no-skip-blocks",
        "--learn", "decoder",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    tuned = load_model(tmp_path / "run" / "checkpoints" / "last.pth")
    assert not tuned.config.skip_blocks
    before = load_model(init).state_dict()
    assert all(torch.equal(value, before[key]) for key, value in tuned.state_dict().items() if "decoder" not in key)


def test_fine_tuning_from_a_file_that_is_no_checkpoint_is_a_clear_error(tmp_path, one_thread_env):
    bogus = tmp_path / "weights.pth"
    bogus.write_bytes(b"not a checkpoint")
    done = _engine(one_thread_env, "train", tmp_path / "run", *TINY, "--steps", 1, "--init", bogus)
    assert done.returncode == 2 and "cannot be read" in done.stderr


def test_clips_refuses_a_folder_that_is_not_empty(held_out, one_thread_env):
    done = _engine(one_thread_env, "clips", held_out)
    assert done.returncode == 2 and "not empty" in done.stderr


def test_a_terminal_gets_a_progress_bar(tmp_path, one_thread_env):
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a new pty is 0 columns wide
    command = [sys.executable, "-m", "engine", "train", tmp_path / "run", *TINY, "--steps", 3, "--val-clips", 0]
    arguments = list(map(str, command))
    with subprocess.Popen(arguments, env=one_thread_env, stderr=terminal, stdout=subprocess.DEVNULL) as run:
        os.close(terminal)
        shown = b""
        while chunk := _read(controller):
            shown += chunk
        assert run.wait(timeout=120) == 0
    os.close(controller)
    assert b"train:" in shown and b"3/3" in shown
    assert b"step/s" in shown or b"s/step" in shown


def _read(descriptor: int) -> bytes:
    try:
        return os.read(descriptor, 4096)
    except OSError:  # the terminal's other end closed: the process is done writing
        return b""
