"""The engine receives the display pixels the artist sees: a scene-linear plate under AgX, Standard and a look.

A child Blender loads a linear EXR sequence as a clip, sets the scene's Color Management, and saves what
Blender itself displays for frame 1 (`Image.save_render`, Blender's own colour management, dither off), the
frame as the add-on streams it, and the view and config the add-on sends. Here, the engine turns the EXR file it
reads, and the streamed frame, into display pixels with that view and config; both must match Blender's.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import OpenEXR
import pytest

from engine.io.frames import open_frames
from engine.io.view import DisplayView
from engine.server.streamed import frame_pixels
from protocol import messages as m
from tests.addon.child_blender import run_child

pytestmark = pytest.mark.blender

WIDTH, HEIGHT = 32, 8
VIEWS = {
    "standard": {"view_transform": "Standard", "look": "None", "exposure": 0.0, "gamma": 1.0},
    "agx": {"view_transform": "AgX", "look": "None", "exposure": 0.0, "gamma": 1.0},
    "agx-punchy": {"view_transform": "AgX", "look": "AgX - Punchy", "exposure": 0.5, "gamma": 1.2},
    "filmic": {"view_transform": "Filmic", "look": "None", "exposure": -1.0, "gamma": 1.0},
}


def look_as_blender(folder: str) -> None:
    """For each setting in VIEWS: Blender's display of frame 1, the streamed frame, the view sent; runs in Blender."""
    import bpy

    from addon import colour, run_inputs

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.dither_intensity = 0.0
    settings = scene.render.image_settings
    if hasattr(settings, "media_type"):  # from 5.0 the media type comes first and offers the format
        settings.media_type = "IMAGE"
    settings.file_format, settings.color_mode, settings.color_depth = "PNG", "RGB", "8"
    clip = bpy.data.movieclips.load(str(Path(folder) / "plate_0001.exr"))
    sent = {"config": colour.blender_config()}
    for name, view in VIEWS.items():
        for key, value in view.items():
            setattr(scene.view_settings, key, value)
        image = bpy.data.images.load(str(Path(folder) / "plate_0002.exr"), check_existing=False)
        image.save_render(str(Path(folder) / f"{name}.png"), scene=scene)
        np.save(Path(folder) / f"{name}.npy", run_inputs.shot_from_clip(clip, stream=True).frames.read(1))
        sent[name] = colour.scene_view(scene)
    try:
        run_inputs.shot_from_clip(clip, stream=True, exr_layer="Denoised")
    except ValueError as error:
        sent["streamed layer"] = str(error)
    Path(folder, "sent.json").write_text(json.dumps(sent))


def _plate() -> np.ndarray:
    """Linear light from black to 4x diffuse white, in grey and in saturated colours: where views differ most."""
    ramp = np.geomspace(0.002, 4.0, WIDTH, dtype=np.float32)
    tints = np.array([[1, 1, 1], [1, 0.2, 0.05], [0.1, 0.8, 0.2], [0.05, 0.2, 1]], np.float32)
    return np.repeat(ramp[None, :, None] * tints[:, None, :], HEIGHT // len(tints), axis=0)


@pytest.fixture(scope="module")
def blender(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("views")
    rgb = _plate()
    for number in (1, 2):
        channels = {name: np.ascontiguousarray(rgb[:, :, i] * number / 2) for i, name in enumerate("RGB")}
        with OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION}, channels) as exr:
            exr.write(str(folder / f"plate_{number:04d}.exr"))
    script = "import sys; from tests.addon.test_view_transform import look_as_blender; look_as_blender(sys.argv[1])"
    run_child(script, str(folder))
    return folder, json.loads((folder / "sent.json").read_text())


def _as_blender_shows(folder: Path, name: str) -> np.ndarray:
    return cv2.imread(str(folder / f"{name}.png"), cv2.IMREAD_COLOR)[:, :, ::-1].astype(int)


@pytest.mark.parametrize("name", list(VIEWS))
def test_the_engine_reads_an_exr_plate_as_blender_displays_it(blender, name):
    """Within 2 levels in 255: OpenColorIO's CPU maths against Blender's, on the same config."""
    folder, sent = blender
    assert sent["config"].endswith("config.ocio")
    view = DisplayView(config=sent["config"], **sent[name])
    engine = open_frames(str(folder / "plate_####.exr"), view=view)[1].astype(int)
    assert np.abs(engine - _as_blender_shows(folder, name)).max() <= 2


@pytest.mark.parametrize("name", list(VIEWS))
def test_a_streamed_float_frame_reaches_the_network_as_blender_displays_it(blender, name):
    """Also within 2 levels: the streamed frame is float16, which rounds a level now and then."""
    folder, sent = blender
    view = DisplayView(config=sent["config"], **sent[name])
    linear = np.load(folder / f"{name}.npy")
    engine = frame_pixels(m.Frame(index=1, pixels=linear, colorspace="linear"), (HEIGHT, WIDTH), view).astype(int)
    assert np.abs(engine - _as_blender_shows(folder, name)).max() <= 2


def test_agx_and_standard_are_different_pictures(blender):
    """Why the view matters: AgX keeps the highlights that Standard clips to white."""
    folder, _ = blender
    standard, agx = _as_blender_shows(folder, "standard"), _as_blender_shows(folder, "agx")
    assert np.abs(standard - agx).mean() > 10
    grey_highlights = (slice(0, HEIGHT // 4), slice(-4, None))  # the grey rows' brightest columns: 1.6 to 4.0
    assert (standard[grey_highlights] == 255).all() and (agx[grey_highlights] < 250).all()


def test_a_named_exr_layer_is_never_streamed_but_read_by_the_engine(blender):
    """Blender's image loading cannot pick a layer, so a streamed run with one is refused, saying what to do."""
    _, sent = blender
    assert sent["streamed layer"] == (
        "The EXR layer 'Denoised' cannot be streamed: set 'Frames As' to 'File Paths' in the preferences"
    )
