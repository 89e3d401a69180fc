"""Float plates become what the artist sees: Standard without any config, other views through OpenColorIO.

The config in tests/fixtures/ocio is named like Blender's and simple enough to compute by hand: "Standard" is the
sRGB transfer function, "Dim" halves scene-linear values first, and the look "Double" doubles them. Blender's own
config (AgX, Filmic) is compared with Blender's output by tests/addon/test_view_transform.py.
"""

from __future__ import annotations

import cv2
import numpy as np
import OpenEXR
import pytest

from engine.io import InputError, open_frames
from engine.io.view import STANDARD, DisplayView, srgb_oetf
from tests.paths import FIXTURES

CONFIG = str(FIXTURES / "ocio" / "config.ocio")
LINEAR = np.array([[[0.0, 0.18, 0.5], [1.0, 2.0, 0.01]], [[0.02, 0.7, 1.5], [np.nan, np.inf, -1.0]]], np.float32)


def by_hand(linear: np.ndarray, gain: float = 1.0, power: float = 1.0) -> np.ndarray:
    clean = np.nan_to_num(linear, nan=0.0, posinf=65504.0, neginf=0.0)
    return np.rint(srgb_oetf(np.clip(clean * gain, 0, 1)) ** power * 255).astype(np.uint8)


def test_plain_standard_is_the_srgb_transfer_function_and_needs_no_config():
    assert STANDARD.is_plain_srgb and DisplayView(look="").is_plain_srgb
    STANDARD.check()
    np.testing.assert_array_equal(STANDARD.encode(LINEAR), by_hand(LINEAR))


@pytest.mark.parametrize(
    ("view", "gain", "power"),
    [
        (DisplayView(view="Dim", config=CONFIG), 0.5, 1.0),
        (DisplayView(view="Dim", look="Double", config=CONFIG), 1.0, 1.0),
        (DisplayView(exposure=1.0, config=CONFIG), 2.0, 1.0),
        (DisplayView(view="Dim", exposure=-1.0, config=CONFIG), 0.25, 1.0),
        (DisplayView(gamma=2.0, config=CONFIG), 1.0, 0.5),
    ],
    ids=["view", "look", "exposure", "exposure and view", "gamma"],
)
def test_views_looks_exposure_and_gamma_apply_in_blenders_order(view, gain, power):
    view.check()
    encoded = view.encode(LINEAR)
    assert encoded.dtype == np.uint8 and encoded.shape == LINEAR.shape
    assert np.abs(encoded.astype(int) - by_hand(LINEAR, gain, power)).max() <= 1  # OpenColorIO's float maths


@pytest.mark.parametrize(
    ("view", "words"),
    [
        (DisplayView(view="AgX"), "needs an OpenColorIO config: give --ocio-config"),
        (DisplayView(view="AgX", config=CONFIG), "view 'AgX' is not a view of display 'sRGB' in"),
        (DisplayView(view="AgX", config=CONFIG), "it has: Standard, Dim"),
        (DisplayView(look="AgX - Punchy", config=CONFIG), "look 'AgX - Punchy' is not in"),
        (DisplayView(display="Display P3", config=CONFIG), "display 'Display P3' is not in"),
        (DisplayView(view="AgX", config="/no/such/config.ocio"), "/no/such/config.ocio does not exist"),
    ],
    ids=["no config", "unknown view", "lists the views", "unknown look", "unknown display", "missing config"],
)
def test_a_view_that_cannot_be_applied_is_one_clear_line_before_any_frame(view, words):
    with pytest.raises(InputError, match=words.replace("(", r"\(")) as refused:
        view.check()
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    "text", ["not: [a config", "", "ocio_profile_version: 2\nroles: {}\n"], ids=["yaml", "empty", "no colour spaces"]
)
def test_a_config_that_is_not_one_is_an_input_error(tmp_path, text):
    path = tmp_path / f"{abs(hash(text))}.ocio"
    path.write_text(text)
    with pytest.raises(InputError, match=str(path)):
        DisplayView(view="AgX", config=str(path)).check()


def test_an_exr_plate_is_read_through_the_view_and_a_byte_plate_as_stored(tmp_path):
    exr, png = tmp_path / "exr", tmp_path / "png"
    exr.mkdir(), png.mkdir()
    linear = np.abs(np.nan_to_num(LINEAR, nan=0.3, posinf=3.0))
    channels = {name: np.ascontiguousarray(linear[:, :, i]) for i, name in enumerate("RGB")}
    with OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION}, channels) as file:
        file.write(str(exr / "plate.0001.exr"))
    stored = STANDARD.encode(linear)
    cv2.imwrite(str(png / "plate.0001.png"), stored[:, :, ::-1])
    dim = DisplayView(view="Dim", config=CONFIG)

    np.testing.assert_array_equal(open_frames(exr, view=dim)[0], dim.encode(linear))
    assert not np.array_equal(open_frames(exr, view=dim)[0], open_frames(exr)[0])
    np.testing.assert_array_equal(open_frames(png, view=dim)[0], stored)


def test_a_view_is_checked_when_the_frames_open(tmp_path):
    (tmp_path / "plate.0001.png").write_bytes(cv2.imencode(".png", np.zeros((2, 2, 3), np.uint8))[1].tobytes())
    with pytest.raises(InputError, match="needs an OpenColorIO config"):
        open_frames(tmp_path, view=DisplayView(view="Filmic"))
