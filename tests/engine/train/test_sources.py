"""File sources read DAVIS-format and static-image folders (grey and palette masks), refuse broken ones clearly,
and draw clips that are a pure function of the generator; the clip contract itself; mixtures by weight."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.io.palette import davis_palette
from engine.io.png import encode_indexed
from engine.learning.clip import Clip
from engine.train.composite import CompositeClips
from engine.train.data import build_source
from engine.train.options import DataSpec, TrainOptions
from engine.train.sources import DatasetError, DavisVideos, Mixture, StaticImages, pick_frames
from tests.paths import FIXTURES

HEIGHT, WIDTH = 48, 64


def _frame_and_labels(index: int, ids: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Noise with one square per id, drifting right by 2 pixels a frame; the squares have flat colours."""
    image = np.random.default_rng(index).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    labels = np.zeros((HEIGHT, WIDTH), np.uint8)
    for position, object_id in enumerate(ids):
        top, left = 6 + 20 * (position % 2), 4 + 2 * index + 22 * (position // 2)
        labels[top : top + 16, left : left + 16] = object_id
        image[labels == object_id] = davis_palette()[object_id]
    return image, labels


def _write_grey(path: Path, labels: np.ndarray) -> None:
    cv2.imwrite(str(path), (labels > 0).astype(np.uint8) * 255)


def _write_palette(path: Path, labels: np.ndarray) -> None:
    path.write_bytes(encode_indexed(labels, davis_palette()))


def write_davis(root: Path, layout: str = "", frames: int = 8) -> Path:
    """`root/JPEGImages[/layout]/<seq>/NNNNN.jpg` and Annotations: `one` (grey 0/255), `three` (palette, ids 1..3)."""
    for name, ids, write in (("one", (1,), _write_grey), ("three", (1, 2, 3), _write_palette)):
        images, annotations = (root / kind / layout / name for kind in ("JPEGImages", "Annotations"))
        images.mkdir(parents=True)
        annotations.mkdir(parents=True)
        for index in range(frames):
            image, labels = _frame_and_labels(index, ids)
            cv2.imwrite(str(images / f"{index:05d}.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            write(annotations / f"{index:05d}.png", labels)
    return root


def write_static(root: Path, count: int = 3) -> Path:
    """`root/images/NN.jpg|png` with `root/masks/NN.png`, alternately grey and palette masks."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for index in range(count):
        image, labels = _frame_and_labels(index, (1, 2) if index % 2 else (1,))
        suffix = ".png" if index % 2 else ".jpg"
        cv2.imwrite(str(root / "images" / f"{index:02d}{suffix}"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        (_write_palette if index % 2 else _write_grey)(root / "masks" / f"{index:02d}.png", labels)
    return root


def _check_clip(clip: Clip, frames: int, size: tuple[int, int], max_objects: int) -> None:
    assert clip.frames.shape == (frames, *size, 3) and clip.frames.dtype == np.uint8
    assert clip.labels.shape == (frames, *size) and clip.labels.dtype == np.uint8
    assert 1 <= clip.object_count <= max_objects
    assert set(np.unique(clip.labels[0])) - {0} == set(range(1, clip.object_count + 1))


def _same(first: Clip, second: Clip) -> bool:
    return np.array_equal(first.frames, second.frames) and np.array_equal(first.labels, second.labels)


# --- DavisVideos -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["", "480p"])
def test_davis_clips_are_well_formed_and_a_function_of_the_seed(tmp_path, layout):
    source = DavisVideos(write_davis(tmp_path, layout), frames=4, size=(32, 40), max_objects=2)
    clips = [source.sample(np.random.default_rng(seed)) for seed in range(12)]
    for clip in clips:
        _check_clip(clip, 4, (32, 40), 2)
    assert _same(clips[0], source.sample(np.random.default_rng(0)))
    assert not _same(clips[0], clips[1])
    assert {clip.object_count for clip in clips} == {1, 2}  # the grey video has one object, the palette one three


def test_davis_reads_palette_ids_and_keeps_at_most_max_objects(tmp_path):
    source = DavisVideos(write_davis(tmp_path), frames=3, size=(48, 64), max_objects=3)
    counts = {source.sample(np.random.default_rng(seed)).object_count for seed in range(10)}
    assert counts == {1, 3}
    one = DavisVideos(tmp_path, frames=3, size=(48, 64), max_objects=1)
    assert {one.sample(np.random.default_rng(seed)).object_count for seed in range(5)} == {1}


def test_davis_frames_after_the_first_are_deformed(tmp_path):
    """Frame 0 is only cropped: its flat-coloured squares keep their colour; later frames are jittered."""
    source = DavisVideos(write_davis(tmp_path), frames=3, size=(48, 64), max_objects=1)
    clip = source.sample(np.random.default_rng(4))
    first = clip.frames[0][cv2.erode(clip.labels[0], np.ones((5, 5), np.uint8)) > 0].astype(int)
    later = clip.frames[2][cv2.erode(clip.labels[2], np.ones((5, 5), np.uint8)) > 0].astype(int)
    colour = np.median(first, axis=0)
    assert np.abs(first - colour).max() <= 12  # JPEG's ringing only
    assert min(np.abs(colour - davis_palette()[i]).max() for i in (1, 2, 3)) <= 12
    assert np.abs(later.mean(axis=0) - first.mean(axis=0)).max() > 0.5


def test_resolution_picks_a_subfolder(tmp_path):
    write_davis(tmp_path, "Full-Resolution")
    source = DavisVideos(tmp_path, frames=2, size=(16, 16), resolution="Full-Resolution")
    assert len(source.videos) == 2
    with pytest.raises(DatasetError, match="no JPEGImages/480p"):
        DavisVideos(tmp_path, resolution="480p")


def test_frames_are_picked_in_order_and_within_max_skip():
    for seed in range(50):
        anywhere = pick_frames(30, 6, None, np.random.default_rng(seed))
        assert len(set(anywhere)) == 6 and (np.diff(anywhere) > 0).all() and anywhere.max() < 30
        near = pick_frames(30, 6, 3, np.random.default_rng(seed))
        assert ((np.diff(near) >= 1) & (np.diff(near) <= 3)).all() and near.min() >= 0 and near.max() < 30
        short = pick_frames(7, 6, 5, np.random.default_rng(seed))  # only consecutive frames fit
        np.testing.assert_array_equal(np.diff(short), 1)
    assert len(pick_frames(5, 1, 2, np.random.default_rng())) == 1


def test_missing_and_empty_davis_folders_are_refused(tmp_path):
    with pytest.raises(DatasetError, match="has no JPEGImages/ folder"):
        DavisVideos(tmp_path / "nowhere")
    (tmp_path / "JPEGImages").mkdir()
    (tmp_path / "Annotations").mkdir()
    with pytest.raises(ValueError, match="holds no sequences"):
        DavisVideos(tmp_path)


def test_a_frame_without_annotation_is_refused(tmp_path):
    write_davis(tmp_path)
    (tmp_path / "Annotations" / "three" / "00005.png").unlink()
    with pytest.raises(DatasetError, match=r"no mask in .*three for 00005\.jpg"):
        DavisVideos(tmp_path)


def test_a_video_shorter_than_a_clip_is_refused(tmp_path):
    with pytest.raises(DatasetError, match="has 3 frames, fewer than a clip's 6"):
        DavisVideos(write_davis(tmp_path, frames=3), frames=6)


def test_a_mask_of_the_wrong_size_is_reported_when_read(tmp_path):
    write_davis(tmp_path)
    for path in (tmp_path / "Annotations" / "one").iterdir():
        _write_grey(path, np.ones((10, 10), np.uint8))
    source = DavisVideos(tmp_path, frames=2, size=(16, 16))
    with pytest.raises(DatasetError, match="is 10x10 but its image is 64x48"):
        for seed in range(10):
            source.sample(np.random.default_rng(seed))


def test_empty_masks_end_in_an_error_not_a_loop(tmp_path):
    write_davis(tmp_path)
    for mask in (tmp_path / "Annotations").glob("*/*.png"):
        _write_grey(mask, np.zeros((HEIGHT, WIDTH), np.uint8))
    with pytest.raises(DatasetError, match="no object in frame 0"):
        DavisVideos(tmp_path, frames=2, size=(16, 16)).sample(np.random.default_rng())


def test_the_metric_fixture_is_annotations_only():
    """tests/fixtures/davis-metric has masks but no frames, so it cannot feed training; it is refused clearly."""
    fixture = FIXTURES / "davis-metric"
    with pytest.raises(DatasetError, match="has no JPEGImages/ folder"):
        DavisVideos(fixture)


# --- StaticImages ------------------------------------------------------------------------------------------


def test_static_clips_are_well_formed_and_a_function_of_the_seed(tmp_path):
    source = StaticImages(write_static(tmp_path), frames=5, size=(40, 40), max_objects=2)
    clips = [source.sample(np.random.default_rng(seed)) for seed in range(10)]
    for clip in clips:
        _check_clip(clip, 5, (40, 40), 2)
        assert not np.array_equal(clip.frames[0], clip.frames[1])  # later frames are deformed copies
    assert _same(clips[3], source.sample(np.random.default_rng(3)))
    assert {clip.object_count for clip in clips} == {1, 2}


@pytest.mark.parametrize(
    ("break_folder", "message"),
    [
        (lambda root: None, "no images/ folder"),
        (lambda root: (root / "images").mkdir(), "holds no .jpg or .png images"),
        (lambda root: (write_static(root), (root / "masks" / "01.png").unlink()), r"no mask in .*masks for 01\.png"),
    ],
    ids=["missing", "empty", "unannotated"],
)
def test_broken_static_folders_are_refused(tmp_path, break_folder, message):
    break_folder(tmp_path)
    with pytest.raises(ValueError, match=message):
        StaticImages(tmp_path)


# --- Mixture and Clip --------------------------------------------------------------------------------------


class _Constant:
    """A source whose clips say which source they came from (frames filled with `value`)."""

    def __init__(self, value: int) -> None:
        self.value = value

    def sample(self, rng: np.random.Generator) -> Clip:
        labels = np.ones((1, 4, 4), np.uint8)
        return Clip(np.full((1, 4, 4, 3), self.value, np.uint8), labels)


def test_mixture_picks_sources_by_weight():
    mixture = Mixture([_Constant(1), _Constant(2), _Constant(3)], [3, 1, 0])
    picks = [int(mixture.sample(np.random.default_rng(seed)).frames[0, 0, 0, 0]) for seed in range(400)]
    assert set(picks) == {1, 2}
    assert 0.65 < picks.count(1) / len(picks) < 0.85
    assert picks == [int(mixture.sample(np.random.default_rng(seed)).frames[0, 0, 0, 0]) for seed in range(400)]


@pytest.mark.parametrize(
    ("weights", "message"), [([1], "one weight per source"), ([1, -1], "non-negative"), ([0, 0], "positive sum")]
)
def test_mixture_refuses_bad_weights(weights, message):
    with pytest.raises(ValueError, match=message):
        Mixture([_Constant(1), _Constant(2)], weights)


def test_clip_checks_its_arrays():
    frames, labels = np.zeros((2, 4, 4, 3), np.uint8), np.zeros((2, 4, 4), np.uint8)
    labels[:, 0, :2] = [1, 2]
    assert Clip(frames, labels).object_count == 2
    with pytest.raises(ValueError, match="frames must be"):
        Clip(frames[..., 0], labels)
    with pytest.raises(ValueError, match="labels must be"):
        Clip(frames, labels.astype(np.int64))
    with pytest.raises(ValueError, match="at least one frame"):
        Clip(frames[:0], labels[:0])
    skipped = labels.copy()
    skipped[skipped == 2] = 3
    with pytest.raises(ValueError, match=r"object ids must be 1\.\.3"):
        Clip(frames, skipped)
    late = labels.copy()
    late[0, 0, 1] = 0  # object 2 appears only after frame 0
    with pytest.raises(ValueError, match="present in frame 0"):
        Clip(frames, late)


# --- CompositeClips and stills of videos -------------------------------------------------------------------


def _three_videos(root: Path) -> Path:
    write_davis(root)
    for kind in ("JPEGImages", "Annotations"):
        shutil.copytree(root / kind / "one", root / kind / "two")
    return root


def test_composites_hold_several_moving_objects_and_are_a_function_of_the_seed(tmp_path):
    source = CompositeClips(_three_videos(tmp_path), frames=4, size=(40, 48), max_objects=2)
    clips = [source.sample(np.random.default_rng(seed)) for seed in range(16)]
    for clip in clips:
        _check_clip(clip, 4, (40, 48), 2)
    assert _same(clips[5], source.sample(np.random.default_rng(5)))
    assert {clip.object_count for clip in clips} == {1, 2}
    moved = [not np.array_equal(clip.labels[0] == 1, clip.labels[-1] == 1) for clip in clips]
    assert all(moved)


def test_compositing_needs_two_videos(tmp_path):
    write_davis(tmp_path)
    shutil.rmtree(tmp_path / "JPEGImages" / "three")
    shutil.rmtree(tmp_path / "Annotations" / "three")
    with pytest.raises(DatasetError, match="at least two videos, found 1"):
        CompositeClips(tmp_path, frames=3, size=(32, 32))


def test_every_annotated_frame_of_a_video_folder_is_a_still(tmp_path):
    source = StaticImages(write_davis(tmp_path, frames=5), frames=3, size=(32, 32), max_objects=3)
    assert len(source.pairs) == 10
    _check_clip(source.sample(np.random.default_rng(0)), 3, (32, 32), 3)


@pytest.mark.parametrize(
    ("spec", "kind"),
    [("composite:{root}", CompositeClips), ("stills:{root}", StaticImages), ("{root}", DavisVideos)],
)
def test_a_prefix_picks_how_a_video_folder_is_used(tmp_path, spec, kind):
    root = _three_videos(tmp_path / "videos")
    options = TrainOptions(out=tmp_path / "run", data=(DataSpec.parse(spec.format(root=root)),), size=(32, 32))
    assert isinstance(build_source(options), kind)


def test_a_prefix_on_a_folder_that_is_not_one_of_videos_is_refused(tmp_path):
    options = TrainOptions(out=tmp_path / "run", data=(DataSpec.parse(f"composite:{tmp_path}"),), size=(32, 32))
    with pytest.raises(DatasetError):
        build_source(options)
