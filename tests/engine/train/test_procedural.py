"""Procedural clips: a pure function of the seed, well-formed labels, and the motion and occlusion of video."""

from __future__ import annotations

import numpy as np
import pytest

from engine.learning.clip import Clip
from engine.train.procedural import ProceduralClips


def _clips(count: int, source: ProceduralClips | None = None) -> list[Clip]:
    source = source or ProceduralClips()
    return [source.sample(np.random.default_rng(seed)) for seed in range(count)]


def _contact(labels: np.ndarray) -> bool:
    """Whether two different objects touch anywhere: with random placement, that means one covers the other."""
    for a, b in ((labels[:, 1:], labels[:, :-1]), (labels[:, :, 1:], labels[:, :, :-1])):
        if ((a != b) & (a > 0) & (b > 0)).any():
            return True
    return False


def test_same_seed_same_clip_and_other_seeds_other_clips():
    source = ProceduralClips(frames=4, size=(64, 80))
    first, again = (source.sample(np.random.default_rng(7)) for _ in range(2))
    other = source.sample(np.random.default_rng(8))
    np.testing.assert_array_equal(first.frames, again.frames)
    np.testing.assert_array_equal(first.labels, again.labels)
    assert not np.array_equal(first.frames, other.frames)


@pytest.mark.parametrize(("frames", "size"), [(6, (96, 96)), (3, (64, 80)), (1, (40, 32))])
def test_shapes_and_types(frames, size):
    clip = ProceduralClips(frames, size).sample(np.random.default_rng(0))
    assert clip.frames.shape == (frames, *size, 3) and clip.frames.dtype == np.uint8
    assert clip.labels.shape == (frames, *size) and clip.labels.dtype == np.uint8


def test_objects_are_numbered_from_one_and_all_shown_in_frame_zero():
    counts = set()
    for clip in _clips(60, ProceduralClips(max_objects=3)):
        ids = set(np.unique(clip.labels[0])) - {0}
        assert ids == set(range(1, clip.object_count + 1))
        assert set(np.unique(clip.labels)) <= ids | {0}
        counts.add(clip.object_count)
    assert counts == {1, 2, 3}


def test_max_objects_caps_the_count():
    assert {clip.object_count for clip in _clips(20, ProceduralClips(max_objects=1))} == {1}


def test_objects_and_background_move():
    for clip in _clips(30):
        assert not np.array_equal(clip.labels[0], clip.labels[-1])
        assert not np.array_equal(clip.frames[0], clip.frames[-1])


def test_objects_hide_one_another_and_leave_the_frame_in_some_clips():
    clips = _clips(100)
    assert sum(_contact(clip.labels) for clip in clips) >= 10
    edges = [np.concatenate([c.labels[:, 0], c.labels[:, -1], c.labels[:, :, 0], c.labels[:, :, -1]], 1) for c in clips]
    assert sum(edge.any() for edge in edges) >= 10


def test_objects_are_textured_not_flat():
    clip = ProceduralClips(size=(128, 128), max_objects=1).sample(np.random.default_rng(3))
    inside = clip.frames[0][clip.labels[0] == 1]
    assert inside.std(axis=0).max() > 2


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"frames": 0}, "at least one frame"),
        ({"size": (16, 96)}, "at least 32 pixels"),
        ({"max_objects": 0}, "max_objects"),
        ({"max_objects": 256}, "from 1 to 255"),
    ],
)
def test_bad_arguments_are_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        ProceduralClips(**arguments)
