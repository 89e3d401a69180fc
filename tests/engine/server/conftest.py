"""Fixtures: the tiny shot on disk and in memory, one engine per module and a client connected to it.

Engines come from `start_engine` (tests/conftest.py): every one binds `tcp://127.0.0.1:0` and reports the port
it got on its `serving on` line, so tests never race for ports, and every one must stop with exit code 0 on
SIGTERM, so a clean stop is part of every test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine.server.launch import ServerProcess
from protocol.client import EngineClient
from tests.engine.server.helpers import FRAMES, Shot


@pytest.fixture(scope="module")
def shot(tmp_path_factory, write_small_shot, read_small_shot) -> Shot:
    folder = tmp_path_factory.mktemp("shot")
    write_small_shot(folder, FRAMES)
    return Shot(folder, *read_small_shot(folder))


@pytest.fixture(scope="module")
def engine(start_engine) -> ServerProcess:
    return start_engine()


@pytest.fixture
def client(engine) -> Iterator[EngineClient]:
    with EngineClient(engine.endpoint, timeout=20.0) as connected:
        yield connected
