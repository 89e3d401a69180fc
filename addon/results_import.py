"""Bring an engine output folder into Blender: matte sequences, a compositor node group and confidence keys.

The engine writes (see `engine.shots.output`)::

    OUT/mattes/obj<id>/<frame name>.png (16-bit) or .exr (half float)   the exact soft matte per object
    OUT/confidence.json                                                  per frame and object: confidence, lost

Shot frame `i` lands on scene frame `first_frame + i`. The mattes stay the truth: each object's files become
one Non-Color image sequence, and the node group "Propagated mask" exposes one output per object. Given a Mask
that holds the objects' animated layers, the group gets one more output, named after that Mask, from a Mask node
on it: a Mask node draws a whole Mask, never one layer, so the per-object outputs stay the mattes. Confidence
becomes animated custom properties of the Mask (Graph Editor) plus timeline markers on the frames to review.

Everything written here is found again by name (images "maskprop obj<id>", the group, markers starting with
`MARKER_PREFIX`, properties starting with `PROPERTY_PREFIX`), so importing again replaces instead of adding.
The confidence table is read with `protocol.confidence_table`, the engine's own row and reader, which the add-on
carries.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import bpy

from . import compositor
from .animation import fcurves_of
from .core.result_cache import CONFIDENCE_FILE, ConfidenceRow, read_confidence_table

GROUP_NAME = "Propagated mask"
IMAGE_PREFIX = "maskprop obj"
PROPERTY_PREFIX = "confidence_obj"
MARKER_PREFIX = "maskprop review "
MATTE_SUFFIXES = (".png", ".exr")


class MatteSequence(NamedTuple):
    """One object's mattes as the compositor shows them: the group output's name, the image and its frames."""

    name: str
    image: bpy.types.Image
    frames: range  # scene frames from its first file to its last


@dataclass(frozen=True)
class ImportSummary:
    """What an import wrote, for the operator's report and the panel."""

    frames: range
    object_ids: tuple[int, ...]
    images: tuple[str, ...]
    group: str
    review_frames: tuple[int, ...]


def file_number(name: str) -> int:
    """The number Blender reads from a sequence file name: its trailing digits ("sh010_1001" -> 1001)."""
    match = re.search(r"(\d+)$", name)
    if match is None:
        raise ValueError(f"frame name {name!r} ends in no number, so its files cannot form an image sequence")
    return int(match.group(1))


def review_frames(rows: Iterable[ConfidenceRow], threshold: float) -> dict[int, ConfidenceRow]:
    """The frames to review, each with its worst object: a lost object, or confidence below `threshold`.

    A frame is as trustworthy as its least certain object, so one weak object flags the whole frame.
    """
    worst: dict[int, ConfidenceRow] = {}
    for row in rows:
        kept = worst.get(row.frame)
        if kept is None or (row.lost, -row.confidence) > (kept.lost, -kept.confidence):
            worst[row.frame] = row
    return {frame: row for frame, row in sorted(worst.items()) if row.lost or row.confidence < threshold}


def load_matte_sequence(folder: Path, object_id: int, first_name: str) -> bpy.types.Image:
    """The object's matte files as one Non-Color image sequence, starting at the file of frame `first_name`.

    An image from an earlier import is pointed at the new files and reloaded, so nodes using it stay valid.
    """
    matte_folder = Path(folder) / "mattes" / f"obj{object_id}"
    path = next((p for s in MATTE_SUFFIXES if (p := matte_folder / f"{first_name}{s}").is_file()), None)
    if path is None:
        raise FileNotFoundError(f"no matte for object {object_id} at frame {first_name} in {matte_folder}")
    name = f"{IMAGE_PREFIX}{object_id}"
    image = bpy.data.images.get(name)
    if image is None:
        image = bpy.data.images.load(str(path), check_existing=False)
        image.name = name
    else:
        image.filepath = str(path)
    image.source = "SEQUENCE"
    image.reload()
    # Mattes are data, not colour; EXR files may also carry a colour tag that Blender would otherwise apply.
    image.colorspace_settings.name = "Non-Color"
    return image


def build_result_group(
    scene: bpy.types.Scene, sequences: list[MatteSequence], vector_mask: bpy.types.Mask | None = None
) -> bpy.types.NodeTree:
    """The node group "Propagated mask" with one output per object, placed in the scene's compositor.

    Inside, each object's matte sequence feeds the output named after it, timed so that the sequence's first
    file shows on the first of its frames. With `vector_mask`, a last output named after it comes from a Mask
    node drawing it at the mattes' size. Outputs are linked by position, since an object may share a name with
    the Mask.
    """
    names = [sequence.name for sequence in sequences]
    group = compositor.ensure_group(GROUP_NAME, names if vector_mask is None else [*names, vector_mask.name])
    output = group.nodes.new("NodeGroupOutput")
    output.location = (300.0, 0.0)
    for row, (name, image, frames) in enumerate(sequences):
        node = group.nodes.new("CompositorNodeImage")
        node.image, node.label, node.location = image, name, (0.0, -300.0 * row)
        node.frame_start, node.frame_duration = frames.start, len(frames)
        node.frame_offset = file_number(Path(image.filepath).stem) - 1
        node.use_auto_refresh = True
        group.links.new(node.outputs["Image"], output.inputs[row])
    if vector_mask is not None:
        node = compositor.new_mask_node(group, vector_mask, *sequences[0].image.size)
        node.location = (0.0, -300.0 * len(sequences))
        group.links.new(node.outputs["Mask"], output.inputs[len(sequences)])
    compositor.ensure_group_node(compositor.ensure_compositor_tree(scene), group)
    return group


def key_confidence(
    scene: bpy.types.Scene, mask: bpy.types.Mask, rows: list[ConfidenceRow], threshold: float
) -> list[int]:
    """Key each object's confidence on `mask` and mark the frames to review; returns those frames.

    `rows` are in scene frames. Properties "confidence_obj<id>" are keyed on every row's frame; one marker
    "maskprop review obj<id> <confidence>" (or "... lost") sits on each frame `review_frames` flags, naming
    its worst object. Earlier keys, properties and markers of this add-on are removed first.
    """
    _clear_confidence(scene, mask)
    for row in rows:
        key = f"{PROPERTY_PREFIX}{row.object}"
        mask[key] = row.confidence
        mask.keyframe_insert(f'["{key}"]', frame=row.frame)
    flagged = review_frames(rows, threshold)
    for frame, row in flagged.items():
        state = "lost" if row.lost else f"{row.confidence:.2f}"
        scene.timeline_markers.new(f"{MARKER_PREFIX}obj{row.object} {state}", frame=frame)
    return list(flagged)


def import_results(
    scene: bpy.types.Scene,
    mask: bpy.types.Mask,
    out_folder: str | Path,
    threshold: float,
    first_frame: int | None = None,
    object_names: Mapping[int, str] | None = None,
    vector_mask: bpy.types.Mask | None = None,
) -> ImportSummary:
    """Import the engine output folder `out_folder`; shot frame 0 goes to `first_frame` (scene start by default).

    Objects are named `object_names[id]` in the node group, "obj<id>" when absent. Each object's sequence
    spans the frames that object has rows for, which differ when runs with other objects were merged.
    `vector_mask`, when given, is wired into the group beside the mattes (see `build_result_group`).
    """
    folder = Path(out_folder)
    start = scene.frame_start if first_frame is None else first_frame
    rows = [replace(row, frame=start + row.frame) for row in read_confidence_table(folder / CONFIDENCE_FILE)]
    if not rows:
        raise ValueError(f"{folder / CONFIDENCE_FILE} holds no frames")
    object_ids = tuple(sorted({row.object for row in rows}))
    names = {**{i: f"obj{i}" for i in object_ids}, **(object_names or {})}
    sequences = [_matte_sequence(folder, i, names[i], [row for row in rows if row.object == i]) for i in object_ids]
    group = build_result_group(scene, sequences, vector_mask)
    review = key_confidence(scene, mask, rows, threshold)
    frames = range(rows[0].frame, rows[-1].frame + 1)
    images = tuple(sequence.image.name for sequence in sequences)
    return ImportSummary(frames, object_ids, images, group.name, tuple(review))


def _matte_sequence(folder: Path, object_id: int, name: str, rows: list[ConfidenceRow]) -> MatteSequence:
    image = load_matte_sequence(folder, object_id, rows[0].name)
    return MatteSequence(name, image, range(rows[0].frame, rows[-1].frame + 1))


def _clear_confidence(scene: bpy.types.Scene, mask: bpy.types.Mask) -> None:
    for marker in [m for m in scene.timeline_markers if m.name.startswith(MARKER_PREFIX)]:
        scene.timeline_markers.remove(marker)
    fcurves = fcurves_of(mask)
    if fcurves is not None:
        for fcurve in [f for f in fcurves if f.data_path.startswith(f'["{PROPERTY_PREFIX}')]:
            fcurves.remove(fcurve)
    for key in [k for k in mask.keys() if k.startswith(PROPERTY_PREFIX)]:  # noqa: SIM118 (an ID is not iterable)
        del mask[key]
