"""Augmentations: each keeps images and labels consistent, never invents ids, and depends only on its generator."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.learning.augment import (
    colour_jitter,
    hflip,
    hide_and_seek,
    perturb_mask,
    random_affine,
    random_resized_crop,
    select_objects,
)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _noise(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _squares(height: int = 48, width: int = 64, ids: tuple[int, ...] = (1, 2, 3)) -> np.ndarray:
    """A label map of one 12x12 square per id, side by side."""
    labels = np.zeros((height, width), np.uint8)
    for position, object_id in enumerate(ids):
        labels[10:22, 4 + 18 * position : 16 + 18 * position] = object_id
    return labels


# --- select_objects ----------------------------------------------------------------------------------------


def test_select_objects_caps_the_count_and_numbers_from_one():
    labels = np.stack([_squares(ids=(3, 7, 9)), _squares(ids=(3, 7, 5))])
    for seed in range(10):
        kept = select_objects(labels, 2, rng(seed))
        assert set(np.unique(kept[0])) == {0, 1, 2}
        assert set(np.unique(kept[1])) <= {0, 1, 2}  # id 5 is not in frame 0: background
        for new_id in (1, 2):  # each kept object keeps its pixels, in every frame
            old_id = labels[0][kept[0] == new_id][0]
            np.testing.assert_array_equal(kept == new_id, labels == old_id)


def test_select_objects_shuffles_which_object_gets_which_id():
    labels = _squares(ids=(4, 6))[None]
    firsts = {int(select_objects(labels, 2, rng(seed))[0, 15, 8]) for seed in range(20)}
    assert firsts == {1, 2}


def test_select_objects_with_an_empty_first_frame_keeps_nothing():
    labels = np.stack([np.zeros((8, 8), np.uint8), np.full((8, 8), 3, np.uint8)])
    assert not select_objects(labels, 2, rng()).any()


# --- random_affine -----------------------------------------------------------------------------------------

AFFINE = {"degrees": 20, "translate": 0.1, "scale": (0.9, 1.1), "shear": 10}


def test_random_affine_moves_image_and_labels_together():
    labels = _squares()
    image = np.stack([labels * 80, 255 - labels * 80, np.full_like(labels, 128)], axis=2)
    for seed in range(10):
        warped, warped_labels = random_affine(image, labels, rng(seed), **AFFINE)
        assert warped.shape == image.shape and warped.dtype == np.uint8
        assert warped_labels.shape == labels.shape and warped_labels.dtype == np.uint8
        assert set(np.unique(warped_labels)) <= {0, 1, 2, 3}
        for object_id in (1, 2, 3):  # 2 pixels in from its edge, every bilinear tap lies inside the object
            interior = cv2.erode((warped_labels == object_id).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
            assert interior.any()
            assert (warped[interior][:, 0] == 80 * object_id).all()


def test_random_affine_with_no_range_is_the_identity():
    image, labels = _noise((32, 40, 3)), _squares(32, 40, (1,))
    warped, warped_labels = random_affine(image, labels, rng(), 0, 0, (1, 1), 0)
    np.testing.assert_array_equal(warped, image)
    np.testing.assert_array_equal(warped_labels, labels)


def test_random_affine_is_a_function_of_the_generator():
    image, labels = _noise((32, 40, 3)), _squares(32, 40)
    first, again, other = (random_affine(image, labels, rng(seed), **AFFINE) for seed in (1, 1, 2))
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])


# --- colour_jitter, hflip ----------------------------------------------------------------------------------


def test_colour_jitter_without_range_changes_nothing():
    image = _noise((16, 16, 3))
    out = colour_jitter(image, rng(), 0, 0, 0, 0)
    assert np.abs(out.astype(int) - image).max() <= 1  # the hue step's HSV round trip


def test_colour_jitter_changes_colours_within_its_range():
    image = _noise((32, 32, 3))
    outs = [colour_jitter(image, rng(seed), 0.1, 0.1, 0.1, 0.02) for seed in range(5)]
    assert all(out.shape == image.shape and out.dtype == np.uint8 for out in outs)
    assert all(not np.array_equal(out, image) for out in outs)
    assert all(abs(out.astype(float).mean() - image.mean()) < 0.2 * image.mean() for out in outs)
    np.testing.assert_array_equal(outs[0], colour_jitter(image, rng(0), 0.1, 0.1, 0.1, 0.02))


def test_brightness_scales_and_grey_stays_grey():
    grey = np.full((4, 4, 3), 100, np.uint8)
    out = colour_jitter(grey, rng(), 0.5, 0, 0.5, 0.5)
    assert (out == out[:1, :1]).all() and (out[0, 0] == out[0, 0, 0]).all()
    assert 50 <= out[0, 0, 0] <= 150


def test_hflip_mirrors_images_and_labels():
    image, labels = _noise((4, 6, 3)), _squares(4, 6, ())
    np.testing.assert_array_equal(hflip(image)[:, 0], image[:, -1])
    np.testing.assert_array_equal(hflip(hflip(labels)), labels)
    assert hflip(image).flags.c_contiguous


# --- random_resized_crop ------------------------------------------------------------------------------------


def test_crop_size_types_and_labels():
    images, labels = _noise((3, 48, 64, 3)), np.stack([_squares()] * 3)
    out, out_labels = random_resized_crop(images, labels, (40, 30), rng())
    assert out.shape == (3, 40, 30, 3) and out.dtype == np.uint8
    assert out_labels.shape == (3, 40, 30) and out_labels.dtype == np.uint8
    assert set(np.unique(out_labels)) <= {0, 1, 2, 3}


def test_one_window_for_the_clip_unless_independent():
    images, labels = np.stack([_noise((48, 64, 3))] * 4), np.stack([_squares()] * 4)
    shared, _ = random_resized_crop(images, labels, (32, 32), rng(), scale=(0.2, 0.5))
    assert all(np.array_equal(frame, shared[0]) for frame in shared)
    apart, _ = random_resized_crop(images, labels, (32, 32), rng(), scale=(0.2, 0.5), independent=True)
    assert not all(np.array_equal(frame, apart[0]) for frame in apart)


def test_crop_is_drawn_again_until_frame_zero_has_foreground():
    labels = np.zeros((1, 100, 100), np.uint8)
    labels[0, :20, :20] = 1  # in a corner: 85 % of the windows of a quarter of the area miss it
    images = _noise((1, 100, 100, 3))
    found = [
        random_resized_crop(images, labels, (20, 20), rng(s), scale=(0.25, 0.25), tries=30)[1].any() for s in range(20)
    ]
    missed = [
        random_resized_crop(images, labels, (20, 20), rng(s), scale=(0.25, 0.25), tries=1)[1].any() for s in range(20)
    ]
    assert sum(found) >= 18 and sum(missed) <= 8


def test_crop_falls_back_to_the_centre_when_no_window_fits():
    labels = np.stack([_squares(48, 96)])
    images = np.arange(48 * 96 * 3, dtype=np.int64).reshape(1, 48, 96, 3).astype(np.uint8)
    out, _ = random_resized_crop(images, labels, (48, 48), rng(), scale=(0.9, 1.0), ratio=(1.0, 1.0))
    np.testing.assert_array_equal(out[0], images[0, :, 24:72])


# --- hide_and_seek -----------------------------------------------------------------------------------------


def test_hide_and_seek_with_probability_zero_returns_the_same_values():
    image = _noise((30, 40, 3))
    np.testing.assert_array_equal(hide_and_seek(image, rng(), 0.0), image)


def test_hide_and_seek_with_probability_one_hides_every_cell():
    image = _noise((30, 40, 3))
    hidden = hide_and_seek(image, rng(), 1.0, grid=4)
    mean = np.round(image.reshape(-1, 3).mean(axis=0))
    assert (hidden == mean).all()


def test_hide_and_seek_hides_whole_cells():
    image = _noise((40, 40, 3))
    hidden = hide_and_seek(image, rng(3), 0.5, grid=4)
    changed = (hidden != image).any(axis=2)
    cells = changed.reshape(4, 10, 4, 10).mean(axis=(1, 3))
    assert set(np.unique(cells)) == {0.0, 1.0}  # every cell all kept or all hidden (noise never equals its mean)


# --- perturb_mask ------------------------------------------------------------------------------------------


def _blobs() -> np.ndarray:
    labels = np.zeros((64, 64), np.uint8)
    labels[8:30, 8:30] = 1
    labels[34:56, 30:60] = 2
    return labels


@pytest.mark.parametrize(
    "probabilities",
    [(1, 1, 1), (1, 0, 0), (0, 1, 0), (0, 0, 1)],
    ids=["all", "swap", "flip", "morph"],
)
def test_perturb_mask_changes_the_mask_but_only_moves_ids(probabilities):
    labels = _blobs()
    for seed in range(10):
        out = perturb_mask(labels, rng(seed), *probabilities)
        assert not np.array_equal(out, labels)
        assert set(np.unique(out)) <= set(np.unique(labels))
        assert out.shape == labels.shape and out.dtype == np.uint8


def test_perturb_mask_flip_only_exchanges_one_object_and_background():
    labels = _blobs()
    out = perturb_mask(labels, rng(1), 0, 1, 0)
    changed = out != labels
    pairs = {(int(a), int(b)) for a, b in zip(labels[changed], out[changed], strict=True)}
    assert pairs in ({(1, 0), (0, 1)}, {(2, 0), (0, 2)}, {(1, 0)}, {(2, 0)}, {(0, 1)}, {(0, 2)})


def test_perturb_mask_without_probability_or_objects_changes_nothing():
    np.testing.assert_array_equal(perturb_mask(_blobs(), rng(), 0, 0, 0), _blobs())
    empty = np.zeros((16, 16), np.uint8)
    np.testing.assert_array_equal(perturb_mask(empty, rng(), 1, 1, 1), empty)
    whole = np.ones((16, 16), np.uint8)  # a single id: nothing to swap it with
    assert set(np.unique(perturb_mask(whole, rng(), 1, 0, 0))) == {1}


def test_perturb_mask_is_a_function_of_the_generator():
    first, again = (perturb_mask(_blobs(), rng(5), 1, 1, 1) for _ in range(2))
    np.testing.assert_array_equal(first, again)
