"""A run the panel cannot start says why, before anything is sent or written.

A fresh Blender loads the DAVIS fixture clip, draws a one-layer Mask, and asks for three runs that cannot be:
the keyframe (the current frame) outside the clip, every layer switched off, and a range that leaves the keyframe
out. Each must be a `ValueError` with the artist's words, with no cache folder created.
"""

from __future__ import annotations

import pytest

from tests.addon.child_blender import REPO, child_report

pytestmark = pytest.mark.blender

CLIP = REPO / "tests" / "fixtures" / "davis-clip" / "frames" / "00000.jpg"

CHILD = """
import json, sys
import bpy
from addon import panel_settings, propagate, run_inputs
from addon.core.session import Engine

bpy.ops.wm.read_factory_settings(use_empty=True)
panel_settings.register()
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[2])
scene = bpy.context.scene
clip = bpy.data.movieclips.load(sys.argv[1])
clip.frame_start = 1
mask = bpy.data.masks.new("Shot mask")
spline = mask.layers.new(name="hero").splines.new()
spline.use_cyclic = True
spline.points.add(3)
for point, co in zip(spline.points, [(0.2, 0.4), (0.6, 0.4), (0.6, 0.6), (0.2, 0.6)]):
    point.co = co
settings = scene.maskprop
nobody = Engine("tcp://127.0.0.1:9", timeout=0.3)

def refusal():
    try:
        propagate.start_run(scene, clip, mask, nobody, stream=False)
    except ValueError as error:
        return str(error)
    return "started"

found = {}
scene.frame_set(clip.frame_duration + 5)
found["outside"] = refusal()
scene.frame_set(2)
panel_settings.set_object_enabled(settings, "hero", False)
found["no layers"] = refusal()
panel_settings.set_object_enabled(settings, "hero", True)
settings.use_clip_range, settings.first, settings.last = False, 4, 6
found["range"] = refusal()
found["cache written"] = run_inputs.cache_folder(clip).exists()
panel_settings.unregister()  # bpy crashes or hangs at exit with add-on classes still registered
print("CHILD " + json.dumps(found))
"""


def test_runs_that_cannot_be_are_refused_with_the_reason_and_nothing_written(tmp_path):
    found = child_report(CHILD, str(CLIP), str(tmp_path / "shot.blend"))
    assert found["outside"] == "Frame 13 is outside the clip (frames 1-8)"
    assert found["no layers"] == "The mask 'Shot mask' has no enabled layers to propagate"
    assert found["range"] == "The keyframe 2 must lie inside the range to propagate"
    assert found["cache written"] is False
