"""Derived names that Blender would cut are shortened so they are found again: result layers and result Masks.

The pure rule runs here; the datablocks are made by a fresh Blender in a child process, so no state leaks.
"""

from __future__ import annotations

import pytest

from addon import names
from addon.mask_layers import RESULT_SUFFIX, is_result_layer
from tests.addon.child_blender import child_report

pytestmark = pytest.mark.blender

LONG = "background plate element, left side, behind the moving car number"  # 65 characters


def test_a_name_that_fits_is_left_as_it_is():
    assert names.fitted("hero", RESULT_SUFFIX, 63) == "hero (propagated)"


@pytest.mark.parametrize("base", [LONG, "é" * 40, "a" * 62], ids=["ascii", "two-byte characters", "just over"])
def test_a_long_name_keeps_its_suffix_and_fits_in_bytes(base):
    name = names.fitted(base, RESULT_SUFFIX, 63)
    assert len(name.encode()) <= 63 and name.endswith(RESULT_SUFFIX) and is_result_layer(name)
    assert name.startswith(base[:10])
    name.encode().decode("utf-8")  # cut on a character boundary


def test_two_long_names_that_start_alike_stay_apart():
    assert names.fitted(LONG + " A", RESULT_SUFFIX, 63) != names.fitted(LONG + " B", RESULT_SUFFIX, 63)


CHILD = """
import json, sys
import bpy
import numpy as np
from addon import mask_layers, result_sink

bpy.ops.wm.read_factory_settings(use_empty=True)
long = sys.argv[1]
mask = bpy.data.masks.new(long[:60])
square = np.array([[2, 2], [12, 2], [12, 12], [2, 12]], np.float32)
for _ in range(2):  # a second run must find and replace the first run's layer and Mask
    target = result_sink.result_mask(mask)
    name = mask_layers.result_layer_name(long)
    mask_layers.write_object_layer(target, 1, name, {1: [(square, False)]}, 16, 16)
    mask_layers.record_layer_of(target, name, long)
print("CHILD " + json.dumps({
    "masks": sorted(m.name for m in bpy.data.masks),
    "layers": [layer.name for layer in target.layers],
    "asked": name,
    "layer_of": dict(target[mask_layers.LAYER_OF]),
}))
"""


def test_a_second_run_finds_the_result_layer_and_mask_of_long_names_again():
    found = child_report(CHILD, LONG)
    assert len(found["masks"]) == 2  # the drawn Mask and one result Mask, not one more per run
    assert found["layers"] == [found["asked"]]  # Blender kept the whole name, and the second run replaced the layer
    assert found["layer_of"] == {found["asked"]: LONG}
