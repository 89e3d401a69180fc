"""Fixtures: the tiny shot on disk and in memory, and servers started with the parity weights.

Every server here binds `tcp://127.0.0.1:0` and reports the port it got on its `serving on` line, so tests never
race for ports. Stopping a server sends SIGTERM; the fixtures require exit code 0, so a clean stop is part of
every test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from engine.server.launch import ServerProcess
from protocol.client import EngineClient
from tests.server.helpers import FRAMES, Shot


@pytest.fixture(scope="module")
def shot(tmp_path_factory, write_small_shot, read_small_shot) -> Shot:
    folder = tmp_path_factory.mktemp("shot")
    write_small_shot(folder, FRAMES)
    return Shot(folder, *read_small_shot(folder))


@pytest.fixture(scope="module")
def start_engine(parity_checkpoint, engine_env, tmp_path_factory) -> Iterator[Callable[..., ServerProcess]]:
    """`start_engine(*extra_args)`: a server on a free loopback port; each one must stop with exit code 0."""
    started: list[ServerProcess] = []

    def start(*extra: str) -> ServerProcess:
        args = ["--bind", "tcp://127.0.0.1:0", "--checkpoint", str(parity_checkpoint), "--device", "cpu", *extra]
        log_path = tmp_path_factory.mktemp("engine-log") / "stderr.log"
        engine = ServerProcess(args, engine_env, log_path)
        started.append(engine)
        return engine

    yield start
    for engine in started:
        was_alive = engine.alive
        code = engine.stop()
        assert not was_alive or code == 0, f"the engine stopped with exit code {code}\n{engine.log()}"


@pytest.fixture(scope="module")
def engine(start_engine) -> ServerProcess:
    return start_engine()


@pytest.fixture
def client(engine) -> Iterator[EngineClient]:
    with EngineClient(engine.endpoint, timeout=20.0) as connected:
        yield connected
