"""The "Propagate" sidebar panel of the Movie Clip Editor in Mask mode; it only draws properties and operators."""

from __future__ import annotations

import bpy

from . import operators, propagate


class MASKPROP_PT_propagate(bpy.types.Panel):
    bl_label = "Propagate Mask"
    bl_space_type = "CLIP_EDITOR"
    bl_region_type = "UI"
    bl_category = "Propagate"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        space = context.space_data
        return space.mode == "MASK" and space.clip is not None

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        settings = context.scene.maskprop
        layout.operator("maskprop.test_connection", icon="LINKED")
        mask = context.space_data.mask
        if mask is None:
            layout.label(text="Choose or create a mask", icon="INFO")
            return
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
        column.prop(settings, "max_size")
        _draw_run(layout, settings)


def _draw_objects(layout: bpy.types.UILayout, mask: bpy.types.Mask, settings: propagate.MASKPROP_settings) -> None:
    layout.label(text="Objects")
    for object_id, layer in enumerate(mask.layers, start=1):
        enabled = propagate.object_enabled(settings, layer.name)
        icon = "CHECKBOX_HLT" if enabled else "CHECKBOX_DEHLT"
        layout.operator("maskprop.toggle_object", text=f"{object_id}: {layer.name}", icon=icon).layer = layer.name


def _draw_run(layout: bpy.types.UILayout, settings: propagate.MASKPROP_settings) -> None:
    job = operators.active_job()
    if job is not None:
        progress = job.progress
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


classes = (MASKPROP_PT_propagate,)
register, unregister = bpy.utils.register_classes_factory(classes)
