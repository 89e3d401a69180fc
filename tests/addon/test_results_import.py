"""Importing an engine output folder: the pure parts directly, the Blender datablocks in a child process.

The engine package writes a small output folder (4 frames of 32x24, two objects, 16-bit PNG mattes named
like plate frames 1001..1004); a fresh Blender imports it twice and reports what it finds as JSON, so no
scene state leaks into other tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from addon import animation, results_import
from addon.core import result_cache
from addon.core.result_cache import ConfidenceRow
from engine.io import read_confidence, write_confidence, write_label_map, write_matte

pytestmark = pytest.mark.blender

REPO = Path(__file__).resolve().parents[2]
NAMES = ["1001", "1002", "1003", "1004"]
FIRST_FRAME = 10  # scene frame of shot frame 0
THRESHOLD = 0.5
# (object, confidence per shot frame, lost per shot frame): frame 1 and 2 are weak, object 2 is lost in frame 3.
CONFIDENCE = {1: ([0.9, 0.4, 0.95, 0.8], [False] * 4), 2: ([0.85, 0.9, 0.3, 0.6], [False, False, False, True])}
EXPECTED_REVIEW = [11, 12, 13]


def write_engine_output(folder: Path) -> None:
    """What `engine.shots.output.ShotOutput` leaves: label maps, 16-bit mattes and the confidence table."""
    height, width = 24, 32
    rows = []
    for folder_name in ("labels", *(f"mattes/obj{i}" for i in CONFIDENCE)):
        (folder / folder_name).mkdir(parents=True)
    for index, name in enumerate(NAMES):
        labels = np.zeros((height, width), np.uint8)
        for object_id, (confidences, lost) in CONFIDENCE.items():
            matte = np.zeros((height, width), np.float32)
            matte[:, 8 * index + 4 * object_id : 8 * index + 4 * object_id + 4] = 0.75
            write_matte(folder / "mattes" / f"obj{object_id}" / f"{name}.png", matte, "16")
            labels[matte > 0.5] = object_id
            area = int((matte > 0.5).sum())
            rows.append(ConfidenceRow(index, name, object_id, confidences[index], lost[index], area))
        write_label_map(folder / "labels" / f"{name}.png", labels)
    write_confidence(folder / "confidence.json", rows)


def import_twice(engine_out: str, report: str) -> None:
    """Import into a fresh scene, look, import again, look again; write both looks to `report` as JSON."""
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    mask = bpy.data.masks.new("Shot mask")
    looks = []
    for _ in range(2):
        summary = results_import.import_results(scene, mask, engine_out, THRESHOLD, first_frame=FIRST_FRAME)
        looks.append({"summary": _summary(summary), **_look(bpy, scene, mask)})
    Path(report).write_text(json.dumps(looks))


def _summary(summary: results_import.ImportSummary) -> dict:
    frames = [summary.frames.start, summary.frames.stop]
    return {**summary.__dict__, "frames": frames}


def _look(bpy: object, scene: object, mask: object) -> dict:
    from addon.compositor import ensure_compositor_tree

    group = bpy.data.node_groups.get(results_import.GROUP_NAME)
    tree = ensure_compositor_tree(scene)
    return {
        "images": {
            image.name: {
                "source": image.source,
                "colorspace": image.colorspace_settings.name,
                "filepath": image.filepath,
            }
            for image in bpy.data.images
            if image.source != "VIEWER"  # Blender's own Viewer Node image, present up to 4.5
        },
        "blender": list(bpy.app.version),
        "node_groups": sorted(g.name for g in bpy.data.node_groups),
        "outputs": [(s.name, s.socket_type) for s in group.interface.items_tree if s.in_out == "OUTPUT"],
        "links": sorted((link.from_node.image.name, link.to_socket.name) for link in group.links),
        "image_nodes": {
            node.image.name: [node.frame_start, node.frame_duration, node.frame_offset, node.use_auto_refresh]
            for node in group.nodes
            if node.bl_idname == "CompositorNodeImage"
        },
        "group_nodes": [node.node_tree.name for node in tree.nodes if node.bl_idname == "CompositorNodeGroup"],
        "fcurves": {
            fcurve.data_path: [tuple(point.co) for point in fcurve.keyframe_points]
            for fcurve in animation.fcurves_of(mask)
        },
        "properties": sorted(mask.keys()),
        "markers": sorted((marker.frame, marker.name) for marker in scene.timeline_markers),
    }


@pytest.fixture(scope="module")
def engine_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("engine-out")
    write_engine_output(folder)
    return folder


@pytest.fixture(scope="module")
def looks(engine_out: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    report = tmp_path_factory.mktemp("import") / "looks.json"
    script = (
        "import sys; from tests.addon.test_results_import import import_twice; import_twice(sys.argv[1], sys.argv[2])"
    )
    command = [sys.executable, "-c", script, str(engine_out), str(report)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(report.read_text())


def test_reader_agrees_with_the_engine(engine_out: Path) -> None:
    ours = result_cache.read_confidence_table(engine_out / "confidence.json")
    engine = read_confidence(engine_out / "confidence.json")

    assert ours == engine  # one row type: the protocol's


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"format": "other", "version": 1, "frames": []}', "is not a maskprop-confidence document"),
        ('{"format": "maskprop-confidence", "version": 2, "frames": []}', "has version 2"),
        (
            '{"format": "maskprop-confidence", "version": 1, "frames": [{"frame": 0}]}',
            r"frames\[0\] is not an object with an 'objects' list",
        ),
        (
            '{"format": "maskprop-confidence", "version": 1, "frames": [{"frame": 0, "name": "0", "objects": '
            '[{"id": 1, "confidence": 0.5, "lost": "no", "area": 3}]}]}',
            r"objects\[0\]: lost must be a boolean, not 'no'",
        ),
    ],
)
def test_reader_rejects_other_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "confidence.json"
    path.write_text(text)

    with pytest.raises(ValueError, match=message):
        result_cache.read_confidence_table(path)


def test_review_frames_take_the_worst_object_and_lost_objects() -> None:
    rows = [
        ConfidenceRow(1, "1", 1, 0.9, False, 10),
        ConfidenceRow(1, "1", 2, 0.2, False, 10),
        ConfidenceRow(2, "2", 1, 0.9, False, 10),
        ConfidenceRow(3, "3", 1, 0.1, False, 10),
        ConfidenceRow(3, "3", 2, 0.8, True, 0),
        ConfidenceRow(4, "4", 1, 0.5, False, 10),  # at the threshold: fine
    ]

    flagged = results_import.review_frames(rows, 0.5)

    assert {frame: row.object for frame, row in flagged.items()} == {1: 2, 3: 2}


@pytest.mark.parametrize(("name", "number"), [("00000", 0), ("1012", 1012), ("sh010_0042", 42)])
def test_file_number_is_the_trailing_number(name: str, number: int) -> None:
    assert results_import.file_number(name) == number


def test_file_number_needs_a_number() -> None:
    with pytest.raises(ValueError, match="ends in no number"):
        results_import.file_number("final")


def test_mattes_become_non_color_image_sequences(looks: list[dict], engine_out: Path) -> None:
    images = looks[0]["images"]

    assert images == {
        f"maskprop obj{i}": {
            "source": "SEQUENCE",
            "colorspace": "Non-Color",
            "filepath": str(engine_out / "mattes" / f"obj{i}" / "1001.png"),
        }
        for i in (1, 2)
    }


def test_group_has_an_output_per_object_fed_by_its_matte(looks: list[dict]) -> None:
    look = looks[0]

    assert look["outputs"] == [["obj1", "NodeSocketFloat"], ["obj2", "NodeSocketFloat"]]
    assert look["links"] == [["maskprop obj1", "obj1"], ["maskprop obj2", "obj2"]]
    # Scene frame 10 shows file 1001: start 10, offset 1000, for the 4 frames of the shot.
    assert look["image_nodes"] == {f"maskprop obj{i}": [FIRST_FRAME, 4, 1000, True] for i in (1, 2)}
    assert look["group_nodes"] == [results_import.GROUP_NAME]


def test_confidence_is_keyed_per_object_and_frame(looks: list[dict]) -> None:
    fcurves = looks[0]["fcurves"]

    assert fcurves.keys() == {'["confidence_obj1"]', '["confidence_obj2"]'}
    for object_id, (confidences, _) in CONFIDENCE.items():
        keys = fcurves[f'["confidence_obj{object_id}"]']
        assert [frame for frame, _ in keys] == [FIRST_FRAME + i for i in range(4)]
        assert [value for _, value in keys] == pytest.approx(confidences, abs=1e-6)


def test_markers_sit_on_the_frames_to_review(looks: list[dict]) -> None:
    assert looks[0]["markers"] == [
        [11, "maskprop review obj1 0.40"],
        [12, "maskprop review obj2 0.30"],
        [13, "maskprop review obj2 lost"],
    ]
    assert looks[0]["summary"]["review_frames"] == EXPECTED_REVIEW
    assert looks[0]["summary"]["frames"] == [FIRST_FRAME, FIRST_FRAME + 4]


def test_importing_again_replaces_instead_of_adding(looks: list[dict]) -> None:
    first, second = looks

    assert second == first
    scene_tree = ["Scene Compositor"] if first["blender"] >= [5, 0, 0] else []  # 4.5: the scene owns its tree
    assert first["node_groups"] == sorted([*scene_tree, results_import.GROUP_NAME])
    assert first["properties"] == ["confidence_obj1", "confidence_obj2"]


def render_object(engine_out: str, png: str) -> None:
    """Import, send object 2's group output to the composite and render scene frame 12 (file 1003) as PNG."""
    import bpy

    from addon.compositor import ensure_compositor_tree
    from tests.addon.compositing import render_input

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    results_import.import_results(scene, bpy.data.masks.new("Shot mask"), engine_out, THRESHOLD, FIRST_FRAME)
    tree = ensure_compositor_tree(scene)
    group_node = next(node for node in tree.nodes if node.bl_idname == "CompositorNodeGroup")
    tree.links.new(group_node.outputs["obj2"], render_input(scene))
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 32, 24, 100
    scene.view_settings.view_transform = "Standard"
    scene.render.image_settings.file_format, scene.render.image_settings.color_mode = "PNG", "BW"
    scene.frame_set(FIRST_FRAME + 2)
    scene.render.filepath = png
    bpy.ops.render.render(write_still=True)


def test_group_output_follows_the_scene_frame(engine_out: Path, tmp_path: Path) -> None:
    png = tmp_path / "obj2.png"
    script = "import sys; from tests.addon.test_results_import import render_object; render_object(*sys.argv[1:])"
    done = subprocess.run(
        [sys.executable, "-c", script, str(engine_out), str(png)], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr

    rendered = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)
    # Shot frame 2 of object 2 covers columns 24..27; a wrong frame mapping would show other columns or none.
    assert np.flatnonzero(rendered.max(axis=0) > 127).tolist() == [24, 25, 26, 27]
