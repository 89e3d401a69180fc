"""The Propagate panel's work end to end: a Blender scene, a real engine, and the import of what it sends back.

The test process starts an engine with the parity weights (its confidence is about 0, so every propagated
frame is flagged for review); a fresh Blender process builds a scene from a tiny image sequence, draws a mask
on clip frame 1 and calls the same functions the modal operator calls. It reports what it found as JSON, so
no Blender state leaks into other tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from addon.propagate import write_png16
from engine.server.launch import ServerProcess

REPO = Path(__file__).resolve().parents[2]
FRAMES = 8
NOBODY = "tcp://127.0.0.1:9"  # the discard port: nothing answers there
RUN_TIMEOUT = 120.0
# The shot's two squares on frame 0, as (left, top) in pixels of the 64 x 48 frames; each is 14 pixels wide.
SQUARES = {"red": (6, 8), "blue": (34, 24)}


def run_in_blender(endpoint: str, frames: str, work: str) -> None:
    """No engine, then a cancelled run, then a full run, each looked at; the look goes to `work/report.json`."""
    import time

    import bpy

    from addon import propagate
    from addon.session import Engine, RunFailed

    bpy.ops.wm.read_factory_settings(use_empty=True)
    propagate.register()
    bpy.ops.wm.save_as_mainfile(filepath=str(Path(work) / "shot.blend"))
    scene = bpy.context.scene
    clip = bpy.data.movieclips.load(str(Path(frames) / "00000.png"))
    clip.frame_start = scene.frame_start = 1
    scene.frame_end = clip.frame_duration
    mask = _square_mask(bpy)
    propagate.set_object_enabled(scene.maskprop, "blue", False)
    scene.frame_set(1)
    scene.maskprop.direction = "forward"
    scene.maskprop.max_size = 0

    def finish(job: propagate.Job, cancel: bool = False) -> propagate.Progress:
        end = time.monotonic() + RUN_TIMEOUT
        while not (progress := propagate.step(job)).finished and time.monotonic() < end:
            if cancel and progress.done >= 1:
                job.run.cancel()
            time.sleep(0.02)
        return progress

    report: dict = {}
    try:
        propagate.start_run(scene, clip, mask, Engine(NOBODY, timeout=0.3), stream=False)
    except RunFailed as failure:
        report["no_engine"] = {"message": failure.message, **_look(bpy, scene, mask)}
    job = propagate.start_run(scene, clip, mask, Engine(endpoint, timeout=20.0), stream=False)
    cancelled = finish(job, cancel=True)
    report["cancelled"] = {"status": cancelled.status, "open": job.run.is_open, **_look(bpy, scene, mask)}
    job = propagate.start_run(scene, clip, mask, Engine(endpoint, timeout=20.0), stream=False)
    done = finish(job)
    report["done"] = {"status": done.status, "message": done.message, **_look(bpy, scene, mask)}
    report["cache"] = str(propagate.cache_folder(clip))
    scene.frame_set(1)
    report["review_jumps"] = [propagate.next_review_frame(scene, 4, 1), propagate.next_review_frame(scene, 4, -1)]
    report["no_review_before_keyframe"] = propagate.next_review_frame(scene, 2, -1)
    scene.maskprop.threshold = 0.0  # the slider re-marks the last run at once
    report["markers_at_zero"] = sorted(marker.frame for marker in scene.timeline_markers)
    np.save(Path(work) / "streamed.npy", propagate.shot_from_clip(clip, stream=True).frames.read(2))
    Path(work, "report.json").write_text(json.dumps(report))


def _square_mask(bpy: object) -> object:
    """A mask with one square layer per object of the shot, drawn with straight edges."""
    mask = bpy.data.masks.new("Shot mask")
    for name, (left, top) in SQUARES.items():
        spline = mask.layers.new(name=name).splines.new()
        spline.use_cyclic = True
        spline.points.add(3)
        bottom_up = 48 - (top + 14)  # mask y runs up; 64 pixels span 0..1 (see raster's coordinates)
        corners = [(left, bottom_up), (left + 14, bottom_up), (left + 14, bottom_up + 14), (left, bottom_up + 14)]
        for point, (x, y) in zip(spline.points, corners, strict=True):
            point.co = (x / 64, (y - 24) / 64 + 0.5)
            point.handle_type = "VECTOR"
    return mask


def _look(bpy: object, scene: object, mask: object) -> dict:
    from addon import animation, results_import

    group = bpy.data.node_groups.get(results_import.GROUP_NAME)
    fcurves = animation.fcurves_of(mask) or []
    return {
        "images": {image.name: image.colorspace_settings.name for image in bpy.data.images},
        "outputs": [] if group is None else [s.name for s in group.interface.items_tree if s.in_out == "OUTPUT"],
        "fcurves": {f.data_path: [int(p.co[0]) for p in f.keyframe_points] for f in fcurves},
        "markers": sorted(marker.frame for marker in scene.timeline_markers),
    }


@pytest.fixture(scope="module")
def plate(tmp_path_factory, write_small_shot) -> Path:
    folder = tmp_path_factory.mktemp("plate")
    write_small_shot(folder, FRAMES)
    return folder


@pytest.fixture(scope="module")
def engine(parity_checkpoint, one_thread_env, plate, tmp_path_factory) -> Iterator[ServerProcess]:
    args = ["--bind", "tcp://127.0.0.1:0", "--checkpoint", str(parity_checkpoint), "--device", "cpu"]
    log_path = tmp_path_factory.mktemp("engine-log") / "stderr.log"
    server = ServerProcess([*args, "--allow-root", str(plate)], one_thread_env, log_path)
    yield server
    assert server.stop() == 0, server.log()


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


NOTHING_IMPORTED = {"images": {}, "outputs": [], "fcurves": {}, "markers": []}


def test_no_engine_is_a_clear_message_and_changes_nothing(report):
    look = report["no_engine"]
    assert look.pop("message").startswith(f"No engine answers at {NOBODY}")
    assert look == NOTHING_IMPORTED


def test_a_cancelled_run_imports_nothing(report):
    look = report["cancelled"]
    assert (look.pop("status"), look.pop("open")) == ("cancelled", False)
    assert look == NOTHING_IMPORTED


def test_a_run_leaves_a_matte_per_frame_of_each_enabled_object_beside_the_blend_file(report, work):
    assert report["done"]["status"] == "done", report["done"]["message"]
    cache = Path(report["cache"])
    assert cache == work / "maskprop_cache" / "00000_png"  # the clip is named after its first file
    assert sorted(p.relative_to(cache).as_posix() for p in (cache / "mattes").rglob("*.png")) == [
        f"mattes/obj1/{i:05d}.png" for i in range(1, FRAMES + 1)
    ]
    matte = cv2.imread(str(cache / "mattes" / "obj1" / "00001.png"), cv2.IMREAD_UNCHANGED)
    assert matte.dtype == np.uint16
    assert (matte[8:22, 6:20] > 32768).mean() > 0.9  # the keyframe's matte is the drawn square


def test_a_run_is_imported_as_sequences_a_node_group_confidence_keys_and_review_markers(report):
    look = report["done"]
    assert look["images"] == {"maskprop obj1": "Non-Color"}
    assert look["outputs"] == ["red"]  # the disabled blue layer is not propagated
    assert look["fcurves"] == {'["confidence_obj1"]': list(range(1, FRAMES + 1))}
    # Parity weights are not sure of anything, so every frame but the keyframe is below the 0.5 threshold.
    assert look["markers"] == list(range(2, FRAMES + 1))


def test_review_frames_are_found_in_both_directions(report):
    assert report["review_jumps"] == [5, 3]
    assert report["no_review_before_keyframe"] is None


def test_the_threshold_slider_re_marks_the_last_run(report):
    assert report["markers_at_zero"] == []  # no object was lost, and no confidence is below 0


def test_streamed_frames_are_the_files_pixels(work, plate):
    expected = cv2.imread(str(plate / "frames" / "00002.png"))[..., ::-1]
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
