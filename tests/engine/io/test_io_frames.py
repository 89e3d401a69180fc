"""Reading a shot's frames: folders, patterns, videos, bit depths, EXR colour, and every bad-input path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.io import InputError, open_frames
from engine.io.patterns import natural_key
from engine.io.video import VideoFrames
from engine.io.view import STANDARD, srgb_oetf
from tests.engine.io.special_files import call_on_fifos, make_fifo, needs_fifo
from tests.paths import REPO


def _rgb(value: int, size: tuple[int, int] = (8, 6)) -> np.ndarray:
    """A flat HxWx3 RGB frame whose channels encode `value` differently, so channel order shows."""
    width, height = size
    frame = np.empty((height, width, 3), np.uint8)
    frame[:] = (value % 256, (value * 7) % 256, 255 - value % 256)
    return frame


def _write_rgb(path: Path, rgb: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), rgb[:, :, ::-1].copy())
    return path


def _one_line(error: pytest.ExceptionInfo[InputError]) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


# --- sources -------------------------------------------------------------------------------------------------


def test_folder_is_sorted_naturally_and_skips_hidden_and_other_files(tmp_path):
    for number in (10, 2, 1, 0):
        _write_rgb(tmp_path / f"frame{number}.png", _rgb(number))
    _write_rgb(tmp_path / ".frame3.png", _rgb(3))
    (tmp_path / "notes.txt").write_text("not a frame")
    (tmp_path / "sub").mkdir()
    (tmp_path / ".cache.png").mkdir()

    frames = open_frames(tmp_path)

    assert frames.names == ("frame0", "frame1", "frame2", "frame10")
    assert len(frames) == 4
    assert frames.size == (8, 6)
    assert frames.path == tmp_path
    for index, number in enumerate((0, 1, 2, 10)):
        frame = frames[index]
        assert frame.dtype == np.uint8 and frame.shape == (6, 8, 3)
        np.testing.assert_array_equal(frame, _rgb(number))
    np.testing.assert_array_equal(frames[-1], _rgb(10))
    assert [int(f[0, 0, 0]) for f in frames] == [0, 1, 2, 10]


def test_natural_key_orders_digit_runs_by_value():
    names = ["a10b2", "a2b10", "A2b9", "a1", "b", "a10b10"]
    assert sorted(names, key=natural_key) == ["a1", "A2b9", "a2b10", "a10b2", "a10b10", "b"]


@pytest.mark.parametrize("pattern", ["plate.%04d.png", "plate.####.png"])
def test_printf_and_hash_patterns_with_a_frame_range(tmp_path, pattern):
    for number in range(1001, 1006):
        _write_rgb(tmp_path / f"plate.{number:04d}.png", _rgb(number))
    _write_rgb(tmp_path / "plate.01002.png", _rgb(0))  # padded differently: not part of the pattern
    _write_rgb(tmp_path / "other.1003.png", _rgb(0))

    everything = open_frames(tmp_path / pattern)
    assert everything.names == ("1001", "1002", "1003", "1004", "1005")
    assert everything.numbers == (1001, 1002, 1003, 1004, 1005)

    frames = open_frames(tmp_path / pattern, first_number=1002, last_number=1004)
    assert frames.names == ("1002", "1003", "1004")
    assert frames.numbers == (1002, 1003, 1004)
    for frame, number in zip(frames, frames.numbers, strict=True):
        np.testing.assert_array_equal(frame, _rgb(number))


def test_unpadded_printf_pattern(tmp_path):
    for number in (8, 9, 10, 11):
        _write_rgb(tmp_path / f"f_{number}.png", _rgb(number))
    _write_rgb(tmp_path / "f_07.png", _rgb(7))  # "%d" does not match zero-padded numbers
    frames = open_frames(tmp_path / "f_%d.png")
    assert frames.names == ("8", "9", "10", "11")


def test_a_path_that_exists_is_not_read_as_a_pattern(tmp_path):
    folder = tmp_path / "take#2"
    folder.mkdir()
    _write_rgb(folder / "00000.png", _rgb(1))
    assert open_frames(folder).names == ("00000",)


def test_16_bit_png_scales_to_8_bits(tmp_path):
    values = np.array([[0, 257, 128 * 257, 65535, 65534, 32767]], np.uint16)
    cv2.imwrite(str(tmp_path / "a.png"), values)
    frame = open_frames(tmp_path)[0]
    np.testing.assert_array_equal(frame[0, :, 0], [0, 1, 128, 255, 255, 127])
    np.testing.assert_array_equal(frame[:, :, 0], frame[:, :, 2])  # grey is repeated to three channels


def test_jpeg_grey_and_alpha(tmp_path):
    _write_rgb(tmp_path / "a.jpg", _rgb(40, (16, 16)))
    frames = open_frames(tmp_path)
    assert np.abs(frames[0].astype(int) - _rgb(40, (16, 16))).max() <= 3

    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2], rgba[..., 3] = 10, 20, 30, 0  # BGRA, fully transparent
    alpha_folder = tmp_path / "alpha"
    alpha_folder.mkdir()
    cv2.imwrite(str(alpha_folder / "x.png"), rgba)
    frame = open_frames(alpha_folder)[0]
    assert frame.shape == (4, 5, 3)
    np.testing.assert_array_equal(frame[0, 0], [30, 20, 10])  # alpha dropped, colour kept, RGB order


def test_exr_scene_linear_becomes_display_srgb(tmp_path):
    linear = np.array([[0.0, 0.18, 1.0, 4.0, -1.0, 0.002, 0.5]], np.float32)
    bgr = np.repeat(linear[:, :, None], 3, axis=2)
    bgr[0, 0] = (0.0, 0.18, 1.0)  # B, G, R of the first pixel differ: checks the channel order too
    assert cv2.imwrite(str(tmp_path / "plate.0001.exr"), bgr)

    frame = open_frames(tmp_path / "plate.####.exr")[0]

    assert frame.dtype == np.uint8
    np.testing.assert_array_equal(frame[0, 0], [255, 118, 0])
    # 0 -> 0, 0.18 -> 0.4613 -> 118, 1 -> 255, clipped above 1 and below 0, linear toe 12.92 * 0.002, 0.5 -> 188
    np.testing.assert_array_equal(frame[0, 1:, 1], [118, 255, 255, 0, 7, 188])
    assert float(srgb_oetf(np.float32(0.18))) == pytest.approx(0.4613, abs=1e-4)


def test_half_float_exr_and_nan_are_handled(tmp_path):
    values = np.array([[np.nan, np.inf, 0.18]], np.float32)
    np.testing.assert_array_equal(STANDARD.encode(values), [[0, 255, 118]])
    assert cv2.imwrite(str(tmp_path / "a.exr"), np.full((3, 4), 0.18, np.float32), [cv2.IMWRITE_EXR_TYPE, 1])
    np.testing.assert_array_equal(open_frames(tmp_path)[0], np.full((3, 4, 3), 118, np.uint8))


def _python(code: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter (OpenCV reads its EXR switch once per process) from the repository."""
    env = {key: value for key, value in os.environ.items() if key != "OPENCV_IO_ENABLE_OPENEXR"} | environment
    repository = REPO
    return subprocess.run(
        [sys.executable, "-c", code], cwd=repository, env=env, capture_output=True, text=True, timeout=60
    )


def test_exr_works_even_when_cv2_was_imported_first(tmp_path):
    code = (
        "import cv2, numpy as np\n"
        "import engine.io\n"
        f"cv2.imwrite({str(tmp_path / 'a.exr')!r}, np.full((2, 2), 0.18, np.float32))\n"
        f"print(engine.io.open_frames({str(tmp_path)!r})[0][0, 0, 0])\n"
    )
    result = _python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "118"


def test_exr_plates_read_even_where_opencvs_exr_codec_is_switched_off(tmp_path):
    assert cv2.imwrite(str(tmp_path / "a.exr"), np.full((2, 2), 0.18, np.float32))
    code = f"import engine.io\nprint(engine.io.open_frames({str(tmp_path)!r})[0].tolist())\n"
    result = _python(code, OPENCV_IO_ENABLE_OPENEXR="0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str([[[118] * 3] * 2] * 2)  # 0.18 linear is sRGB 118


def _write_video(path: Path, fourcc: str, count: int, size=(32, 24)) -> None:
    writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*fourcc), 25, size)
    assert writer.isOpened(), f"this OpenCV build cannot write {fourcc}"
    for index in range(count):
        frame = np.full((size[1], size[0], 3), (index * 20) % 256, np.uint8)
        frame[:4, :4] = 255 if index % 2 else 0  # neighbours differ, so an off-by-one read shows
        writer.write(frame)
    writer.release()


def _decode_all(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame[:, :, ::-1])
    capture.release()
    return frames


def test_video_frames_names_and_colours(tmp_path):
    path = tmp_path / "shot.avi"
    _write_video(path, "MJPG", 6)
    with open_frames(path) as frames:
        assert isinstance(frames, VideoFrames)
        assert len(frames) == 6
        assert frames.names == ("00000", "00001", "00002", "00003", "00004", "00005")
        assert frames.size == (32, 24)
        for index, frame in enumerate(frames):
            assert frame.shape == (24, 32, 3)
            assert abs(int(np.median(frame[8:, 8:])) - index * 20) <= 3


def test_a_video_knows_its_frame_rate_and_images_do_not(tmp_path):
    path = tmp_path / "shot.avi"
    _write_video(path, "MJPG", 2)
    assert open_frames(path).frame_rate == 25
    (tmp_path / "frames").mkdir()
    _write_rgb(tmp_path / "frames" / "00000.png", _rgb(10))
    assert open_frames(tmp_path / "frames").frame_rate is None


@pytest.mark.parametrize("cache_bytes", [1, 256 * 1024 * 1024])
def test_video_random_access_equals_sequential_decoding(tmp_path, cache_bytes):
    path = tmp_path / "shot.mp4"  # MPEG-4 part 2: predicted frames, so a wrong seek shows
    _write_video(path, "mp4v", 40)
    expected = _decode_all(path)
    frames = VideoFrames(path, cache_bytes=cache_bytes)
    assert len(frames) == len(expected) == 40
    order = [*range(39, -1, -1), 5, 6, 30, 3, 39, 0, 20, 21, 22, 38]
    for index in order:
        np.testing.assert_array_equal(frames[index], expected[index], err_msg=f"frame {index}")
    frames.close()
    np.testing.assert_array_equal(frames[7], expected[7])  # reading after close reopens


class _CaptureThatCannotSeek:
    """A decoder whose seeks fail, as some containers' do: reading must fall back to decoding from the start."""

    def __init__(self, capture: cv2.VideoCapture) -> None:
        self._capture = capture

    def set(self, prop: int, value: float) -> bool:
        return False

    def __getattr__(self, name: str):
        return getattr(self._capture, name)


def test_video_random_access_without_seeking(tmp_path, monkeypatch):
    path = tmp_path / "shot.mp4"
    _write_video(path, "mp4v", 30)
    expected = _decode_all(path)
    open_capture = VideoFrames._open
    monkeypatch.setattr(VideoFrames, "_open", lambda self: _CaptureThatCannotSeek(open_capture(self)))
    frames = VideoFrames(path, cache_bytes=1)
    for index in [29, 3, 28, 27, 0, 15, 14, 29]:
        np.testing.assert_array_equal(frames[index], expected[index], err_msg=f"frame {index}")


def test_frames_are_copies_and_index_errors(tmp_path):
    path = tmp_path / "shot.avi"
    _write_video(path, "MJPG", 3)
    frames = open_frames(path)
    frame = frames[1]
    frame[:] = 0
    assert frames[1].any()
    with pytest.raises(IndexError):
        frames[3]
    with pytest.raises(IndexError):
        frames[-4]
    with pytest.raises(TypeError):
        frames[0:2]
    assert "3 frames, 32x24" in repr(frames)


def test_check_reads_every_frame(tmp_path):
    for number in range(3):
        _write_rgb(tmp_path / f"{number:05d}.png", _rgb(number))
    open_frames(tmp_path).check()


# --- bad input -----------------------------------------------------------------------------------------------


def test_missing_frames_folder(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(InputError, match="does not exist") as error:
        open_frames(missing)
    assert str(missing) in _one_line(error)


def test_empty_folder_and_folder_without_images(tmp_path):
    with pytest.raises(InputError, match="holds no images") as error:
        open_frames(tmp_path)
    assert str(tmp_path) in _one_line(error)
    (tmp_path / "readme.txt").write_text("x")
    (tmp_path / ".hidden.png").write_bytes(b"x")
    with pytest.raises(InputError, match="holds no images"):
        open_frames(tmp_path)


@pytest.mark.parametrize("pattern", ["plate.%04d.png", "plate.####.png", "missing/plate.####.png"])
def test_pattern_matching_nothing(tmp_path, pattern):
    _write_rgb(tmp_path / "plate.001.png", _rgb(1))  # three digits: not matched by a width-4 pattern
    with pytest.raises(InputError, match=r"no files match|does not exist") as error:
        open_frames(tmp_path / pattern)
    _one_line(error)


def test_pattern_with_a_gap_names_the_missing_frame(tmp_path):
    for number in (1, 2, 4, 6):
        _write_rgb(tmp_path / f"p{number:03d}.png", _rgb(number))
    with pytest.raises(InputError, match="and 1 more") as error:
        open_frames(tmp_path / "p###.png")
    assert str(tmp_path / "p003.png") in _one_line(error)
    with pytest.raises(InputError, match=r"p007\.png is missing$"):
        open_frames(tmp_path / "p###.png", first_number=6, last_number=7)
    with pytest.raises(InputError, match=r"no files of .* in the frame range 7-9"):
        open_frames(tmp_path / "p###.png", first_number=7, last_number=9)
    with pytest.raises(InputError, match="last before first"):
        open_frames(tmp_path / "p###.png", first_number=4, last_number=2)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_unreadable_image_in_the_middle_is_named_when_read(tmp_path, damage):
    paths = [_write_rgb(tmp_path / f"{number:05d}.png", _rgb(number, (64, 48))) for number in range(5)]
    bad = paths[2]
    data = bad.read_bytes()
    bad.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"not a png at all", "empty": b""}[damage])

    frames = open_frames(tmp_path)  # opening reads the first frame only
    np.testing.assert_array_equal(frames[1], _rgb(1, (64, 48)))
    with pytest.raises(InputError) as error:
        frames[2]
    assert str(bad) in _one_line(error)
    with pytest.raises(InputError, match="00002"):
        frames.check()
    np.testing.assert_array_equal(frames[3], _rgb(3, (64, 48)))


def test_frame_deleted_after_opening(tmp_path):
    paths = [_write_rgb(tmp_path / f"{number:05d}.png", _rgb(number)) for number in range(3)]
    frames = open_frames(tmp_path)
    paths[1].unlink()
    with pytest.raises(InputError, match="does not exist") as error:
        frames[1]
    assert str(paths[1]) in _one_line(error)


def test_frame_of_a_different_size(tmp_path):
    _write_rgb(tmp_path / "00000.png", _rgb(0, (8, 6)))
    odd = _write_rgb(tmp_path / "00001.png", _rgb(1, (8, 7)))
    frames = open_frames(tmp_path)
    with pytest.raises(InputError, match="is 8x7 but the shot's frames are 8x6") as error:
        frames[1]
    assert str(odd) in _one_line(error)


def test_first_frame_unreadable_fails_at_open(tmp_path):
    (tmp_path / "00000.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(InputError, match="cannot be decoded"):
        open_frames(tmp_path)


def test_mixed_formats_in_a_folder(tmp_path):
    _write_rgb(tmp_path / "00000.png", _rgb(0))
    _write_rgb(tmp_path / "00001.jpg", _rgb(1))
    with pytest.raises(InputError, match=r"mixes \.jpg and \.png"):
        open_frames(tmp_path)


def test_single_image_and_unknown_files(tmp_path):
    image = _write_rgb(tmp_path / "plate.0001.png", _rgb(0))
    with pytest.raises(InputError, match="single image"):
        open_frames(image)
    other = tmp_path / "notes.txt"
    other.write_text("x")
    with pytest.raises(InputError, match="neither a folder"):
        open_frames(other)
    with pytest.raises(InputError, match="frame range applies to a numbered pattern"):
        open_frames(tmp_path, first_number=1)


def test_bad_videos(tmp_path):
    missing = tmp_path / "missing.mov"
    with pytest.raises(InputError, match=r"video .* does not exist"):
        open_frames(missing)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00" * 1000)
    with pytest.raises(InputError) as error:
        open_frames(garbage)
    assert str(garbage) in _one_line(error)


def test_truncated_video_has_the_frames_that_decode(tmp_path):
    path = tmp_path / "shot.mkv"  # Matroska stays readable when cut short; AVI and MP4 keep an index at the end
    _write_video(path, "MJPG", 10)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 6 // 10])
    frames = open_frames(path)
    assert 1 <= len(frames) < 10
    expected = _decode_all(path)
    assert len(frames) == len(expected)
    np.testing.assert_array_equal(frames[len(frames) - 1], expected[-1])


# --- entries that look like frames but are not regular files ----------------------------------------------------


def _shot_with(tmp_path: Path, names: list[str], odd: str, make) -> Path:
    """Frames `names` as PNGs except `odd`, which `make(path)` creates instead; returns the odd entry's path."""
    for number, name in enumerate(names):
        if name != odd:
            _write_rgb(tmp_path / name, _rgb(number))
    path = tmp_path / odd
    make(path)
    return path


def _folder_names(suffix: str = ".png") -> list[str]:
    return [f"{number:05d}{suffix}" for number in range(4)]


def _pattern_names() -> list[str]:
    return [f"plate.{number:04d}.png" for number in range(1001, 1005)]


@needs_fifo
@pytest.mark.parametrize("odd", ["00002.png", "00003.png"])
def test_a_named_pipe_among_the_frames_of_a_folder_is_an_error_at_open(tmp_path, odd):
    fifo = _shot_with(tmp_path, _folder_names(), odd, make_fifo)
    error = call_on_fifos(lambda: open_frames(tmp_path), fifo)
    assert isinstance(error, InputError), f"the folder opened without {odd}: later frames shift by one"
    assert str(error) == f"frame {fifo} is a named pipe (FIFO), not a file"
    assert error.path == str(fifo)


@needs_fifo
@pytest.mark.parametrize("odd", ["plate.1003.png", "plate.1004.png"])
@pytest.mark.parametrize("pattern", ["plate.####.png", "plate.%04d.png"])
def test_a_named_pipe_among_the_frames_of_a_pattern_is_an_error_at_open(tmp_path, odd, pattern):
    fifo = _shot_with(tmp_path, _pattern_names(), odd, make_fifo)
    error = call_on_fifos(lambda: open_frames(tmp_path / pattern), fifo)
    assert isinstance(error, InputError), f"the pattern opened without {odd}"
    assert str(error) == f"frame {fifo} is a named pipe (FIFO), not a file"


def test_a_folder_named_like_a_frame_in_a_frames_folder_is_an_error_at_open(tmp_path):
    folder = _shot_with(tmp_path, _folder_names(".jpg"), "00002.jpg", Path.mkdir)
    with pytest.raises(InputError) as error:
        open_frames(tmp_path)
    assert _one_line(error) == f"frame {folder} is a folder, not a file"


@pytest.mark.parametrize("odd", ["plate.1003.png", "plate.1004.png"])
def test_a_folder_named_like_a_frame_in_a_pattern_is_an_error_at_open(tmp_path, odd):
    folder = _shot_with(tmp_path, _pattern_names(), odd, Path.mkdir)
    with pytest.raises(InputError) as error:
        open_frames(tmp_path / "plate.####.png")
    assert _one_line(error) == f"frame {folder} is a folder, not a file"


def test_a_folder_outside_the_chosen_range_or_not_matching_the_pattern_is_ignored(tmp_path):
    _shot_with(tmp_path, _pattern_names(), "plate.1004.png", Path.mkdir)
    (tmp_path / "plate.01002.png").mkdir()  # padded differently: not a frame of the pattern
    frames = open_frames(tmp_path / "plate.####.png", first_number=1001, last_number=1003)
    assert frames.names == ("1001", "1002", "1003")


def test_a_broken_link_named_like_a_frame_is_an_error_at_open(tmp_path):
    link = _shot_with(tmp_path, _folder_names(), "00001.png", lambda path: path.symlink_to(tmp_path / "gone.png"))
    with pytest.raises(InputError, match=r"00001\.png is a link to .*gone\.png, which does not exist"):
        open_frames(tmp_path)
    assert link.is_symlink()


def test_links_to_frames_are_frames(tmp_path):
    plates = tmp_path / "plates"
    plates.mkdir()
    shot = tmp_path / "shot"
    shot.mkdir()
    for number in range(3):
        (shot / f"{number:05d}.png").symlink_to(_write_rgb(plates / f"p{number}.png", _rgb(number)))
    frames = open_frames(shot)
    assert frames.names == ("00000", "00001", "00002")
    np.testing.assert_array_equal(frames[2], _rgb(2))


@needs_fifo
def test_a_frame_swapped_for_a_named_pipe_after_opening(tmp_path):
    paths = [_write_rgb(tmp_path / f"{number:05d}.png", _rgb(number)) for number in range(3)]
    frames = open_frames(tmp_path)
    paths[1].unlink()
    fifo = make_fifo(paths[1])
    error = call_on_fifos(lambda: frames[1], fifo)
    assert isinstance(error, InputError)
    assert str(error) == f"frame {fifo} is a named pipe (FIFO), not a file"


@needs_fifo
def test_a_named_pipe_given_as_a_video(tmp_path):
    fifo = make_fifo(tmp_path / "shot.mp4")
    error = call_on_fifos(lambda: open_frames(fifo), fifo)
    assert isinstance(error, InputError)
    assert str(error) == f"video {fifo} is a named pipe (FIFO), not a file"
