"""The few compositor operations the add-on needs, over both compositor APIs.

Blender 5.0 removed `scene.node_tree` and the Composite node: a scene's compositor is a `CompositorNodeTree`
node group in `scene.compositing_node_group` (None until someone creates one) whose group output is the
result. Up to 4.5 the scene owns its tree (`scene.use_nodes`, `scene.node_tree`). Node groups, their
interface sockets and group nodes work the same in both, so only finding the scene's tree branches.
"""

from __future__ import annotations

import bpy

TREE_TYPE = "CompositorNodeTree"
GROUP_NODE = "CompositorNodeGroup"
SPLIT_VERSION = (5, 0, 0)  # the first version with `scene.compositing_node_group`


def ensure_compositor_tree(scene: bpy.types.Scene) -> bpy.types.NodeTree:
    """The scene's compositor node tree, created (and switched on) when the scene has none yet."""
    if bpy.app.version < SPLIT_VERSION:
        scene.use_nodes = True
        return scene.node_tree
    tree = scene.compositing_node_group
    if tree is None:
        # What Blender's own "New" button makes: an empty tree whose "Image" output is the composite.
        tree = bpy.data.node_groups.new(f"{scene.name} Compositor", TREE_TYPE)
        tree.interface.new_socket(name="Image", in_out="OUTPUT", socket_type="NodeSocketColor")
        scene.compositing_node_group = tree
    return tree


def ensure_group(name: str, outputs: list[str]) -> bpy.types.NodeTree:
    """An empty compositor node group called `name` with exactly one float output per entry of `outputs`.

    An existing group of that name is emptied and reused rather than replaced, so group nodes that already
    use it (in the scene's tree, or placed by the artist elsewhere) keep working after a re-import.
    """
    group = bpy.data.node_groups.get(name)
    if group is None or group.bl_idname != TREE_TYPE:
        group = bpy.data.node_groups.new(name, TREE_TYPE)
    group.nodes.clear()
    group.interface.clear()
    for output in outputs:
        group.interface.new_socket(name=output, in_out="OUTPUT", socket_type="NodeSocketFloat")
    return group


def ensure_group_node(tree: bpy.types.NodeTree, group: bpy.types.NodeTree) -> bpy.types.Node:
    """The node of `tree` that runs `group`, added when there is none, so re-imports do not stack copies."""
    for node in tree.nodes:
        if node.bl_idname == GROUP_NODE and node.node_tree == group:
            return node
    node = tree.nodes.new(GROUP_NODE)
    node.node_tree = group
    node.label = group.name
    return node


def new_mask_node(tree: bpy.types.NodeTree, mask: bpy.types.Mask, width: int, height: int) -> bpy.types.Node:
    """A Mask node drawing `mask` at `width` x `height`, so its output lines up with plate-sized images.

    The scene's size would do only when the render resolution equals the clip's. Blender 5.0 takes the size as
    input sockets (4.5 has both), earlier versions as node properties.
    """
    node = tree.nodes.new("CompositorNodeMask")
    node.mask = mask
    if "Size Source" in node.inputs:
        node.inputs["Size Source"].default_value = "Fixed"
        node.inputs["Size X"].default_value, node.inputs["Size Y"].default_value = width, height
    else:
        node.size_source = "FIXED"
        node.size_x, node.size_y = width, height
    return node
