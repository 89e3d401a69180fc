"""The review pictures of a shot the real engine propagated: read back and checked for what a supervisor relies
on (which frames, which colours, which captions, a movie that plays), and bad folders named in one line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from engine.choices import REVIEW_BELOW
from engine.exit_codes import BAD_INPUT, run_reporting_errors
from engine.io import InputError, OutputError, open_frames, read_label_map, read_matte, write_label_map, write_matte
from engine.io.palette import davis_palette
from engine.review import MissingExtra, ShotReview, captions, write_review
from engine.review.contact_sheet import GAP, SheetLayout, compose, lowest_confidence
from engine.review.overlay import FILL_OPACITY, draw_overlay, fit_width
from engine.review.preview_movie import write_movie
from engine.review.shot_results import read_layers, read_results
from protocol.confidence_table import table_json
from tests.paths import FIXTURES

PLATES = FIXTURES / "davis-quarter" / "JPEGImages" / "blackswan"  # six frames of 214x120
ANNOTATIONS = FIXTURES / "davis-quarter" / "Annotations" / "blackswan"
KEYFRAMES = (0, 5)
NECK = 60  # rows above it: the swan's neck and head, object 2; below: its body, object 1
TILE = (320, 179)  # 214x120 at the sheet's 320 px
CAPTIONED = TILE[1] + captions.HEIGHT


def _two_object_mask(index: int, folder: Path) -> Path:
    swan = cv2.imread(str(ANNOTATIONS / f"{index:05d}.png"), cv2.IMREAD_GRAYSCALE) > 0
    labels = swan.astype(np.uint8)
    labels[:NECK][swan[:NECK]] = 2
    return write_label_map(folder / f"mask-{index}.png", labels)


@pytest.fixture(scope="module")
def shot(tmp_path_factory, one_thread_env) -> Path:
    """A finished shot folder as a user's run leaves it: the swan (two objects) propagated by the shipped network
    from keyframes 0 and 5."""
    folder = tmp_path_factory.mktemp("shot")
    masks = [arg for index in KEYFRAMES for arg in ("--mask", str(_two_object_mask(index, folder)))]
    mask_frames = [arg for index in KEYFRAMES for arg in ("--mask-frame", str(index))]
    out = folder / "out"
    command = [sys.executable, "-m", "engine", "propagate", "--frames", str(PLATES), *masks, *mask_frames]
    command += ["--out", str(out), "--device", "cpu", "-q"]
    subprocess.run(command, env=one_thread_env, check=True, timeout=300)
    return out


@pytest.fixture(scope="module")
def review(shot) -> ShotReview:
    return write_review(shot, open_frames(PLATES))


@pytest.fixture
def copied(shot, tmp_path) -> Path:
    """The shot's folder without its review, to damage."""
    out = tmp_path / "out"
    shutil.copytree(shot, out, ignore=shutil.ignore_patterns("review"))
    return out


def _rgb(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1].astype(np.int32)


def _frame_confidence(shot: Path) -> dict[int, float]:
    return read_results(shot, open_frames(PLATES)).frame_confidence


def test_the_review_is_four_files_in_the_review_folder(shot, review):
    folder = shot / "review"
    assert review == ShotReview(
        folder / "contact_sheet.png", folder / "confidence.png", folder / "preview.mp4", folder / "worst.png"
    )
    assert sorted(p.name for p in folder.iterdir()) == [
        "confidence.png",
        "contact_sheet.png",
        "preview.mp4",
        "worst.png",
    ]


def test_the_contact_sheet_is_a_grid_of_every_frame_of_a_short_shot(review):
    sheet = _rgb(review.contact_sheet)
    columns, rows = 4, 2  # six frames, fewer than the twelve a sheet shows
    assert sheet.shape == (GAP + rows * (CAPTIONED + GAP), GAP + columns * (TILE[0] + GAP), 3)


def test_the_overlay_tints_each_object_in_its_label_map_colour(shot, review):
    """Frame 0 is a keyframe: its mattes are the drawn mask, opaque, so its fill is exactly the opacity's blend."""
    left, top = SheetLayout(6, TILE).origin(0)
    tile = _rgb(review.contact_sheet)[top : top + TILE[1], left : left + TILE[0]]
    plate = cv2.resize(open_frames(PLATES)[0], TILE, interpolation=cv2.INTER_LINEAR).astype(np.float64)
    labels = cv2.resize(read_label_map(shot / "labels" / "00000.png"), TILE, interpolation=cv2.INTER_NEAREST)
    for object_id in (1, 2):
        inside = cv2.erode((labels == object_id).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        colour = davis_palette()[object_id].astype(np.float64)
        tinted = plate[inside] + FILL_OPACITY * (colour - plate[inside])
        assert inside.sum() > 50
        assert np.abs(tile[inside] - tinted).mean() < 2
        assert (
            np.linalg.norm(tile[inside] - colour, axis=1).mean() < np.linalg.norm(plate[inside] - colour, axis=1).mean()
        )
    away = cv2.dilate((labels > 0).astype(np.uint8), np.ones((9, 9), np.uint8)) == 0
    assert np.abs(tile[away] - plate[away]).mean() < 1


def test_each_tile_is_captioned_in_red_where_its_frame_needs_review(shot, review):
    sheet = _rgb(review.contact_sheet)
    confidence = _frame_confidence(shot)
    assert min(confidence.values()) < REVIEW_BELOW <= max(confidence.values())  # both kinds of caption show
    layout = SheetLayout(6, TILE)
    for position, index in enumerate(sorted(confidence)):
        left, top = layout.origin(position)
        strip = sheet[top + TILE[1] : top + CAPTIONED, left : left + TILE[0]]
        text = strip[np.abs(strip - captions.BACKING).sum(axis=-1) > 90]
        assert len(text) > 40, f"no caption under frame {index}"
        red = (text[:, 0] - text[:, 2]).mean() > 40
        assert red == (confidence[index] < REVIEW_BELOW), f"frame {index}, confidence {confidence[index]}"


def test_the_plot_draws_each_object_in_its_colour(review):
    plot = _rgb(review.confidence_plot)
    assert plot.shape == (360, 1000, 3)
    assert len(np.unique(plot.reshape(-1, 3), axis=0)) > 50
    for object_id in (1, 2):
        line = np.abs(plot - davis_palette()[object_id].astype(np.int32)).sum(axis=-1) < 40
        assert line.sum() > 200, f"no line of object {object_id}"


def test_the_preview_is_h264_with_every_frame(review):
    with av.open(str(review.preview)) as container:
        stream = container.streams.video[0]
        pictures = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert stream.average_rate == 24  # image plates record no frame rate
    assert len(pictures) == 6
    assert {picture.shape for picture in pictures} == {(120, 214, 3)}
    data = review.preview.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # the index first: a browser plays it while it loads


def test_a_movie_keeps_an_ntsc_frame_rate(tmp_path):
    """A video plate's rate as OpenCV reports it (29.97002997...) is the exact 30000/1001, not 2997/100."""
    pictures = [np.full((48, 64, 3), value, np.uint8) for value in (0, 128, 255)]
    write_movie(tmp_path / "movie.mp4", pictures, (64, 48), 30000 / 1001)
    with av.open(str(tmp_path / "movie.mp4")) as container:
        assert container.streams.video[0].average_rate == Fraction(30000, 1001)
        assert len(list(container.decode(video=0))) == 3


def test_the_thumbnail_is_the_least_confident_frame(shot, review):
    frames = open_frames(PLATES)
    results = read_results(shot, frames)
    worst = min(results.frame_confidence, key=results.frame_confidence.get)
    expected = draw_overlay(frames[worst], *read_layers(results, worst, frames.size), (240, 135))
    assert np.array_equal(_rgb(review.worst), expected)


def test_keyframes_come_from_the_runs_manifest(shot, copied):
    assert read_results(shot, open_frames(PLATES)).keyframes == KEYFRAMES
    (copied / "manifest.json").unlink()
    assert read_results(copied, open_frames(PLATES)).keyframes == ()


def test_exr_mattes_give_the_same_sheet(review, copied):
    for png in sorted((copied / "mattes").rglob("*.png")):
        write_matte(png.with_suffix(".exr"), read_matte(png), "half")
        png.unlink()
    again = write_review(copied, open_frames(PLATES), movie=False)
    assert again.preview is None
    assert np.abs(_rgb(again.contact_sheet) - _rgb(review.contact_sheet)).max() <= 1


# --- layout, without a shot ----------------------------------------------------------------------------------


def test_the_least_confident_frames_are_shown_in_frame_order():
    confidence = {0: 1.0, 1: 0.2, 2: 0.5, 3: 0.1, 4: 0.2, 5: 0.9}
    assert lowest_confidence(confidence, 3) == [1, 3, 4]
    assert lowest_confidence(confidence, 1) == [3]
    assert lowest_confidence(confidence, 12) == [0, 1, 2, 3, 4, 5]


def test_a_sheet_of_fewer_frames_than_columns_is_one_row():
    pictures = [np.zeros((30, 40, 3), np.uint8)] * 2
    sheet = compose(pictures, [("00001  conf 0.10", captions.LOW)] * 2)
    assert sheet.shape == (GAP + 30 + captions.HEIGHT + GAP, GAP + 2 * (40 + GAP), 3)


def test_a_caption_never_rounds_a_frame_up_to_the_threshold():
    assert captions.caption("00036", 0.4998, keyframe=False) == "00036  conf 0.49"
    assert captions.caption("00000", 1.0, keyframe=True) == "00000  conf 1.00  key"


def test_a_long_frame_name_is_shrunk_into_its_tile():
    strip = np.zeros((captions.HEIGHT, 200, 3), np.uint8)
    captions.write(strip, "plate_sh010_comp_v003.1012  conf 0.31", captions.TEXT, 0, 0, 100)
    assert strip[:, :100].any()
    assert not strip[:, 100:].any()


@pytest.mark.parametrize(
    ("size", "width", "even", "fitted"),
    [((214, 120), 320, False, (320, 179)), ((1920, 1080), 960, True, (960, 540)), ((215, 121), 215, True, (214, 120))],
)
def test_pictures_keep_the_plates_aspect(size, width, even, fitted):
    assert fit_width(size, width, even) == fitted


# --- bad folders -------------------------------------------------------------------------------------------------


def _fails(out: Path, error: type[Exception], *named: str, frames_path: Path = PLATES) -> None:
    """`write_review` raises `error`, one line naming each of `named`, and writes no review."""
    with pytest.raises(error) as raised:
        write_review(out, open_frames(frames_path))
    message = str(raised.value)
    assert "\n" not in message
    for name in named:
        assert name in message
    assert not (out / "review").is_dir() or not any((out / "review").iterdir())


def test_a_folder_without_a_confidence_table(copied):
    (copied / "confidence.json").unlink()
    _fails(copied, InputError, str(copied / "confidence.json"))


def test_an_empty_confidence_table(copied):
    (copied / "confidence.json").write_text(table_json([]))
    _fails(copied, InputError, str(copied / "confidence.json"), "no frames")


@pytest.mark.parametrize("missing", ["labels/00003.png", "mattes/obj2/00004.png"])
def test_a_missing_label_map_or_matte(copied, missing):
    (copied / missing).unlink()
    _fails(copied, InputError, str(copied / missing), "missing")


def test_plates_of_another_size(copied):
    _fails(
        copied,
        InputError,
        str(copied / "labels" / "00000.png"),
        "214x120",
        frames_path=FIXTURES / "davis-clip" / "frames",
    )


def test_a_file_where_the_review_folder_goes(copied):
    (copied / "review").write_text("not a folder")
    _fails(copied, OutputError, str(copied / "review"))


def test_a_read_only_shot_folder(copied):
    copied.chmod(0o555)
    try:
        if os.access(copied, os.W_OK):
            pytest.skip("permissions do not stop this user (root)")
        _fails(copied, OutputError, str(copied / "review"), "not writable")
    finally:
        copied.chmod(0o755)


@pytest.mark.parametrize("package", ["matplotlib", "av"])
def test_a_missing_package_says_how_to_install_it(copied, monkeypatch, package):
    monkeypatch.setitem(sys.modules, package, None)  # what `import` then raises: ImportError
    _fails(copied, MissingExtra, package, "pip install 'maskprop[review]'")


def test_the_command_line_reports_a_bad_folder_as_one_line_and_exit_code_2(copied, capsys):
    (copied / "labels" / "00002.png").unlink()
    assert run_reporting_errors(lambda: write_review(copied, open_frames(PLATES)) and 0) == BAD_INPUT
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: label map ")
