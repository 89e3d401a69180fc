"""What tests need of the compositor beyond what the add-on does: the socket whose input becomes the render.

Blender 5.0 renders the scene compositor group's "Image" output; up to 4.5 the scene's tree renders through a
Composite node, and its default Render Layers node would render the (empty) scene with a GPU engine first, so
it is removed. Runs inside the child process that imports bpy.
"""

from __future__ import annotations

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
