"""Atomic writes shared by the engine and the add-on: concurrent writers of one file never collide."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from protocol.atomic import is_temp_name, replace_atomically, temp_name


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


@pytest.mark.parametrize("path", ["labels/00012.png", "manifest.json", "probe", "preview.mp4", "sh.010.exr"])
def test_every_temporary_name_is_recognised_as_one(path: str) -> None:
    assert is_temp_name(temp_name(Path(path), "3fa9c1d2").name)


@pytest.mark.parametrize("name", ["00012.png", ".hidden", ".00012.3fa9c1d2.png", ".a.3FA9C1D2.tmp", ".a.3fa9c.tmp"])
def test_names_a_writer_did_not_make_are_left_alone(name: str) -> None:
    assert not is_temp_name(name)
