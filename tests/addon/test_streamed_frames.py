"""Streamed frames as Blender reads them: byte images as stored, float images (EXR) as scene-linear float16,
which the engine turns into the same display frame it reads from the file itself."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.io.atomic import write_bytes_atomic
from engine.io.frames import open_frames
from engine.io.images import encode_image
from engine.io.view import STANDARD

pytestmark = pytest.mark.blender

REPO = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = 16, 8


def stream_frames(folder: str) -> None:
    """Load each sequence of `folder` as a clip and stream its frame 1, as the add-on does; runs in Blender."""
    import bpy

    from addon import run_inputs

    bpy.ops.wm.read_factory_settings(use_empty=True)
    looks = {}
    for kind in ("exr", "png"):
        clip = bpy.data.movieclips.load(str(Path(folder) / kind / f"plate_0001.{kind}"))
        frames = run_inputs.shot_from_clip(clip, stream=True).frames
        np.save(Path(folder) / f"{kind}.npy", frames.read(1))
        looks[kind] = frames.colorspace
    Path(folder, "looks.json").write_text(json.dumps(looks))


def _write_plates(folder: Path) -> None:
    """Two frames of a colour ramp: a linear EXR sequence (values past 1, as highlights are) and an 8-bit PNG one."""
    ramp = np.linspace(0.0, 1.5, WIDTH * HEIGHT * 3, dtype=np.float32).reshape(HEIGHT, WIDTH, 3)
    for number in (1, 2):
        bgr = ramp[:, :, ::-1] * number / 2
        for kind, image in (("exr", bgr), ("png", STANDARD.encode(bgr))):
            (folder / kind).mkdir(exist_ok=True)
            write_bytes_atomic(folder / kind / f"plate_{number:04d}.{kind}", encode_image(f".{kind}", image))


@pytest.fixture(scope="module")
def streamed(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("streamed")
    _write_plates(folder)
    script = "import sys; from tests.addon.test_streamed_frames import stream_frames; stream_frames(sys.argv[1])"
    done = subprocess.run([sys.executable, "-c", script, str(folder)], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return folder


def test_float_images_stream_as_scene_linear_half_floats(streamed):
    pixels = np.load(streamed / "exr.npy")
    assert json.loads((streamed / "looks.json").read_text())["exr"] == "linear"
    assert pixels.dtype == np.float16 and pixels.shape == (HEIGHT, WIDTH, 3)
    assert pixels.max() > 1.0  # highlights arrive unclipped; the engine clips them as it does reading the file


def test_the_engine_makes_a_streamed_exr_frame_what_it_reads_from_the_file(streamed):
    """Up to float16's rounding: a level now and then, where a value sits on an 8-bit boundary."""
    from_file = open_frames(str(streamed / "exr" / "plate_####.exr"))[1].astype(int)
    difference = np.abs(STANDARD.encode(np.load(streamed / "exr.npy")).astype(int) - from_file)
    assert difference.max() <= 1 and (difference == 0).mean() > 0.99


def test_byte_images_stream_as_their_stored_values(streamed):
    pixels = np.load(streamed / "png.npy")
    assert json.loads((streamed / "looks.json").read_text())["png"] == "srgb"
    assert pixels.dtype == np.uint8
    np.testing.assert_array_equal(pixels, open_frames(str(streamed / "png" / "plate_####.png"))[1])
