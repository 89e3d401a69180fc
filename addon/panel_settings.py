"""The Propagate panel's settings, saved with the scene (`scene.maskprop`), and which mask layers take part.

Object `i + 1` is the mask's layer `i` counting drawn layers only (result layers written into the mask are not
objects), so ids stay put when a layer is switched off here.
"""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from .review import remark_review

DIRECTIONS = [
    ("both", "Both", "Propagate forward and backward from the keyframe"),
    ("forward", "Forward", "Propagate to later frames only"),
    ("backward", "Backward", "Propagate to earlier frames only"),
]
READERS = [
    ("global", "Global", "Match each frame against the whole memory (most robust)"),
    ("kernel", "Kernel", "Match within a window around each position (steadier on small objects)"),
    ("spatial", "Spatial", "Match nearby positions only (fastest)"),
]


class MASKPROP_object(bpy.types.PropertyGroup):
    """Whether one mask layer (by name) takes part; mask layers cannot hold properties of their own."""

    enabled: BoolProperty(name="Propagate", description="Propagate this layer", default=True)


def _threshold_changed(settings: bpy.types.PropertyGroup, context: bpy.types.Context) -> None:
    remark_review(settings.id_data)  # a named function: the annotations are evaluated apart from this module


class MASKPROP_settings(bpy.types.PropertyGroup):
    """The panel's settings, saved with the scene."""

    use_clip_range: BoolProperty(name="Whole Clip", description="Propagate over every frame of the clip", default=True)
    first: IntProperty(name="First", description="First scene frame to propagate to", default=1)
    last: IntProperty(name="Last", description="Last scene frame to propagate to", default=250)
    direction: EnumProperty(name="Direction", items=DIRECTIONS, default="both")
    reader: EnumProperty(name="Reader", description="How the network reads its memory", items=READERS)
    use_network_size: BoolProperty(
        name="Network's Size",
        description="Work at the size the network was trained at (its best); off: at the Internal Size below",
        default=True,
    )
    max_size: IntProperty(
        name="Internal Size",
        description="Shorter side the engine works at, in pixels; 0 works at the clip's own size",
        default=480,
        min=0,
        max=4096,
    )
    learn_shot: BoolProperty(
        name="Learn This Shot",
        description=(
            "Before propagating, fine-tune a copy of the network on the drawn keyframes: better mattes on a hard "
            "shot, for about 20 s more on a CPU (the engine's own network never changes)"
        ),
        default=False,
    )
    learn_steps: IntProperty(
        name="Learning Steps",
        description="Steps of learning the keyframes; about half a second each on a CPU for a 480-line clip",
        default=40,
        min=1,
        max=1000,
    )
    threshold: FloatProperty(
        name="Review Below",
        description="Frames whose confidence is below this get a review marker",
        default=0.5,
        min=0.0,
        max=1.0,
        update=_threshold_changed,
    )
    write_into_mask: BoolProperty(
        name="Into This Mask",
        description=(
            "Add the propagated layers to this Mask, beside the drawn layers (which then stop rendering), "
            "instead of to a separate Mask named after it"
        ),
        default=False,
    )
    exr_layer: StringProperty(
        name="EXR Layer",
        description=(
            "Layer of MultiLayer EXR plates for the engine to read, in full (ViewLayer.Denoised) or by its pass "
            "name (Denoised); empty reads the image, else the Combined pass"
        ),
    )
    objects: CollectionProperty(type=MASKPROP_object)
    result_folder: StringProperty(name="Results", description="Cache folder of the last imported run")
    result_mask: StringProperty(name="Result Mask", description="Mask the last run was imported onto")
    result_first_frame: IntProperty(name="Result Start", description="Scene frame of the last run's shot frame 0")


def object_enabled(settings: MASKPROP_settings, layer_name: str) -> bool:
    """Layers are propagated unless the artist switched them off."""
    item = settings.objects.get(layer_name)
    return True if item is None else item.enabled


def set_object_enabled(settings: MASKPROP_settings, layer_name: str, enabled: bool) -> None:
    item = settings.objects.get(layer_name)
    if item is None:
        item = settings.objects.add()
        item.name = layer_name
    item.enabled = enabled


classes = (MASKPROP_object, MASKPROP_settings)


def register() -> None:
    for cls in classes:
        bpy.utils.register_class(cls)
    bpy.types.Scene.maskprop = bpy.props.PointerProperty(type=MASKPROP_settings)


def unregister() -> None:
    del bpy.types.Scene.maskprop
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
