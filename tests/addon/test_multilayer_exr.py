"""A plate that Blender itself rendered to MultiLayer OpenEXR reads as its Combined pass.

The child renders a tiny scene (a coloured world, one Cycles sample) into a MultiLayer EXR (channels named
`ViewLayer.Combined.R` and so on), as a render handed to a roto artist would be; the engine then reads the file
as a plate.
"""

from __future__ import annotations

import numpy as np
import OpenEXR
import pytest

from engine.io import open_frames
from engine.io.view import STANDARD
from tests.addon.child_blender import run_child

pytestmark = pytest.mark.blender

RENDER = """
import sys
import bpy
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.render.engine = "CYCLES"
scene.cycles.device = "CPU"
scene.cycles.samples = 1
scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 16, 12, 100
world = bpy.data.worlds.new("plate")
world.use_nodes = True
world.node_tree.nodes["Background"].inputs["Color"].default_value = (0.18, 0.5, 0.05, 1.0)
scene.world = world
camera = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
scene.collection.objects.link(camera)
scene.camera = camera
settings = scene.render.image_settings
if hasattr(settings, "media_type"):  # from 5.0 the media type comes first and offers the format
    settings.media_type = "MULTI_LAYER_IMAGE"
settings.file_format = "OPEN_EXR_MULTILAYER"
scene.render.filepath = sys.argv[1]
bpy.ops.render.render(write_still=True)
"""


def test_a_multilayer_render_from_blender_is_read_as_its_combined_pass(tmp_path):
    target = tmp_path / "plate" / "render.0001.exr"
    run_child(RENDER, str(target))
    assert target.is_file()
    with OpenEXR.File(str(target), separate_channels=True) as exr:
        channels = {name: channel.pixels for name, channel in exr.channels().items()}
    combined = [name for name in channels if name.endswith(".Combined.R")]
    assert len(combined) == 1 and "R" not in channels, sorted(channels)  # named channels only: OpenCV reads none
    layer = combined[0].removesuffix(".R")
    rgb = np.stack([channels[f"{layer}.{c}"].astype(np.float32) for c in "RGB"], axis=2)

    frame = open_frames(target.parent)[0]

    assert frame.shape == (12, 16, 3)
    np.testing.assert_array_equal(frame, STANDARD.encode(rgb))
    assert abs(int(frame[..., 1].mean()) - 188) <= 2  # the world's 0.5 green, display-referred under Standard
