"""The Propagate panel's work end to end: a Blender scene, a real engine, and the import of what it sends back.

The test process starts an engine with the parity weights (its confidence is about 0, so every propagated
frame is flagged for review, and its mattes are rough blobs in many parts and holes, which exercises the
outline layers hard). A fresh Blender process builds a scene from eight DAVIS frames (`tests/fixtures/
davis-clip`), draws a Mask on clip frame 1 (the swan, traced from its annotation, and a rectangle "bank" that
starts disabled) and calls the same functions the modal operator calls:

* no engine, then a cancelled run: nothing may change;
* run A: the swan, forward over the whole clip, into the result Mask;
* run B: re-propagate from frame 5, forward over 5-7, with the bank enabled too;
* run C: "Into This Mask", the bank alone, forward over 6-8.

It reports what it found as JSON (and copies the cache folder after each run), so no Blender state leaks into
other tests.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
import pytest

from addon.core.result_cache import write_png16
from engine.server.launch import ServerProcess

pytestmark = pytest.mark.blender

REPO = Path(__file__).resolve().parents[2]
CLIP = REPO / "tests" / "fixtures" / "davis-clip"
FRAMES, WIDTH, HEIGHT = 8, 107, 60
NOBODY = "tcp://127.0.0.1:9"  # the discard port: nothing answers there
RUN_TIMEOUT = 120.0
BANK = (6, 3, 30, 14)  # the second object: a rectangle (left, top, right, bottom) in pixels over the far bank
MASK, RESULT_MASK = "Shot mask", "Shot mask propagated"
SWAN_LAYER, BANK_LAYER = "swan (propagated)", "bank (propagated)"
RENDERED_FRAME = 6
SPLINE_PATH = re.compile(r'layers\["(.+)"\]\.splines\[\d+\]\.points\[\d+\]\.\w+')  # group 1: the layer


def frames_key(frames: Iterable[int]) -> str:
    """A list of frames as a JSON object key."""
    return json.dumps(list(frames))


def run_in_blender(endpoint: str, frames: str, work: str) -> None:
    """The runs of the module docstring, each looked at; the looks go to `work/report.json`."""
    import time

    import bpy

    from addon import panel_settings, propagate, review, run_inputs
    from addon.core import session
    from addon.core.session import Engine, RunFailed

    bpy.ops.wm.read_factory_settings(use_empty=True)
    panel_settings.register()
    bpy.ops.wm.save_as_mainfile(filepath=str(Path(work) / "shot.blend"))
    scene = bpy.context.scene
    clip = bpy.data.movieclips.load(str(Path(frames) / "00000.jpg"))
    clip.frame_start = scene.frame_start = 1
    scene.frame_end = clip.frame_duration
    mask = _drawn_mask(bpy)
    settings = scene.maskprop
    panel_settings.set_object_enabled(settings, "bank", False)
    scene.frame_set(1)
    settings.direction = "forward"
    settings.use_network_size, settings.max_size = False, 0
    cache = run_inputs.cache_folder(clip)
    drawn_before = _drawn_points(mask)

    def run(engine: Engine, cancel: bool = False) -> session.RunProgress:
        job = propagate.start_run(scene, clip, mask, engine, stream=False)
        end = time.monotonic() + RUN_TIMEOUT
        while not (progress := propagate.step(job)).finished and time.monotonic() < end:
            if cancel and progress.done >= 1:
                job.run.cancel()
            time.sleep(0.02)
        return progress

    def done(label: str) -> None:
        """Look at the scene after a finished run and keep the cache folder and the swan layer's fill."""
        report[label] = _look(bpy, scene, mask)
        shutil.copytree(cache, Path(work) / label)
        np.save(Path(work) / label / "swan-fill.npy", _layer_fills(bpy, scene, SWAN_LAYER))

    engine = Engine(endpoint, timeout=20.0)
    report: dict = {"cache": str(cache)}
    try:
        propagate.start_run(scene, clip, mask, Engine(NOBODY, timeout=0.3), stream=False)
    except RunFailed as failure:
        report["no_engine"] = {"message": failure.message, **_look(bpy, scene, mask)}
    cancelled = run(engine, cancel=True)
    report["cancelled"] = {"status": cancelled.status, **_look(bpy, scene, mask)}
    report["cancelled_files"] = sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*"))

    report["status_a"] = run(engine).status
    done("a")
    scene.frame_set(1)
    report["review_jumps"] = [review.next_review_frame(scene, 4, 1), review.next_review_frame(scene, 4, -1)]
    report["no_review_before_keyframe"] = review.next_review_frame(scene, 2, -1)
    settings.threshold = 0.0  # the slider re-marks the last run at once
    report["markers_at_zero"] = sorted(marker.frame for marker in scene.timeline_markers)
    settings.threshold = 0.5
    _render_mask_output(bpy, scene, str(Path(work) / "rendered.png"))

    panel_settings.set_object_enabled(settings, "bank", True)
    settings.use_clip_range, settings.first, settings.last = False, 5, 7
    scene.frame_set(5)
    report["status_b"] = run(engine).status
    done("b")

    panel_settings.set_object_enabled(settings, "swan", False)
    settings.write_into_mask, settings.first, settings.last = True, 6, 8
    scene.frame_set(6)
    report["status_c"] = run(engine).status
    done("c")
    report["drawn_points_kept"] = _drawn_points(mask) == drawn_before
    report["drawn_hide_render"] = [mask.layers[name].hide_render for name in ("swan", "bank")]
    report["objects_after_c"] = run_inputs.keyframe_labels(mask, scene, 1, WIDTH, HEIGHT, lambda name: True)[1]

    np.save(Path(work) / "streamed.npy", run_inputs.shot_from_clip(clip, stream=True).frames.read(2))

    # The same frames in a folder the engine may not read: as paths they are refused, automatically streamed.
    elsewhere = shutil.copytree(frames, Path(work) / "elsewhere")
    moved = bpy.data.movieclips.load(str(elsewhere / "00000.jpg"))
    moved.frame_start = 1
    scene.frame_set(6)
    try:
        propagate.start_run(scene, moved, mask, engine, stream=False)
    except RunFailed as failure:
        report["paths_refused"] = failure.code
    job = propagate.start_run(scene, moved, mask, engine, stream=None)
    while not (progress := propagate.step(job)).finished:
        time.sleep(0.02)
    report["automatic"] = {"streamed": job.streamed, "status": progress.status}
    job = propagate.start_run(scene, moved, mask, engine, stream=None, wait=False)  # the panel's way: no waiting
    statuses = [job.progress.status]
    while not (progress := propagate.step(job)).finished:
        statuses.append(progress.status)
        time.sleep(0.02)
    report["automatic_without_waiting"] = {"streamed": job.streamed, "status": progress.status, "seen": statuses}
    job = propagate.start_run(scene, clip, mask, engine, stream=None)
    while not (progress := propagate.step(job)).finished:
        time.sleep(0.02)
    report["automatic_readable"] = {"streamed": job.streamed, "status": progress.status}
    Path(work, "report.json").write_text(json.dumps(report))
    panel_settings.unregister()  # bpy 4.5 hangs at exit while classes are still registered


def _drawn_mask(bpy: object) -> object:
    """The artist's Mask: the swan traced from the frame's annotation, and a rectangle over the far bank."""
    annotation = cv2.imread(str(CLIP / "annotation-00000.png"), cv2.IMREAD_GRAYSCALE)
    outlines, _ = cv2.findContours((annotation > 127).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    swan = cv2.approxPolyDP(max(outlines, key=cv2.contourArea), 0.7, closed=True).reshape(-1, 2)
    left, top, right, bottom = BANK
    mask = bpy.data.masks.new(MASK)
    for name, corners in (("swan", swan), ("bank", [(left, top), (right, top), (right, bottom), (left, bottom)])):
        spline = mask.layers.new(name=name).splines.new()
        spline.use_cyclic = True
        spline.points.add(len(corners) - 1)
        for point, (x, y) in zip(spline.points, corners, strict=True):
            point.co = _to_mask_space(x, y)
        for point in spline.points:  # once every point is in place: a vector handle points at its neighbours
            point.handle_type = "VECTOR"
    return mask


def _to_mask_space(x: float, y: float) -> tuple[float, float]:
    """Pixel centre (x right, y down) to mask space: the 107-pixel width spans 0..1, y runs up, centred."""
    up = HEIGHT - (y + 0.5)
    return (x + 0.5) / WIDTH, (up - HEIGHT / 2) / WIDTH + 0.5


def _drawn_points(mask: object) -> list:
    return [
        [tuple(p.co) + tuple(p.handle_left) + tuple(p.handle_right) for p in mask.layers[name].splines[0].points]
        for name in ("swan", "bank")
    ]


def _look(bpy: object, scene: object, mask: object) -> dict:
    from addon import animation, results_import

    group = bpy.data.node_groups.get(results_import.GROUP_NAME)
    fcurves = animation.fcurves_of(mask) or []
    return {
        "images": {i.name: i.colorspace_settings.name for i in bpy.data.images if i.source != "VIEWER"},
        "outputs": [] if group is None else [s.name for s in group.interface.items_tree if s.in_out == "OUTPUT"],
        "links": [] if group is None else sorted(_link(link) for link in group.links),
        "fcurves": {
            f.data_path: [list(p.co) for p in f.keyframe_points] for f in fcurves if f.data_path.startswith('["')
        },
        "masks": {m.name: _layer_keys(m) for m in bpy.data.masks},
        "markers": sorted(marker.frame for marker in scene.timeline_markers),
    }


def _link(link: object) -> list:
    """(node type, what it reads, its frames, the group output it feeds)."""
    node = link.from_node
    if node.bl_idname == "CompositorNodeImage":
        return [node.bl_idname, node.image.name, [node.frame_start, node.frame_duration, node.frame_offset], None]
    if "Size Source" in node.inputs:  # sockets from 5.0, properties before
        size = [node.inputs[name].default_value for name in ("Size Source", "Size X", "Size Y")]
    else:
        size = [node.size_source.title(), node.size_x, node.size_y]
    return [node.bl_idname, node.mask.name, size, link.to_socket.name]


def _layer_keys(mask: object) -> dict:
    """Per layer: its splines' point counts, and {keyed frames: how many of its points' F-curves have them}."""
    from addon import animation

    keyed: dict[str, Counter] = {layer.name: Counter() for layer in mask.layers}
    for fcurve in animation.fcurves_of(mask) or []:
        if match := SPLINE_PATH.fullmatch(fcurve.data_path):
            keyed[match.group(1)][frames_key(int(point.co[0]) for point in fcurve.keyframe_points)] += 1
    return {
        layer.name: {"points": [len(spline.points) for spline in layer.splines], "keyed": keyed[layer.name]}
        for layer in mask.layers
    }


def _layer_fills(bpy: object, scene: object, layer: str) -> np.ndarray:
    """The result layer's fill on each clip frame, read back through the rasteriser: (frames, height, width)."""
    from addon import mask_data
    from addon.core import raster

    result = bpy.data.masks[MASK] if layer in bpy.data.masks[MASK].layers else bpy.data.masks[RESULT_MASK]
    fills = []
    for frame in range(1, FRAMES + 1):
        shapes = {shape.name: shape for shape in mask_data.mask_layers_at(result, frame, scene)}
        fills.append(raster.rasterize_layer(shapes[layer], WIDTH, HEIGHT))
    return np.array(fills)


def _render_mask_output(bpy: object, scene: object, png: str) -> None:
    """Send the group's Mask output (its last) to the composite and render `RENDERED_FRAME` as a PNG."""
    from addon.compositor import ensure_compositor_tree
    from tests.addon.compositing import render_input

    tree = ensure_compositor_tree(scene)
    group_node = next(node for node in tree.nodes if node.bl_idname == "CompositorNodeGroup")
    tree.links.new(group_node.outputs[RESULT_MASK], render_input(scene))
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = WIDTH, HEIGHT, 100
    scene.view_settings.view_transform = "Standard"
    scene.render.image_settings.file_format, scene.render.image_settings.color_mode = "PNG", "BW"
    scene.frame_set(RENDERED_FRAME)
    scene.render.filepath = png
    bpy.ops.render.render(write_still=True)


@pytest.fixture(scope="module")
def plate(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("plate")
    shutil.copytree(CLIP / "frames", folder / "frames")
    return folder


@pytest.fixture(scope="module")
def engine(start_engine, one_thread_env, plate) -> ServerProcess:
    return start_engine("--allow-root", str(plate), env=one_thread_env)


@pytest.fixture(scope="module")
def work(engine, plate, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("blender")
    script = "import sys; from tests.addon.test_propagate_e2e import run_in_blender; run_in_blender(*sys.argv[1:])"
    command = [sys.executable, "-c", script, engine.endpoint, str(plate / "frames"), str(folder)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return folder


@pytest.fixture(scope="module")
def report(work: Path) -> dict:
    return json.loads((work / "report.json").read_text())


def matte(folder: Path, object_id: int, frame: int) -> np.ndarray:
    """A matte file of a cache folder, as written: uint16 (height, width)."""
    return cv2.imread(str(folder / "mattes" / f"obj{object_id}" / f"{frame:05d}.png"), cv2.IMREAD_UNCHANGED)


def confidence(folder: Path) -> dict[tuple[int, int], dict]:
    """The cache's confidence table by (clip frame, object id)."""
    document = json.loads((folder / "confidence.json").read_text())
    return {(f["frame"] + 1, o["id"]): o for f in document["frames"] for o in f["objects"]}


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.logical_and(a, b).sum() / np.logical_or(a, b).sum())


def keyed(look: dict, mask: str, layer: str) -> dict[str, int]:
    """{keyed frames: how many F-curves} of a layer's points; one entry when every curve has the same keys."""
    return look["masks"][mask][layer]["keyed"]


def assert_nothing_imported(look: dict) -> None:
    assert {key: look[key] for key in ("images", "outputs", "links", "fcurves", "markers")} == {
        "images": {},
        "outputs": [],
        "links": [],
        "fcurves": {},
        "markers": [],
    }
    assert list(look["masks"]) == [MASK]
    assert {name: layer["keyed"] for name, layer in look["masks"][MASK].items()} == {"swan": {}, "bank": {}}


def test_no_engine_is_a_clear_message_and_changes_nothing(report):
    look = report["no_engine"]
    assert look["message"].startswith(f"No engine answers at {NOBODY}")
    assert_nothing_imported(look)


def test_a_cancelled_run_imports_nothing_and_leaves_no_files(report):
    assert report["cancelled"]["status"] == "cancelled"
    assert_nothing_imported(report["cancelled"])
    assert report["cancelled_files"] == []  # the mattes it had received were staged, then dropped


def test_a_run_leaves_a_matte_per_frame_and_outlines_beside_the_blend_file(report, work):
    assert report["status_a"] == "done"
    cache = Path(report["cache"])
    assert cache == work / "maskprop_cache" / "00000_jpg"  # the clip is named after its first file
    after_a = work / "a"
    assert sorted(p.relative_to(after_a).as_posix() for p in after_a.rglob("*.png")) == [
        f"mattes/obj1/{i:05d}.png" for i in range(1, FRAMES + 1)
    ]
    assert (after_a / "contours" / "obj1.json").is_file()
    mattes = [matte(after_a, 1, frame) for frame in range(1, FRAMES + 1)]
    assert {(m.dtype.name, m.shape) for m in mattes} == {("uint16", (HEIGHT, WIDTH))}
    annotation = cv2.imread(str(CLIP / "annotation-00000.png"), cv2.IMREAD_GRAYSCALE) > 127
    assert iou(mattes[0] > 32767, annotation) > 0.85  # the keyframe's matte is the swan as drawn


def test_a_run_is_imported_as_sequences_a_node_group_confidence_keys_and_review_markers(report):
    look = report["a"]
    assert look["images"] == {"maskprop obj1": "Non-Color"}
    assert look["outputs"] == ["swan", RESULT_MASK]  # the disabled bank is not propagated
    assert look["links"] == [
        ["CompositorNodeImage", "maskprop obj1", [1, FRAMES, 0], None],
        ["CompositorNodeMask", RESULT_MASK, ["Fixed", WIDTH, HEIGHT], RESULT_MASK],
    ]
    frames = list(range(1, FRAMES + 1))
    assert [key[0] for key in look["fcurves"]['["confidence_obj1"]']] == frames
    assert look["fcurves"]['["confidence_obj1"]'][0][1] == pytest.approx(1.0)  # the keyframe
    # Parity weights are not sure of anything, so every frame but the keyframe is below the 0.5 threshold.
    assert look["markers"] == frames[1:]


def test_each_object_gets_a_layer_keyed_on_every_propagated_frame_in_the_result_mask(report):
    look = report["a"]
    assert list(look["masks"]) == [MASK, RESULT_MASK]
    assert [name for name, layer in look["masks"][MASK].items() if layer["keyed"]] == []
    layer = look["masks"][RESULT_MASK][SWAN_LAYER]
    assert list(look["masks"][RESULT_MASK]) == [SWAN_LAYER]
    assert set(layer["points"]) == {32} and len(layer["points"]) > 1  # the blobs come in several parts
    # co, handle_left and handle_right, x and y, of every point of every spline, keyed on frames 1..8.
    assert keyed(look, RESULT_MASK, SWAN_LAYER) == {frames_key(range(1, FRAMES + 1)): 6 * 32 * len(layer["points"])}


def test_the_result_layer_follows_the_engine_matte(work):
    fills = np.load(work / "a" / "swan-fill.npy")
    # Outlines run through the centres of the matte's edge pixels, so at 107 x 60 half a pixel all around is
    # a real share of the area; the layer still covers the same blobs.
    for frame in range(1, FRAMES + 1):
        assert iou(fills[frame - 1], matte(work / "a", 1, frame) > 32767) > 0.8, frame


def test_the_group_mask_output_renders_the_result_layer(work):
    rendered = cv2.imread(str(work / "rendered.png"), cv2.IMREAD_GRAYSCALE) > 127
    fills = np.load(work / "a" / "swan-fill.npy")
    assert rendered.shape == (HEIGHT, WIDTH)
    assert iou(rendered, fills[RENDERED_FRAME - 1]) > 0.95


def test_review_frames_are_found_in_both_directions(report):
    assert report["review_jumps"] == [5, 3]
    assert report["no_review_before_keyframe"] is None


def test_the_threshold_slider_re_marks_the_last_run(report):
    assert report["markers_at_zero"] == []  # no object was lost, and no confidence is below 0


def test_re_propagating_part_of_the_shot_replaces_that_part_and_keeps_the_rest(report, work):
    assert report["status_b"] == "done"
    after_a, after_b = work / "a", work / "b"
    kept, replaced = [1, 2, 3, 4, 8], [5, 6, 7]
    for frame in kept:
        np.testing.assert_array_equal(matte(after_b, 1, frame), matte(after_a, 1, frame))
    assert not np.array_equal(matte(after_b, 1, 5), matte(after_a, 1, 5))  # now the keyframe
    assert sorted(p.name for p in (after_b / "mattes" / "obj2").iterdir()) == [f"{i:05d}.png" for i in replaced]
    table_a, table_b = confidence(after_a), confidence(after_b)
    assert all(table_b[key] == row for key, row in table_a.items() if key[0] in kept)
    assert sorted(table_b) == sorted([*table_a, *((frame, 2) for frame in replaced)])
    assert (table_b[(5, 1)]["confidence"], table_b[(5, 2)]["confidence"]) == (1.0, 1.0)

    look = report["b"]
    assert look["markers"] == [2, 3, 4, 6, 7, 8]  # frame 5 is a keyframe now; the other frames kept theirs
    assert [key[0] for key in look["fcurves"]['["confidence_obj1"]']] == list(range(1, FRAMES + 1))
    assert [key[0] for key in look["fcurves"]['["confidence_obj2"]']] == replaced
    assert look["outputs"] == ["swan", "bank", RESULT_MASK]
    assert sorted(link[:3] for link in look["links"] if link[0] == "CompositorNodeImage") == [
        ["CompositorNodeImage", "maskprop obj1", [1, FRAMES, 0]],
        ["CompositorNodeImage", "maskprop obj2", [5, 3, 4]],  # scene frame 5 shows file 00005
    ]
    assert list(keyed(look, RESULT_MASK, SWAN_LAYER)) == [frames_key(range(1, FRAMES + 1))]
    assert list(keyed(look, RESULT_MASK, BANK_LAYER)) == [frames_key(replaced)]
    fills_a, fills_b = np.load(after_a / "swan-fill.npy"), np.load(after_b / "swan-fill.npy")
    for frame in kept:
        np.testing.assert_array_equal(fills_b[frame - 1], fills_a[frame - 1])
    for frame in replaced:  # the layer follows the new mattes, not the ones they replaced
        new = matte(after_b, 1, frame) > 32767
        assert iou(fills_b[frame - 1], new) > iou(fills_a[frame - 1], new), frame
    assert iou(fills_b[4], matte(after_b, 1, 5) > 32767) > 0.8  # the new keyframe


def test_into_this_mask_adds_the_layers_beside_the_drawn_ones_which_keep_their_shape(report, work):
    assert report["status_c"] == "done"
    look = report["c"]
    assert list(look["masks"][MASK]) == ["swan", "bank", SWAN_LAYER, BANK_LAYER]
    assert report["drawn_points_kept"] is True
    assert [look["masks"][MASK][name]["keyed"] for name in ("swan", "bank")] == [{}, {}]
    # The drawn layers stop rendering, so a Mask node on this Mask draws the results alone.
    assert report["drawn_hide_render"] == [True, True]
    assert list(keyed(look, MASK, SWAN_LAYER)) == [frames_key(range(1, FRAMES + 1))]  # swan was not in run C
    assert list(keyed(look, MASK, BANK_LAYER)) == [frames_key([5, 6, 7, 8])]
    assert look["outputs"] == ["swan", "bank", MASK]
    assert ["CompositorNodeMask", MASK, ["Fixed", WIDTH, HEIGHT], MASK] in look["links"]
    for frame in range(1, FRAMES + 1):
        np.testing.assert_array_equal(matte(work / "c", 1, frame), matte(work / "b", 1, frame))
    assert report["objects_after_c"] == [[1, "swan"], [2, "bank"]]  # result layers are no objects


def test_streamed_frames_are_the_files_pixels(work, plate):
    expected = cv2.imread(str(plate / "frames" / "00002.jpg"))[..., ::-1]
    np.testing.assert_array_equal(np.load(work / "streamed.npy"), expected)


def test_png16_round_trips_through_opencv(tmp_path):
    image = np.random.default_rng(0).integers(0, 65536, (5, 7), dtype=np.uint16)
    write_png16(tmp_path / "matte.png", image)
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "matte.png"), cv2.IMREAD_UNCHANGED), image)
    assert [p.name for p in tmp_path.iterdir()] == ["matte.png"]


def test_register_and_unregister_of_the_whole_add_on_leave_nothing_behind():
    script = """
import json, bpy, addon
before = set(dir(bpy.types))
for _ in range(2):
    addon.register()
    found = [hasattr(bpy.types.Scene, "maskprop"), hasattr(bpy.types, "MASKPROP_PT_propagate")]
    addon.unregister()
print("PROBE " + json.dumps({"found": found, "added": sorted(set(dir(bpy.types)) - before),
                             "scene_left": hasattr(bpy.types.Scene, "maskprop")}))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith("PROBE "))
    assert json.loads(line.removeprefix("PROBE ")) == {"found": [True, True], "added": [], "scene_left": False}


def test_automatic_frames_go_as_paths_when_the_engine_can_read_them_and_streamed_otherwise(report):
    assert report["paths_refused"] == "forbidden"
    assert report["automatic"] == {"streamed": True, "status": "done"}
    assert report["automatic_readable"] == {"streamed": False, "status": "done"}
    without_waiting = report["automatic_without_waiting"]
    assert (without_waiting["streamed"], without_waiting["status"]) == (True, "done")
    assert without_waiting["seen"][0] == "connecting"  # start_run returned before the engine answered
