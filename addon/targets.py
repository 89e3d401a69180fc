"""Which mask to propagate over which clip, in each editor that shows the panel.

The Movie Clip Editor has both. The Image Editor has a mask but shows an image, not a clip, so the clip is the
scene's active clip (Scene properties, also offered in the panel). The compositor has neither, so the mask
is one chosen in the panel (`Scene.maskprop_mask`, saved with the scene) and the clip again the scene's.
An editor's own mask always wins over the scene's choice, so the panel never propagates a mask the artist
does not see.

`resolve_targets` takes plain arguments so tests can call it without a window; `from_context` feeds it.
"""

from __future__ import annotations

import bpy

MASK_EDITORS = ("CLIP_EDITOR", "IMAGE_EDITOR")  # editors with a mask of their own (in Mask mode)
PANEL_EDITORS = (*MASK_EDITORS, "NODE_EDITOR")  # where the panel lives; the node editor only for the compositor


def resolve_targets(
    editor: str, editor_mask: bpy.types.Mask | None, editor_clip: bpy.types.MovieClip | None, scene: bpy.types.Scene
) -> tuple[bpy.types.Mask, bpy.types.MovieClip] | str:
    """(mask, clip) to propagate from `editor` (a space type, "" outside any editor), or what the artist must do."""
    if editor in MASK_EDITORS:
        mask = editor_mask
        if mask is None:
            return "Choose or draw a mask in this editor's Mask mode"
    else:
        mask = scene.maskprop_mask
        if mask is None:
            return "Choose the mask to propagate in the panel"
    if editor == "CLIP_EDITOR":
        return (mask, editor_clip) if editor_clip is not None else "Open a clip in this Movie Clip Editor"
    if scene.active_clip is None:
        return "Choose the clip to propagate over in the panel (the scene's active clip)"
    return mask, scene.active_clip


def from_context(context: bpy.types.Context) -> tuple[bpy.types.Mask, bpy.types.MovieClip] | str:
    """`resolve_targets` for the editor the context is in."""
    space = context.space_data
    editor = getattr(space, "type", "")
    in_mask_mode = getattr(space, "mode", "") == "MASK"
    mask = space.mask if editor in MASK_EDITORS and in_mask_mode else None
    clip = space.clip if editor == "CLIP_EDITOR" else None
    return resolve_targets(editor, mask, clip, context.scene)


def scene_choices(editor: str) -> tuple[str, ...]:
    """The scene properties the panel offers in `editor`: whatever that editor does not provide itself."""
    if editor == "CLIP_EDITOR":
        return ()
    if editor == "IMAGE_EDITOR":
        return ("active_clip",)
    return ("maskprop_mask", "active_clip")


def panel_shown(space: bpy.types.Space | None) -> bool:
    """The panel appears in the Clip Editor's Mask mode with a clip, in the Image Editor's Mask mode with a mask,
    and in the compositor."""
    editor = getattr(space, "type", "")
    if editor == "CLIP_EDITOR":
        return space.mode == "MASK" and space.clip is not None
    if editor == "IMAGE_EDITOR":
        return space.mode == "MASK" and space.mask is not None
    return editor == "NODE_EDITOR" and space.tree_type == "CompositorNodeTree"


def register() -> None:
    bpy.types.Scene.maskprop_mask = bpy.props.PointerProperty(
        type=bpy.types.Mask,
        name="Mask",
        description="The mask to propagate from editors that have none of their own, such as the compositor",
    )


def unregister() -> None:
    del bpy.types.Scene.maskprop_mask
