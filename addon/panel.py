"""The "Propagate" sidebar panel, drawn by one function in the three editors where an artist works on a mask.

The Movie Clip Editor and the Image Editor (both in Mask mode) and the compositor get the same panel; what
differs is only where the mask and the clip come from (`targets`), and the panel offers the scene's choice
for whatever the editor does not provide. It only draws properties and operators.
"""

from __future__ import annotations

import bpy

from . import operators, panel_settings, run_inputs, targets
from .core import engine_status

STATUS_ICONS = {"unknown": "QUESTION", "starting": "SORTTIME", "connected": "CHECKMARK", "failed": "ERROR"}


class _PropagatePanel:
    """What the three panels share; each subclass only names its editor."""

    bl_label = "Propagate Mask"
    bl_region_type = "UI"
    bl_category = "Propagate"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return targets.panel_shown(context.space_data)

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        settings = context.scene.maskprop
        _draw_engine(layout)
        for name in targets.scene_choices(context.space_data.type):
            layout.prop(context.scene, name)
        found = targets.from_context(context)
        if isinstance(found, str):
            layout.label(text=found, icon="INFO")
            return
        mask, _ = found
        _draw_objects(layout.box(), mask, settings)
        column = layout.column(align=True)
        column.label(text=f"Keyframe: {context.scene.frame_current}")
        column.prop(settings, "use_clip_range")
        row = column.row(align=True)
        row.enabled = not settings.use_clip_range
        row.prop(settings, "first")
        row.prop(settings, "last")
        column.prop(settings, "direction", expand=True)
        column.prop(settings, "reader")
        column.prop(settings, "use_network_size")
        row = column.row()
        row.enabled = not settings.use_network_size
        row.prop(settings, "max_size")
        column.prop(settings, "learn_shot")
        row = column.row()
        row.enabled = settings.learn_shot
        row.prop(settings, "learn_steps")
        column.prop(settings, "exr_layer")
        column.prop(settings, "write_into_mask")
        _draw_run(layout, settings)


def _draw_engine(layout: bpy.types.UILayout) -> None:
    status = engine_status.current()
    layout.label(text=status.text, icon=STATUS_ICONS[status.state])
    layout.operator("maskprop.test_connection", icon="LINKED")


def _draw_objects(layout: bpy.types.UILayout, mask: bpy.types.Mask, settings: panel_settings.MASKPROP_settings) -> None:
    layout.label(text="Objects")
    objects = run_inputs.object_layers(mask.layers)
    if not objects:
        layout.label(text="Draw one mask layer per object", icon="INFO")
    for object_id, layer in objects:
        enabled = panel_settings.object_enabled(settings, layer.name)
        icon = "CHECKBOX_HLT" if enabled else "CHECKBOX_DEHLT"
        layout.operator("maskprop.toggle_object", text=f"{object_id}: {layer.name}", icon=icon).layer = layer.name


def _draw_run(layout: bpy.types.UILayout, settings: panel_settings.MASKPROP_settings) -> None:
    run = operators.active_run()
    if run is not None:
        progress = run.progress
        row = layout.row(align=True)
        row.progress(factor=progress.done / max(progress.total, 1), type="BAR", text=progress.message)
        row.operator("maskprop.cancel", text="", icon="CANCEL")
        return
    label = "Re-propagate from This Frame" if settings.result_folder else "Propagate"
    layout.operator("maskprop.propagate", text=label, icon="PLAY")
    if not settings.result_folder:
        return
    layout.prop(settings, "threshold", slider=True)
    row = layout.row(align=True)
    row.operator("maskprop.jump_review", text="Previous", icon="TRIA_LEFT").previous = True
    row.operator("maskprop.jump_review", text="Next", icon="TRIA_RIGHT").previous = False


class MASKPROP_PT_propagate(_PropagatePanel, bpy.types.Panel):
    bl_space_type = "CLIP_EDITOR"


class MASKPROP_PT_propagate_image(_PropagatePanel, bpy.types.Panel):
    bl_space_type = "IMAGE_EDITOR"


class MASKPROP_PT_propagate_compositor(_PropagatePanel, bpy.types.Panel):
    bl_space_type = "NODE_EDITOR"


classes = (MASKPROP_PT_propagate, MASKPROP_PT_propagate_image, MASKPROP_PT_propagate_compositor)
register, unregister = bpy.utils.register_classes_factory(classes)
