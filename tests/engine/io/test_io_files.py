"""Only regular files are read: pipes, devices, sockets and folders are refused by name, without blocking."""

from __future__ import annotations

import os
import socket

import pytest

from engine.io import InputError, read_confidence, read_label_map, read_matte
from engine.io.errors import OutsideAllowedFolders
from engine.io.images import read_file_bytes
from engine.shots.job_file import read_job
from tests.engine.io.special_files import call_on_fifos, make_fifo, needs_fifo


def _message(error: BaseException | None) -> str:
    assert isinstance(error, InputError), f"expected an InputError, got {error!r}"
    message = str(error)
    assert "\n" not in message
    return message


def test_a_regular_file_and_a_link_to_one_are_read(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"\x00payload\xff")
    link = tmp_path / "link.bin"
    link.symlink_to(path)
    assert read_file_bytes(path) == b"\x00payload\xff"
    assert read_file_bytes(link) == b"\x00payload\xff"


def test_existing_messages_for_missing_and_folder(tmp_path):
    with pytest.raises(InputError, match=r"^mask .*nope\.png does not exist$"):
        read_file_bytes(tmp_path / "nope.png", "mask")
    with pytest.raises(InputError, match=r"^mask .* is a folder, not a file$"):
        read_file_bytes(tmp_path, "mask")


def test_a_broken_link_names_its_target(tmp_path):
    link = tmp_path / "frame.png"
    link.symlink_to(tmp_path / "gone.png")
    with pytest.raises(InputError, match=r"is a link to .*gone\.png, which does not exist") as error:
        read_file_bytes(link, "frame")
    assert error.value.path == str(link)


@needs_fifo
def test_a_named_pipe_is_refused_without_blocking(tmp_path):
    fifo = make_fifo(tmp_path / "mask.png")
    message = _message(call_on_fifos(lambda: read_file_bytes(fifo, "mask"), fifo))
    assert message == f"mask {fifo} is a named pipe (FIFO), not a file"


@needs_fifo
def test_a_link_to_a_named_pipe_is_refused(tmp_path):
    fifo = make_fifo(tmp_path / "pipe")
    link = tmp_path / "mask.png"
    link.symlink_to(fifo)
    message = _message(call_on_fifos(lambda: read_file_bytes(link, "mask"), fifo))
    assert message == f"mask {link} is a named pipe (FIFO), not a file"


@needs_fifo
def test_a_file_swapped_for_a_pipe_after_the_check_is_still_refused(tmp_path, monkeypatch):
    """The descriptor itself is checked: a name that became a pipe after `stat` neither blocks nor is read."""
    from engine.io import files as io_files

    fifo = make_fifo(tmp_path / "mask.png")
    monkeypatch.setattr(io_files, "require_regular_file", lambda path, what="file": None)
    message = _message(call_on_fifos(lambda: read_file_bytes(fifo, "mask"), fifo))
    assert message == f"mask {fifo} is a named pipe (FIFO), not a file"


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="needs /dev/null")
def test_a_device_is_refused():
    with pytest.raises(InputError, match=r"^frame /dev/null is a device, not a file$"):
        read_file_bytes("/dev/null", "frame")


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="needs Unix sockets")
def test_a_socket_is_refused(tmp_path):
    path = tmp_path / "s.png"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        with pytest.raises(InputError, match=r"^mask .*s\.png is a socket, not a file$"):
            read_file_bytes(path, "mask")


@needs_fifo
@pytest.mark.parametrize(
    ("reader", "name", "what"),
    [
        (read_label_map, "labels.png", "label map"),
        (read_matte, "matte.png", "matte"),
        (read_confidence, "confidence.csv", "confidence table"),
        (read_job, "job.toml", "job file"),
    ],
)
def test_every_reader_refuses_a_named_pipe(tmp_path, reader, name, what):
    fifo = make_fifo(tmp_path / name)
    message = _message(call_on_fifos(lambda: reader(fifo), fifo))
    assert message == f"{what} {fifo} is a named pipe (FIFO), not a file"


def test_a_file_that_leads_outside_the_allowed_folders_is_refused_on_its_descriptor(tmp_path):
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    allowed.mkdir(), outside.mkdir()
    (outside / "secret.png").write_bytes(b"secret")
    (allowed / "own.png").write_bytes(b"own")
    os.symlink(outside / "secret.png", allowed / "link.png")
    inside = lambda path: path.startswith(str(allowed.resolve()) + os.sep)  # noqa: E731
    assert read_file_bytes(allowed / "own.png", "frame", inside) == b"own"
    with pytest.raises(OutsideAllowedFolders, match=r"frame .*link\.png leads outside the folders"):
        read_file_bytes(allowed / "link.png", "frame", inside)
