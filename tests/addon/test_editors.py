"""The panel in the three editors, and Propagate run from the compositor through a local engine the add-on starts.

A fresh Blender process enables the repository's add-on as the Preferences do (`preferences.addon_enable`, so
its preferences exist), turns one area of the startup screen into each editor in turn and asks, in that real
context, which mask and clip the panel would propagate and whether the panel and the operator are available.
Then, in the compositor, it presses Propagate with 'Start a Local Engine' on: the add-on starts the engine
with this environment's interpreter and the parity weights, propagates, and stops it when the add-on is
disabled. It reports what it found as JSON, so no Blender state leaks into other tests.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

pytestmark = pytest.mark.blender

REPO = Path(__file__).resolve().parents[2]
FRAMES = 4


def run_in_blender(frames: str, checkpoint: str, movie: str, address: str, work: str) -> None:
    """Everything that needs `bpy`; the findings go to `work/report.json`."""
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.preferences.addon_enable(module="addon")
    from addon import operators, panel, targets
    from addon.core import engine_status, local_engine
    from tests.addon import layout_recorder

    bpy.ops.wm.save_as_mainfile(filepath=str(Path(work) / "shot.blend"))
    scene = bpy.context.scene
    clip = bpy.data.movieclips.load(str(Path(frames) / "00000.png"))
    clip.frame_start = scene.frame_start = 1
    scene.frame_set(1)
    drawn, other = _square_mask(bpy), bpy.data.masks.new("Other mask")
    window = bpy.context.window
    area = window.screen.areas[0]

    def look(editor: str, **space_settings: object) -> dict:
        area.type = editor
        space = area.spaces.active
        for name, value in space_settings.items():
            setattr(space, name, value)
        with bpy.context.temp_override(window=window, area=area):
            found = targets.from_context(bpy.context)
            can_propagate = bpy.ops.maskprop.propagate.poll()
            shown = targets.panel_shown(space)
            drawn, problems = layout_recorder.draw(panel.MASKPROP_PT_propagate, bpy.context) if shown else ([], [])
        named = found if isinstance(found, str) else [found[0].name, found[1].name]
        return {"panel": shown, "targets": named, "operator": can_propagate, "drawn": drawn, "problems": problems}

    report: dict = {
        "clip editor": look("CLIP_EDITOR", clip=clip, mode="MASK", mask=drawn),
        "clip editor without mask": look("CLIP_EDITOR", clip=clip, mode="MASK", mask=None),
        "clip editor tracking": look("CLIP_EDITOR", clip=clip, mode="TRACKING"),
        "image editor without active clip": look("IMAGE_EDITOR", mode="MASK", mask=other),
    }
    scene.active_clip = clip
    report["image editor"] = look("IMAGE_EDITOR", mode="MASK", mask=other)
    report["image editor view mode"] = look("IMAGE_EDITOR", mode="VIEW")
    report["compositor without mask"] = look("NODE_EDITOR", tree_type="CompositorNodeTree")
    scene.maskprop_mask = drawn
    report["compositor"] = look("NODE_EDITOR", tree_type="CompositorNodeTree")
    report["geometry nodes"] = look("NODE_EDITOR", tree_type="GeometryNodeTree")
    report["properties editor"] = look("PROPERTIES")

    prefs = bpy.context.preferences.addons["addon"].preferences
    prefs.engine_address, prefs.timeout = "tcp://127.0.0.1:9", 0.3  # the discard port: nothing answers there
    with bpy.context.temp_override(window=window, area=area):
        try:
            bpy.ops.maskprop.propagate()
        except RuntimeError as error:  # an operator's ERROR report becomes an exception when called from Python
            report["no engine"] = [str(error), *engine_status.current()]
    prefs.engine_address, prefs.timeout = address, 20.0
    prefs.start_local_engine, prefs.python_path, prefs.checkpoint_path = True, sys.executable, checkpoint
    scene.maskprop.direction, scene.maskprop.use_network_size, scene.maskprop.max_size = "forward", False, 0
    operators._active = operators.ActiveRun()  # what the panel shows while the local engine starts
    report["starting"] = look("NODE_EDITOR", tree_type="CompositorNodeTree")
    operators._active = None
    with bpy.context.temp_override(window=window, area=area):
        report["propagated"] = sorted(bpy.ops.maskprop.propagate())
        report["tested"] = sorted(bpy.ops.maskprop.test_connection())
    report["status"] = list(engine_status.current())
    report["mattes"] = sorted(p.name for p in Path(work, "maskprop_cache").rglob("*.png"))
    engine = local_engine._current
    report["engine_alive"] = engine.alive
    report["after a run"] = look("NODE_EDITOR", tree_type="CompositorNodeTree")

    prefs.frame_transport = "STREAM"
    scene.active_clip = bpy.data.movieclips.load(movie)
    report["movie_source"] = scene.active_clip.source
    with bpy.context.temp_override(window=window, area=area):
        try:
            bpy.ops.maskprop.propagate()
        except RuntimeError as error:
            report["streamed_movie"] = str(error)

    bpy.ops.preferences.addon_disable(module="addon")
    report["engine_exit_code_after_disable"] = engine.process.returncode
    report["left"] = [hasattr(bpy.types.Scene, "maskprop_mask"), hasattr(bpy.types, "MASKPROP_PT_propagate_image")]
    Path(work, "report.json").write_text(json.dumps(report))


def _square_mask(bpy: object) -> object:
    """One square layer over the shot's first square (left 6, top 8, 14 pixels wide, in 64 x 48 frames)."""
    mask = bpy.data.masks.new("Drawn mask")
    spline = mask.layers.new(name="red").splines.new()
    spline.use_cyclic = True
    spline.points.add(3)
    corners = [(6, 26), (20, 26), (20, 40), (6, 40)]  # bottom-up pixels
    for point, (x, y) in zip(spline.points, corners, strict=True):
        point.co = (x / 64, (y - 24) / 64 + 0.5)
        point.handle_type = "VECTOR"
    return mask


@pytest.fixture(scope="module")
def report(tmp_path_factory, write_small_shot, parity_checkpoint, one_thread_env) -> dict:
    plate = tmp_path_factory.mktemp("plate")
    write_small_shot(plate, FRAMES)
    movie = plate / "shot.avi"
    writer = cv2.VideoWriter(str(movie), cv2.VideoWriter_fourcc(*"MJPG"), 24, (64, 48))
    for _ in range(FRAMES):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    work = tmp_path_factory.mktemp("blender")
    script = "import sys; from tests.addon.test_editors import run_in_blender; run_in_blender(*sys.argv[1:])"
    arguments = [str(plate / "frames"), str(parity_checkpoint), str(movie), address, str(work)]
    command = [sys.executable, "-c", script, *arguments]
    done = subprocess.run(command, cwd=REPO, env=one_thread_env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads((work / "report.json").read_text())


CLIP = "00000.png"  # a clip is named after its first file


@pytest.mark.parametrize(
    ("place", "panel", "targets"),
    [
        ("clip editor", True, ["Drawn mask", CLIP]),
        ("clip editor without mask", True, "Choose or draw a mask in this editor's Mask mode"),
        ("clip editor tracking", False, "Choose or draw a mask in this editor's Mask mode"),
        (
            "image editor without active clip",
            True,
            "Choose the clip to propagate over in the panel (the scene's active clip)",
        ),
        ("image editor", True, ["Other mask", CLIP]),  # the editor's own mask wins over the scene's choice
        ("image editor view mode", False, "Choose or draw a mask in this editor's Mask mode"),
        ("compositor without mask", True, "Choose the mask to propagate in the panel"),
        ("compositor", True, ["Drawn mask", CLIP]),
        ("geometry nodes", False, ["Drawn mask", CLIP]),
        ("properties editor", False, ["Drawn mask", CLIP]),  # scripts and other editors use the scene's choices
    ],
)
def test_each_editor_finds_its_mask_and_clip_or_says_what_is_missing(report, place, panel, targets):
    found = report[place]
    assert (found["panel"], found["targets"]) == (panel, targets)
    assert found["operator"] is not isinstance(targets, str)
    assert found["problems"] == []  # every property, operator and icon the panel names exists


def test_the_panel_offers_what_its_editor_lacks_and_says_what_is_missing(report):
    clip_editor, image_editor = report["clip editor without mask"]["drawn"], report["image editor"]["drawn"]
    assert clip_editor == [
        "(QUESTION) Not checked yet",
        "<(LINKED) Test Connection>",
        "(INFO) Choose or draw a mask in this editor's Mask mode",
    ]
    assert image_editor[2:5] == ["[Active Movie Clip]", "  Objects", "  (INFO) Draw one mask layer per object"]
    assert report["compositor without mask"]["drawn"][2:] == [
        "[Mask]",
        "[Active Movie Clip]",
        "(INFO) Choose the mask to propagate in the panel",
    ]


def test_the_panel_shows_the_objects_options_progress_and_review_tools(report):
    idle = report["compositor"]["drawn"]
    assert idle[4:7] == ["  Objects", "  <(CHECKBOX_HLT) 1: red>", "Keyframe: 1"]
    assert {"[Whole Clip]", "[First] (greyed out) | [Last] (greyed out)", "[Direction]", "[Reader]"} <= set(idle)
    assert {"[Network's Size]", "[Internal Size] (greyed out)"} <= set(idle)
    assert {"[Learn This Shot]", "[Learning Steps] (greyed out)"} <= set(idle)
    assert idle[-1] == "<(PLAY) Propagate>"
    assert report["starting"]["drawn"][-1] == "progress 0%: Starting the local engine | <(CANCEL) >"
    after = report["after a run"]["drawn"]
    assert after[0].startswith("(CHECKMARK) Connected to tcp://127.0.0.1:")
    assert after[-3:] == [
        "<(PLAY) Re-propagate from This Frame>",
        "[Review Below]",
        "<(TRIA_LEFT) Previous> | <(TRIA_RIGHT) Next>",
    ]


def test_without_an_engine_propagate_says_how_to_get_one_and_the_panel_shows_it(report):
    error, state, text = report["no engine"]
    assert "No engine answers at tcp://127.0.0.1:9: start one with `python -m engine serve`" in error
    assert (state, text) == ("failed", error.removeprefix("Error: ").splitlines()[0])


@pytest.mark.slow
def test_propagate_from_the_compositor_starts_a_local_engine_and_imports_the_run(report):
    assert report["propagated"] == ["FINISHED"]
    assert report["mattes"] == [f"{i:05d}.png" for i in range(1, FRAMES + 1)]
    assert report["tested"] == ["FINISHED"]  # the same engine answers Test Connection
    state, text = report["status"]
    assert state == "connected" and text.startswith("Connected to tcp://127.0.0.1:")
    assert report["engine_alive"]


@pytest.mark.slow
def test_a_streamed_movie_is_refused_with_what_to_change(report):
    assert report["movie_source"] == "MOVIE"
    assert (
        "A movie clip cannot be streamed: set 'Frames As' to 'File Paths' in the preferences"
        in report["streamed_movie"]
    )


@pytest.mark.slow
def test_disabling_the_add_on_stops_its_engine_and_unregisters_everything(report):
    assert report["engine_exit_code_after_disable"] == 0
    assert report["left"] == [False, False]
