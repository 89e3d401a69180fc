"""`maskprop propagate` as a user runs it: a subprocess, real files in, files read back, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from engine.checkpoint_choice import DEFAULT_NETWORK
from engine.compute.precision import cpu_bf16_units, cpu_flags
from engine.io import read_confidence, read_label_map, read_matte, write_label_map
from engine.model.weights import load_model
from tests.engine.model.golden_data import load_golden

CASE = "blackswan_2obj_evict"


@pytest.fixture(scope="module")
def case() -> dict[str, np.ndarray]:
    return load_golden()[CASE]


@pytest.fixture
def shot(tmp_path, case) -> Path:
    """The golden case's frames as PNG files and its first mask as a palette PNG."""
    frames = tmp_path / "frames"
    frames.mkdir()
    for index, frame in enumerate(case["frames"]):
        cv2.imwrite(str(frames / f"{index:05d}.png"), frame[..., ::-1])
    write_label_map(tmp_path / "mask.png", case["first_mask"])
    return tmp_path


def propagate(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "engine", "propagate", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)


def golden_args(shot: Path, checkpoint: Path, case, out: str = "out") -> list[str]:
    return [
        *("--frames", str(shot / "frames"), "--mask", str(shot / "mask.png"), "--out", str(shot / out)),
        *("--checkpoint", str(checkpoint), "--direction", "forward", "--max-size", "0"),
        *("--budget", str(int(case["budget"])), "--update-rate", str(float(case["update_rate"]))),
        *("--merge-threshold", str(float(case["thres_close"])), "--no-protect-keyframes"),
        *("--device", "cpu", "--precision", "fp32"),  # the reference computed in fp32
    ]


@pytest.mark.slow
def test_the_cli_reproduces_the_reference_labels(shot, parity_checkpoint, case, engine_env):
    done = propagate(*golden_args(shot, parity_checkpoint, case), env=engine_env)
    assert done.returncode == 0, done.stderr
    out = shot / "out"
    labels = np.stack([read_label_map(out / "labels" / f"{t:05d}.png") for t in range(1, len(case["frames"]))])
    assert (labels == case["labels"]).mean() >= 0.999
    np.testing.assert_array_equal(read_label_map(out / "labels" / "00000.png"), case["first_mask"])
    for object_id in (1, 2):
        mattes = sorted((out / "mattes" / f"obj{object_id}").iterdir())
        assert [p.name for p in mattes] == [f"{t:05d}.png" for t in range(len(case["frames"]))]
        assert read_matte(mattes[3]).shape == case["first_mask"].shape
    rows = read_confidence(out / "confidence.json")
    assert [(r.frame, r.object) for r in rows] == [(t, i) for t in range(8) for i in (1, 2)]
    assert rows == read_confidence(out / "confidence.csv")
    assert "frames to review" in done.stderr
    run = json.loads((out / "run.json").read_text())
    assert (run["format"], run["model"], run["device"]) == ("maskprop-run", "afb-urr-r50", "cpu")
    assert run["precision"] == "fp32"
    assert run["settings"]["bank"]["budget"] == int(case["budget"])


def test_without_a_checkpoint_it_propagates_with_the_shipped_network_at_its_own_size(shot, case, engine_env):
    out = shot / "o"
    arguments = ("--frames", str(shot / "frames"), "--mask", str(shot / "mask.png"), "--out", str(out))
    done = propagate(*arguments, env=engine_env)
    assert done.returncode == 0, done.stderr
    shipped = load_model(DEFAULT_NETWORK)
    run = json.loads((out / "run.json").read_text())
    assert run["model"] == shipped.config.name
    assert run["settings"]["max_size"] == shipped.default_max_size
    labels = read_label_map(out / "labels" / "00003.png")
    assert labels.shape == case["first_mask"].shape
    assert set(np.unique(labels)) <= set(np.unique(case["first_mask"]))


def test_adapt_learns_the_keyframe_first_and_says_so(shot, case, engine_env):
    out = shot / "adapted"
    arguments = ("--frames", str(shot / "frames"), "--mask", str(shot / "mask.png"), "--out", str(out))
    done = propagate(*arguments, "--adapt", "2", "--last", "3", env=engine_env)
    assert done.returncode == 0, done.stderr
    assert "learning the keyframes: 2/2 loss" in done.stderr and "s left" in done.stderr
    run = json.loads((out / "run.json").read_text())
    assert run["settings"]["adapt"] == 2 and run["frames"] == 4
    assert read_label_map(out / "labels" / "00003.png").shape == case["first_mask"].shape


def test_adapt_0_propagates_with_the_network_as_it_is_and_says_so(shot, engine_env):
    arguments = ("--frames", str(shot / "frames"), "--mask", str(shot / "mask.png"), "--out", str(shot / "o"))
    done = propagate(*arguments, "--adapt", "0", "--last", "1", env=engine_env)
    assert done.returncode == 0, done.stderr
    assert "--adapt 0: no adaptation steps, so the shot propagates with the network as it is" in done.stderr
    assert "learning the keyframes" not in done.stderr


def wrong_size_mask(shot: Path) -> list[str]:
    write_label_map(shot / "small.png", np.ones((10, 10), np.uint8))
    return ["--mask", str(shot / "small.png")]


def empty_mask(shot: Path) -> list[str]:
    write_label_map(shot / "empty.png", np.zeros((250, 440), np.uint8))
    return ["--mask", str(shot / "empty.png")]


def missing_frames(shot: Path) -> list[str]:
    return ["--frames", str(shot / "no-such-folder")]


def unwritable_out(shot: Path) -> list[str]:
    (shot / "a-file").write_text("not a folder")
    return ["--out", str(shot / "a-file" / "out")]


def truncated_frame(shot: Path) -> list[str]:
    path = shot / "frames" / "00004.png"
    path.write_bytes(path.read_bytes()[:500])
    return []


@pytest.mark.parametrize(
    ("breakage", "words"),
    [
        (missing_frames, "no-such-folder"),
        (wrong_size_mask, "10x10"),
        (empty_mask, "no objects"),
        (unwritable_out, "a-file"),
        (truncated_frame, "00004.png"),
        (lambda shot: ["--view", "AgX"], "the view AgX on sRGB needs an OpenColorIO config"),
        (lambda shot: ["--view", "AgX", "--ocio-config", str(shot / "none.ocio")], "none.ocio does not exist"),
        (lambda shot: ["--exr-layer", "Denoised"], "is not OpenEXR, so it has no layer 'Denoised'"),
    ],
    ids=[
        "missing frames",
        "wrong size mask",
        "empty mask",
        "unwritable out",
        "truncated frame",
        "no config",
        "no file",
        "exr layer",
    ],
)
def test_bad_input_is_one_clear_line_and_exit_code_2(shot, parity_checkpoint, case, engine_env, breakage, words):
    args = golden_args(shot, parity_checkpoint, case) + breakage(shot)
    done = propagate(*args, env=engine_env)
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and words in errors[0], done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes (os.mkfifo)")
def test_a_named_pipe_as_the_mask_is_one_clear_line_not_a_hang(shot, engine_env):
    """The mask is read before any network loads, so the refusal comes within seconds; a run that opens the
    pipe would wait for a writer forever, and the timeout turns that into a failure."""
    fifo = shot / "pipe.png"
    os.mkfifo(fifo)
    command = [sys.executable, "-m", "engine", "propagate", "--frames", str(shot / "frames"), "--mask", str(fifo)]
    command += ["--out", str(shot / "out")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=engine_env)
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: mask {fifo} is a named pipe (FIFO), not a file"], done.stderr
    assert "Traceback" not in done.stderr


class ShellCommand:
    """A pickled object that runs `command` in a shell the moment it is unpickled: an attacker's checkpoint."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_a_checkpoint_that_would_run_code_is_refused_in_plain_words(shot, parity_checkpoint, case, engine_env):
    marker, bad = shot / "payload-ran", shot / "bad.pth"
    torch.save({"model": ShellCommand(f"\"{sys.executable}\" -c \"open(r'{marker}', 'w').close()\"")}, bad)
    done = propagate(*golden_args(shot, parity_checkpoint, case), "--checkpoint", str(bad), env=engine_env)
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(bad) in errors[0], done.stderr
    assert "not a plain weights file" in errors[0] and "refuses" in errors[0], done.stderr
    assert "torch.save(model.state_dict()" in errors[0], done.stderr
    assert "weights_only" not in done.stderr and "likely succeed" not in done.stderr
    assert "Traceback" not in done.stderr
    assert not marker.exists()


@pytest.mark.parametrize(
    "args",
    [
        ["--budget", "0"],
        ["--max-size", "-1"],
        ["--update-rate", "2"],
        ["--direction", "sideways"],
        ["--gamma", "0"],
        ["--exposure", "40"],
        ["--adapt", "-1"],
        ["--adapt", "many"],
    ],
)
def test_bad_options_are_usage_errors(shot, parity_checkpoint, case, engine_env, args):
    done = propagate(*golden_args(shot, parity_checkpoint, case), *args, env=engine_env)
    assert done.returncode == 2
    assert "usage:" in done.stderr


@pytest.mark.skipif(cpu_bf16_units(cpu_flags()) is not None, reason="needs a CPU without bf16 matrix units")
def test_bf16_without_units_is_fp32_with_a_warning_or_refused(shot, parity_checkpoint, case, engine_env):
    done = propagate(*golden_args(shot, parity_checkpoint, case), "--precision", "bf16", env=engine_env)
    assert done.returncode == 0, done.stderr
    assert "warning: bf16 was asked for, but this CPU has no bf16 matrix units" in done.stderr
    labels = np.stack([read_label_map(shot / "out" / "labels" / f"{t:05d}.png") for t in range(1, 8)])
    assert (labels == case["labels"]).mean() >= 0.999  # fp32's result
    assert json.loads((shot / "out" / "run.json").read_text())["precision"] == "fp32"
    strict = ["--precision", "bf16", "--strict-precision"]
    done = propagate(*golden_args(shot, parity_checkpoint, case, out="strict"), *strict, env=engine_env)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "refused (strict precision)" in errors[0], done.stderr
    assert not any((shot / "strict").rglob("*.png"))


def test_fp16_on_the_cpu_is_one_clear_error(shot, parity_checkpoint, case, engine_env):
    done = propagate(*golden_args(shot, parity_checkpoint, case), "--precision", "fp16", env=engine_env)
    assert done.returncode == 2
    assert "fp16 runs on CUDA only" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_a_second_run_into_a_finished_folder_is_refused_or_replaces_it_whole(shot, parity_checkpoint, case, engine_env):
    """A re-run that fails part-way must never leave a folder of two runs that looks finished."""
    args = golden_args(shot, parity_checkpoint, case)
    assert propagate(*args, env=engine_env).returncode == 0
    out = shot / "out"
    first_run = {path.name for path in (out / "labels").iterdir()}

    refused = propagate(*args, "--update-rate", "0.5", env=engine_env)
    assert refused.returncode == 2 and "holds the results of a run" in refused.stderr
    assert "--overwrite" in refused.stderr
    assert {path.name for path in (out / "labels").iterdir()} == first_run  # refused before touching anything

    truncated_frame(shot)  # frame 4 breaks: the second run fails there
    failed = propagate(*args, "--update-rate", "0.5", "--overwrite", env=engine_env)
    assert failed.returncode == 2 and "00004.png" in failed.stderr
    left = {path.name for path in (out / "labels").iterdir()}
    assert left and "00004.png" not in left and "00005.png" not in left  # the first run's later frames are gone
    assert not (out / "confidence.csv").exists()
    assert json.loads((out / "manifest.json").read_text())["complete"] is False  # and the folder says unfinished
