"""Atomic writes shared by the engine and the add-on: concurrent writers of one file never collide."""

from __future__ import annotations

import threading
from pathlib import Path

from protocol.atomic import replace_atomically


def test_writers_of_the_same_file_never_share_a_temporary_file(tmp_path: Path) -> None:
    """Two writers (a run finishing while another starts) each write whole files; no leftovers, no collision."""
    target = tmp_path / "confidence.json"
    contents = [bytes([index]) * 200_000 for index in range(2)]
    failures: list[BaseException] = []

    def write(data: bytes) -> None:
        try:
            for _ in range(30):
                replace_atomically(target, data)
        except BaseException as error:  # collected: a thread's exception would otherwise vanish
            failures.append(error)

    threads = [threading.Thread(target=write, args=(data,)) for data in contents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert target.read_bytes() in contents
    assert [path.name for path in tmp_path.iterdir()] == ["confidence.json"]
