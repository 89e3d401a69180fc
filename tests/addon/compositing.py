"""What tests need of the compositor beyond what the add-on does: the socket whose input becomes the render, and
a scene set up to render a Mask datablock through the compositor's own Mask node.

Blender 5.0 renders the scene compositor group's "Image" output; up to 4.5 the scene's tree renders through a
Composite node, and its default Render Layers node would render the (empty) scene with a GPU engine first, so
it is removed. Runs inside the child process that imports bpy.
"""

from __future__ import annotations

from pathlib import Path

import bpy

from addon.compositor import SPLIT_VERSION, ensure_compositor_tree


def render_input(scene: bpy.types.Scene) -> bpy.types.NodeSocket:
    """The input socket of the scene's compositor whose value is written as the rendered image."""
    tree = ensure_compositor_tree(scene)
    if bpy.app.version >= SPLIT_VERSION:
        return tree.nodes.new("NodeGroupOutput").inputs["Image"]
    for node in [node for node in tree.nodes if node.bl_idname == "CompositorNodeRLayers"]:
        tree.nodes.remove(node)
    composite = next((n for n in tree.nodes if n.bl_idname == "CompositorNodeComposite"), None)
    return (composite or tree.nodes.new("CompositorNodeComposite")).inputs["Image"]


def render_mask_node(scene: bpy.types.Scene, mask: bpy.types.Mask) -> None:
    """Make ``scene`` render ``mask`` through an unfeathered Mask node, as an 8-bit grey PNG with no view transform.

    Standard view and no dither make the written values the node's own, so ``> 127`` reads its 0.5 threshold.
    """
    scene.view_settings.view_transform = "Standard"
    scene.render.dither_intensity = 0.0
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "BW"
    scene.render.resolution_percentage = 100
    node = ensure_compositor_tree(scene).nodes.new("CompositorNodeMask")
    node.mask = mask
    if "Feather" in node.inputs:  # a socket from 5.0, a property before
        node.inputs["Feather"].default_value = False
    else:
        node.use_feather = False
    ensure_compositor_tree(scene).links.new(node.outputs["Mask"], render_input(scene))


def render_still(scene: bpy.types.Scene, path: Path) -> None:
    """Render the scene's current frame to ``path``."""
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)
