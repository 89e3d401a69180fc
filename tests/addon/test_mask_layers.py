"""Contours to keyed mask splines: the numpy planning directly, the Mask layer in a child process.

The child process writes a layer from four frames of contours (a moving square, a second part appearing on the
second frame, a hole appearing on the third, the object lost on the fourth) twice, reads it back through
``mask_data`` at each frame and reports the layer's structure and its rasterised fill as JSON, so no Blender
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

from addon.core import contour_splines, raster

REPO = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = 320, 240
COUNT = 32
LAYER = "obj3 hero"


def rectangle(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """A rectangle's corners in contour order (x right, y down), as the engine sends them."""
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float32)


def shot() -> dict[int, list[tuple[np.ndarray, bool]]]:
    """Scene frames 10-13: a square moving right; a bar appears on 11; a hole in the square on 12; nothing on 13.

    Shapes are large next to the one-pixel anti-aliasing strip the Mask node adds along every outline.
    """
    frames: dict[int, list[tuple[np.ndarray, bool]]] = {}
    for index, frame in enumerate((10, 11, 12)):
        x = 40 + 20 * index
        frames[frame] = [(rectangle(x, 60, x + 100, 160), False)]
        if index >= 1:
            frames[frame].append((rectangle(220, 40 + 10 * index, 280, 200), False))
        if index == 2:
            frames[frame].append((rectangle(x + 30, 90, x + 70, 130), True))
    frames[13] = []  # the engine lost the object: it traced nothing
    return frames


def contour_fill(polygons: list[tuple[np.ndarray, bool]]) -> np.ndarray:
    """The input polygons filled even-odd at plate resolution, rows top to bottom."""
    outlines = [np.stack([p[:, 0] + 0.5, HEIGHT - 0.5 - p[:, 1]], axis=1) for p, _ in polygons]
    return raster.fill_even_odd(outlines, WIDTH, HEIGHT)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.logical_and(a, b).sum() / np.logical_or(a, b).sum())


def test_resample_spaces_points_evenly_along_a_square() -> None:
    square = rectangle(0, 0, 10, 10)

    points = contour_splines.resample(square, 8)

    assert points.shape == (8, 2)
    expected = [[0, 0], [5, 0], [10, 0], [10, 5], [10, 10], [5, 10], [0, 10], [0, 5]]
    np.testing.assert_allclose(points, expected, atol=1e-9)


def test_resample_keeps_the_perimeter_of_a_square_within_the_cut_corners() -> None:
    points = contour_splines.resample(rectangle(0, 0, 30, 20), 33)
    perimeter = np.linalg.norm(np.diff(np.vstack([points, points[:1]]), axis=0), axis=1).sum()

    assert perimeter == pytest.approx(100.0, rel=0.03)
    assert points.min(axis=0).tolist() == [0, 0] and points.max(axis=0).tolist() == [30, 20]


def test_resample_of_a_degenerate_polygon_is_one_point() -> None:
    points = contour_splines.resample(np.array([[3.0, 4.0], [3.0, 4.0]]), 5)

    assert np.all(points == [3.0, 4.0])


def test_align_undoes_a_rotated_start() -> None:
    previous = contour_splines.resample(rectangle(0, 0, 40, 20), 16)

    aligned = contour_splines.align(previous, np.roll(previous + 1.0, 5, axis=0))

    np.testing.assert_allclose(aligned, previous + 1.0)


def test_orient_winds_outlines_clockwise_and_holes_counter_clockwise_on_screen() -> None:
    clockwise = rectangle(0, 0, 40, 20)  # right along the top, then down: clockwise with y down
    assert contour_splines.signed_area(clockwise) == 800.0

    assert contour_splines.orient(clockwise, hole=False) is clockwise
    assert contour_splines.signed_area(contour_splines.orient(clockwise, hole=True)) == -800.0
    assert contour_splines.signed_area(contour_splines.orient(clockwise[::-1], hole=False)) == 800.0


def test_a_collapsed_spline_is_a_tiny_circle_outside_the_nearest_edge() -> None:
    for centre, expected in [
        ((5, 40), (-3.5, 40)),
        ((95, 40), (102.5, 40)),
        ((50, 2), (50, -3.5)),
        ((50, 77), (50, 82.5)),
    ]:
        shape = contour_splines.collapsed(np.array(centre, dtype=float), 16, 100, 80)
        assert shape.shape == (16, 2)
        np.testing.assert_allclose(shape.mean(axis=0), expected, atol=1e-9)
        assert np.abs(shape - expected).max() <= contour_splines.COLLAPSED_RADIUS + 1e-12
        assert len(np.unique(shape.round(9), axis=0)) == 16  # no two points coincide


def test_plan_tracks_keeps_each_spline_wound_one_way_whatever_the_tracer_sent() -> None:
    outline, hole = rectangle(0, 0, 40, 40), rectangle(10, 10, 20, 20)
    frames = {1: [(outline, False), (hole, True)], 2: [(outline[::-1] + 1, False), (hole[::-1] + 1, True)]}

    tracks = contour_splines.plan_tracks(frames, 8, 100, 80)

    assert [track.hole for track in tracks] == [False, True]
    assert all(contour_splines.signed_area(shape) > 0 for shape in tracks[0].shapes.values())
    assert all(contour_splines.signed_area(shape) < 0 for shape in tracks[1].shapes.values())


def test_align_without_a_previous_frame_keeps_the_points() -> None:
    current = contour_splines.resample(rectangle(0, 0, 4, 4), 4)

    assert contour_splines.align(None, current) is current


@pytest.mark.parametrize(("width", "height"), [(320, 180), (200, 200), (150, 240)])
def test_to_mask_space_inverts_raster_mask_to_pixels(width: int, height: int) -> None:
    contour = np.array([[0.0, 0.0], [width - 1.0, height - 1.0], [12.25, 80.5]])

    pixels = raster.mask_to_pixels(contour_splines.to_mask_space(contour, width, height), width, height)

    np.testing.assert_allclose(pixels[:, 0], contour[:, 0] + 0.5)
    np.testing.assert_allclose(pixels[:, 1], height - 0.5 - contour[:, 1])


def test_match_parts_keeps_slots_and_numbers_new_parts_on() -> None:
    previous = np.array([[10.0, 10.0], [100.0, 100.0]])
    near_second, near_first, new = rectangle(95, 95, 105, 105), rectangle(8, 8, 14, 14), rectangle(200, 0, 210, 10)

    assert contour_splines.match_parts(previous, [near_second, near_first]) == [1, 0]
    assert contour_splines.match_parts(previous, [new, near_first, near_second]) == [2, 0, 1]
    assert contour_splines.match_parts(previous, [near_second]) == [1]
    assert contour_splines.match_parts(np.empty((0, 2)), [near_first, new]) == [0, 1]


def test_plan_tracks_collapses_parts_before_they_appear_and_after_they_vanish() -> None:
    frames = {
        1: [(rectangle(0, 0, 10, 10), False)],
        2: [(rectangle(1, 0, 11, 10), False), (rectangle(50, 50, 60, 60), False)],
    }
    frames[3] = [frames[2][1]]  # the first part vanishes

    first, second = contour_splines.plan_tracks(frames, 8, 100, 80)

    assert sorted(first.shapes) == sorted(second.shapes) == [1, 2, 3]
    # Just outside the frame's edge nearest the last seen centroid (6, 5), and the first seen one (55, 55).
    np.testing.assert_allclose(first.shapes[3], np.full((8, 2), [6.0, -0.5 - contour_splines.OFF_FRAME]), atol=1e-2)
    np.testing.assert_allclose(second.shapes[1], np.full((8, 2), [55.0, 79.5 + contour_splines.OFF_FRAME]), atol=1e-2)
    np.testing.assert_allclose(second.shapes[3], second.shapes[2])
    assert not first.hole and not second.hole


def test_plan_tracks_matches_holes_only_with_holes() -> None:
    outline, hole = rectangle(0, 0, 40, 40), rectangle(10, 10, 20, 20)

    tracks = contour_splines.plan_tracks({1: [(outline, False)], 2: [(hole, True), (outline, False)]}, 8, 100, 80)

    assert [track.hole for track in tracks] == [False, True]
    np.testing.assert_allclose(
        tracks[1].shapes[1], np.full((8, 2), [-0.5 - contour_splines.OFF_FRAME, 15.0]), atol=1e-2
    )


# Functions below run inside the child process that imports bpy.


def write_and_report(report: str) -> None:
    """Write the layer twice into a fresh scene, then report its structure, keys and fill per frame as JSON."""
    import bpy

    from addon import animation, mask_data, mask_layers
    from tests.addon.compositing import render_mask_node, render_still

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    mask = bpy.data.masks.new("Shot mask")
    mask.layers.new(name="artist")
    for _ in range(2):
        mask_layers.write_object_layer(mask, 3, LAYER, shot(), WIDTH, HEIGHT, count=COUNT)
    layer = mask.layers[LAYER]
    fcurves = animation.fcurves_of(mask)
    render_mask_node(scene, mask)
    scene.render.resolution_x, scene.render.resolution_y = WIDTH, HEIGHT
    fills, renders = {}, {}
    for frame in shot():
        shapes = {shape.name: shape for shape in mask_data.mask_layers_at(mask, frame, scene)}
        fills[frame] = raster.rasterize_layer(shapes[LAYER], WIDTH, HEIGHT).astype(int).tolist()
        render_still(scene, Path(report).with_name(f"{frame}.png"))
        renders[frame] = (cv2.imread(str(Path(report).with_name(f"{frame}.png")), cv2.IMREAD_GRAYSCALE) > 127).tolist()
    result = {
        "layers": [lay.name for lay in mask.layers],
        "fill_holes": layer.use_fill_holes,
        "splines": [
            {"points": len(s.points), "cyclic": s.use_cyclic, "handles": sorted({p.handle_type for p in s.points})}
            for s in layer.splines
        ],
        "fcurves": {
            f"{f.data_path}[{f.array_index}]": [[k.co[0], k.interpolation] for k in f.keyframe_points] for f in fcurves
        },
        "groups": sorted({f.group.name for f in fcurves}),
        "fills": fills,
        "renders": renders,
    }
    Path(report).write_text(json.dumps(result))


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict:
    report = tmp_path_factory.mktemp("mask-layers") / "report.json"
    script = "import sys; from tests.addon.test_mask_layers import write_and_report; write_and_report(sys.argv[1])"
    subprocess.run([sys.executable, "-c", script, str(report)], cwd=REPO, check=True, capture_output=True, timeout=120)
    return json.loads(report.read_text())


@pytest.mark.blender
def test_layer_has_one_cyclic_free_handle_spline_per_part_slot(written: dict) -> None:
    assert written["layers"] == ["artist", LAYER]
    assert written["fill_holes"] is True
    assert written["splines"] == [{"points": COUNT, "cyclic": True, "handles": ["FREE"]}] * 3


@pytest.mark.blender
def test_every_point_and_handle_is_keyed_linearly_on_every_frame(written: dict) -> None:
    fcurves = written["fcurves"]

    assert len(fcurves) == 3 * COUNT * 3 * 2  # rewriting replaced the keys instead of adding to them
    expected = {
        f'layers["{LAYER}"].splines[{s}].points[{p}].{prop}[{axis}]'
        for s in range(3)
        for p in range(COUNT)
        for prop in ("co", "handle_left", "handle_right")
        for axis in (0, 1)
    }
    assert set(fcurves) == expected
    assert all(keys == [[float(frame), "LINEAR"] for frame in (10, 11, 12, 13)] for keys in fcurves.values())
    assert written["groups"] == ["obj3"]


@pytest.mark.blender
@pytest.mark.parametrize("frame", [10, 11, 12])
def test_layer_fills_the_traced_polygons_at_each_frame(written: dict, frame: int) -> None:
    fill = np.array(written["fills"][str(frame)], dtype=bool)

    assert iou(fill, contour_fill(shot()[frame])) >= 0.95


@pytest.mark.blender
@pytest.mark.parametrize("frame", [10, 11, 12])
def test_blenders_mask_node_renders_the_traced_polygons_holes_included(written: dict, frame: int) -> None:
    rendered = np.array(written["renders"][str(frame)], dtype=bool)

    assert iou(rendered, contour_fill(shot()[frame])) >= 0.95
    assert iou(rendered, np.array(written["fills"][str(frame)], dtype=bool)) >= 0.99  # our rasteriser agrees


@pytest.mark.blender
def test_layer_draws_nothing_where_the_object_is_lost(written: dict) -> None:
    assert not np.array(written["fills"]["13"], dtype=bool).any()  # every spline collapsed to a point
    assert not np.array(written["renders"]["13"], dtype=bool).any()
