"""Fixtures for tests that run the command line as a user does: a checkpoint, a clean environment, small shots."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from engine.io import open_frames, read_mask, write_label_map
from engine.model import AFBURR
from engine.model.parity_weights import load_parity_weights
from engine.server.launch import ServerProcess


@pytest.fixture(scope="session")
def parity_checkpoint(tmp_path_factory) -> Path:
    """The parity weights saved the way the reference saves its checkpoints (written once per session)."""
    path = tmp_path_factory.mktemp("weights") / "parity.pth"
    state = load_parity_weights(AFBURR()).state_dict()
    torch.save({"epoch": 0, "model": state, "optimizer": {}, "loss": 0.0, "seed": 0}, path)
    return path


@pytest.fixture(scope="session")
def engine_env(tmp_path_factory) -> dict[str, str]:
    """The environment for `python -m engine`: no checkpoint, config file or OpenColorIO config but what the test
    passes."""
    environment = {key: value for key, value in os.environ.items() if key not in ("MASKPROP_CHECKPOINT", "OCIO")}
    environment["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("config-home"))
    return environment


@pytest.fixture(scope="session")
def one_thread_env(engine_env) -> dict[str, str]:
    """`engine_env` with torch on one CPU thread, for runs of tiny frames that gain nothing from more threads.

    OpenMP threads spin while they wait for each other, so on a machine whose cores are busy with anything else
    two of them can make a run tens of times slower than one.
    """
    return {**engine_env, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def start_engine(parity_checkpoint, engine_env, tmp_path_factory) -> Iterator[Callable[..., ServerProcess]]:
    """`start_engine(*extra_args, env=None)`: a real server (`python -m engine serve`, parity weights, CPU) on a
    free loopback port, in `env` (default `engine_env`); each one must stop with exit code 0 at the module's end.
    The one way tests start an engine."""
    started: list[ServerProcess] = []

    def start(*extra: str, env: dict[str, str] | None = None) -> ServerProcess:
        args = ["--bind", "tcp://127.0.0.1:0", "--checkpoint", str(parity_checkpoint), "--device", "cpu", *extra]
        log_path = tmp_path_factory.mktemp("engine-log") / "stderr.log"
        engine = ServerProcess(args, engine_env if env is None else env, log_path)
        started.append(engine)
        return engine

    yield start
    for engine in started:
        was_alive = engine.alive
        code = engine.stop()
        assert not was_alive or code == 0, f"the engine stopped with exit code {code}\n{engine.log()}"


def _write_small_shot(folder: Path, frames: int, size: tuple[int, int] = (48, 64), seed: int = 0) -> None:
    """`folder/frames/00000.png...` of two squares drifting over noise, and `folder/mask.png` of frame 0."""
    height, width = size
    rng = np.random.default_rng(seed)
    background = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    (folder / "frames").mkdir(parents=True)
    for index in range(frames):
        image, labels = background.copy(), np.zeros((height, width), np.uint8)
        for object_id, (colour, top, left) in enumerate((((230, 40, 40), 8, 6), ((40, 40, 230), 24, 34)), 1):
            y, x = top + index % 4, left + index
            image[y : y + 14, x : x + 14] = colour
            labels[y : y + 14, x : x + 14] = object_id
        cv2.imwrite(str(folder / "frames" / f"{index:05d}.png"), image[..., ::-1])
        if index == 0:
            write_label_map(folder / "mask.png", labels)


@pytest.fixture(scope="session")
def write_small_shot() -> Callable[..., None]:
    """`write_small_shot(folder, frames)`: a tiny two-object shot and its first frame's mask, on disk."""
    return _write_small_shot


def _read_small_shot(folder: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """The frames and the frame-0 label map of a written shot, read back as the engine reads them."""
    frames = open_frames(folder / "frames")
    return [frames[i] for i in range(len(frames))], read_mask(folder / "mask.png", size=frames.size)


@pytest.fixture(scope="session")
def read_small_shot() -> Callable[[Path], tuple[list[np.ndarray], np.ndarray]]:
    """`read_small_shot(folder)`: (frames, frame-0 labels) of a shot `write_small_shot` wrote there."""
    return _read_small_shot
