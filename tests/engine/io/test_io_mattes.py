"""Writing mattes and label maps: round trips at each depth, the EXR really being half-float, and atomicity."""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.io import (
    InputError,
    OutputError,
    ensure_output_folder,
    read_label_map,
    read_matte,
    write_bytes_atomic,
    write_label_map,
    write_matte,
    write_text_atomic,
)
from engine.io import atomic as atomic_module
from engine.io.png import read_header


def _matte(height: int = 24, width: int = 40) -> np.ndarray:
    ramp = np.linspace(0.0, 1.0, height * width, dtype=np.float32).reshape(height, width)
    ramp[0, :3] = (0.0, 1.0, 0.5)
    return ramp


def _exr_channels(path: Path) -> dict[str, int]:
    """Channel name -> pixel type (0 uint, 1 half, 2 float) from an OpenEXR header's `channels` attribute."""
    data = path.read_bytes()
    assert data[:4] == b"\x76\x2f\x31\x01", "not an OpenEXR file"
    offset = 8
    while data[offset] != 0:
        name_end = data.index(b"\0", offset)
        kind_end = data.index(b"\0", name_end + 1)
        name, kind = data[offset:name_end], data[name_end + 1 : kind_end]
        (size,) = struct.unpack_from("<i", data, kind_end + 1)
        value = data[kind_end + 5 : kind_end + 5 + size]
        if name == b"channels" and kind == b"chlist":
            channels, at = {}, 0
            while value[at] != 0:
                end = value.index(b"\0", at)
                channels[value[at:end].decode()] = struct.unpack_from("<i", value, end + 1)[0]
                at = end + 1 + 16
            return channels
        offset = kind_end + 5 + size
    raise AssertionError("no channels attribute")


def _visible_and_hidden(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


# --- round trips -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("depth", "suffix", "dtype", "tolerance"),
    [
        ("8", ".png", np.uint8, 0.5 / 255),
        ("16", ".png", np.uint16, 0.5 / 65535),
        ("half", ".exr", np.float32, 2.0**-12),
    ],
)
def test_matte_round_trip(tmp_path, depth, suffix, dtype, tolerance):
    matte = _matte()
    path = write_matte(tmp_path / f"matte.0001{suffix}", matte, depth)
    assert path == tmp_path / f"matte.0001{suffix}"
    stored = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert stored.dtype == dtype and stored.shape == matte.shape  # one channel
    back = read_matte(path)
    assert back.dtype == np.float32
    assert np.abs(back - matte).max() <= tolerance + 1e-7
    assert back[0, 0] == 0.0 and back[0, 1] == 1.0


def test_half_matte_is_a_single_half_float_channel(tmp_path):
    path = write_matte(tmp_path / "m.exr", _matte(), "half")
    assert _exr_channels(path) == {"Y": 1}
    write_matte(tmp_path / "f.exr", _matte(), "half")
    assert cv2.imread(str(tmp_path / "f.exr"), cv2.IMREAD_UNCHANGED)[0, 2] == np.float32(0.5)


def test_matte_values_are_clipped_and_rounded(tmp_path):
    matte = np.array([[-0.5, 0.0, 0.5 / 255, 1.5 / 255, 1.0, 3.0]], np.float64)
    write_matte(tmp_path / "m.png", matte, 8)
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "m.png"), cv2.IMREAD_UNCHANGED), [[0, 0, 0, 2, 255, 255]])


@pytest.mark.parametrize(
    ("matte", "depth"),
    [
        (np.zeros((4, 4, 1), np.float32), "8"),
        (np.zeros((4, 4), np.uint8), "8"),
        (np.array([[np.nan]], np.float32), "8"),
        (np.zeros((0, 4), np.float32), "8"),
        (np.zeros((4, 4), np.float32), "32"),
    ],
)
def test_bad_matte_arrays_are_programming_errors(tmp_path, matte, depth):
    with pytest.raises(ValueError):
        write_matte(tmp_path / "m.png", matte, depth)
    assert _visible_and_hidden(tmp_path) == []


@pytest.mark.parametrize(("name", "depth"), [("m.exr", "8"), ("m.png", "half"), ("m.tif", "16")])
def test_matte_extension_must_match_the_depth(tmp_path, name, depth):
    with pytest.raises(OutputError, match="is written as") as error:
        write_matte(tmp_path / name, _matte(), depth)
    assert "\n" not in str(error.value)


def test_label_map_is_a_palette_png(tmp_path):
    labels = np.zeros((6, 9), np.uint8)
    labels[1:3, 2:5] = 1
    labels[4, :] = 17
    path = write_label_map(tmp_path / "00000.png", labels)
    assert read_header(path.read_bytes(), path).colour_type == 3
    np.testing.assert_array_equal(read_label_map(path), labels)
    write_label_map(tmp_path / "wide.png", labels.astype(np.int64))
    np.testing.assert_array_equal(read_label_map(tmp_path / "wide.png"), labels)
    with pytest.raises(ValueError):
        write_label_map(tmp_path / "bad.png", np.full((2, 2), 256))
    with pytest.raises(ValueError):
        write_label_map(tmp_path / "bad.png", np.zeros((2, 2), np.float32))
    with pytest.raises(OutputError):
        write_label_map(tmp_path / "bad.exr", labels)


def test_read_label_map_refuses_other_pngs(tmp_path):
    cv2.imwrite(str(tmp_path / "grey.png"), np.zeros((2, 2), np.uint8))
    with pytest.raises(InputError, match="not a palette PNG"):
        read_label_map(tmp_path / "grey.png")
    cv2.imwrite(str(tmp_path / "rgb.png"), np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(InputError, match="3 channels"):
        read_matte(tmp_path / "rgb.png")


# --- atomic writes ---------------------------------------------------------------------------------------------


def test_writes_leave_no_temporary_files(tmp_path):
    write_matte(tmp_path / "a.png", _matte(), "8")
    write_matte(tmp_path / "b.png", _matte(), "16")
    write_matte(tmp_path / "c.exr", _matte(), "half")
    write_label_map(tmp_path / "d.png", np.ones((3, 3), np.uint8))
    write_text_atomic(tmp_path / "e.txt", "text\n")
    assert _visible_and_hidden(tmp_path) == ["a.png", "b.png", "c.exr", "d.png", "e.txt"]


def test_overwriting_replaces_the_whole_file(tmp_path):
    path = tmp_path / "out.bin"
    write_bytes_atomic(path, b"x" * 1000)
    write_bytes_atomic(path, b"short")
    assert path.read_bytes() == b"short"
    assert _visible_and_hidden(tmp_path) == ["out.bin"]


def test_new_files_get_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        path = write_bytes_atomic(tmp_path / "out.bin", b"data")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_failed_rename_keeps_the_old_file_and_removes_the_temporary(tmp_path, monkeypatch):
    path = write_matte(tmp_path / "m.png", np.zeros((4, 4), np.float32), "8")
    old = path.read_bytes()

    def crash(source, destination):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(atomic_module.os, "replace", crash)
    with pytest.raises(OutputError, match=r"cannot write .*m\.png: Input/output error") as error:
        write_matte(path, np.ones((4, 4), np.float32), "8")
    assert "\n" not in str(error.value)
    assert path.read_bytes() == old
    assert _visible_and_hidden(tmp_path) == ["m.png"]


def test_an_interrupt_while_writing_removes_the_temporary(tmp_path, monkeypatch):
    path = write_bytes_atomic(tmp_path / "table.csv", b"old")

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic_module.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_bytes_atomic(path, b"new content")
    assert path.read_bytes() == b"old"
    assert _visible_and_hidden(tmp_path) == ["table.csv"]


def test_a_file_written_by_name_appears_whole_or_not_at_all(tmp_path):
    path = write_bytes_atomic(tmp_path / "preview.mp4", b"old")
    with pytest.raises(ValueError), atomic_module.write_atomic_by_name(path) as temporary:
        temporary.write_bytes(b"half a mov")
        raise ValueError("the encoder failed")
    assert path.read_bytes() == b"old"
    with atomic_module.write_atomic_by_name(path) as temporary:
        assert temporary.parent == tmp_path and temporary.name.startswith(".")
        temporary.write_bytes(b"new movie")
        assert path.read_bytes() == b"old"
    assert path.read_bytes() == b"new movie"
    assert _visible_and_hidden(tmp_path) == ["preview.mp4"]


def test_a_file_written_by_name_into_a_missing_folder(tmp_path):
    with pytest.raises(OutputError, match="does not exist"), atomic_module.write_atomic_by_name(tmp_path / "no" / "a"):
        pass


def test_temporary_name_is_hidden_and_keeps_the_extension(tmp_path):
    name = atomic_module.temp_name(tmp_path / "matte.0012.exr", "abcd1234")
    assert name == tmp_path / ".matte.0012.abcd1234.tmp.exr"


def _unwritable_folder(tmp_path: Path) -> tuple[Path, str]:
    """A folder writes into fail, with the words the error should use.

    chmod 0o500 stops ordinary users only; root (as in CI containers) writes anyway, so there a path whose
    parent is a regular file stands in: that fails for everyone.
    """
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    if not os.access(folder, os.W_OK):
        return folder, "not writable"
    folder.chmod(0o700)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    return blocker / "out", "is not a folder"


def test_unwritable_output_folder(tmp_path):
    folder, words = _unwritable_folder(tmp_path)
    try:
        with pytest.raises(OutputError, match=words) as error:
            write_matte(folder / "m.png", _matte(), "8")
        assert str(folder.parent if words == "is not a folder" else folder) in str(error.value)
        assert isinstance(error.value, InputError)  # the CLI maps both to exit code 2
        assert "\n" not in str(error.value)
        with pytest.raises(OutputError, match=words):
            ensure_output_folder(folder, create=False)
    finally:
        if folder.exists():
            folder.chmod(0o700)


def test_parent_is_a_regular_file(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match=re.escape(f"{blocker} is not a folder")):
        write_label_map(blocker / "sub" / "m.png", np.ones((2, 2), np.uint8))
    with pytest.raises(OutputError, match="cannot create output folder"):
        ensure_output_folder(blocker / "sub")
    with pytest.raises(OutputError, match="exists and is not a folder"):
        ensure_output_folder(blocker)
    assert blocker.read_text() == "x"


def test_missing_output_folder(tmp_path):
    with pytest.raises(OutputError, match=r"output folder .*missing does not exist"):
        write_matte(tmp_path / "missing" / "m.png", _matte(), "8")


def test_destination_is_a_folder(tmp_path):
    (tmp_path / "m.png").mkdir()
    with pytest.raises(OutputError, match="cannot write"):
        write_matte(tmp_path / "m.png", _matte(), "8")
    assert _visible_and_hidden(tmp_path) == ["m.png"]


def test_ensure_output_folder_creates_and_probes(tmp_path):
    folder = ensure_output_folder(tmp_path / "a" / "b")
    assert folder.is_dir() and _visible_and_hidden(folder) == []
