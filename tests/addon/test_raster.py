"""The numpy mask rasteriser: unit tests on constructed shapes, and a comparison with the compositor's Mask node.

The comparison renders real Mask datablocks headless in a child process (so no Blender scene state leaks into
other tests), reads the same datablocks through ``mask_data`` and requires IoU >= 0.99 per layer and for the
blended result.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
import pytest

from addon.core import raster
from addon.core.raster import BezierPoint, LayerShape, SplineShape

REPO = Path(__file__).resolve().parents[2]
# Handle length, as a fraction of the radius, of the usual four-segment cubic Bézier circle.
KAPPA = 4.0 / 3.0 * (math.sqrt(2.0) - 1.0)
# Frame sizes of the comparison: landscape, square and portrait exercise both branches of the aspect mapping.
RESOLUTIONS = [(320, 180), (200, 200), (150, 240)]


def circle(cx: float, cy: float, radius: float, cyclic: bool = True, clockwise: bool = False) -> SplineShape:
    """Four Bézier points approximating a circle, counter-clockwise unless ``clockwise``."""
    sign = -1.0 if clockwise else 1.0
    points = []
    for quarter in range(4):
        angle = sign * quarter * math.pi / 2.0
        x, y = cx + radius * math.cos(angle), cy + radius * math.sin(angle)
        tx, ty = -sign * math.sin(angle) * KAPPA * radius, sign * math.cos(angle) * KAPPA * radius
        points.append(BezierPoint(co=(x, y), handle_left=(x - tx, y - ty), handle_right=(x + tx, y + ty)))
    return SplineShape(points=tuple(points), cyclic=cyclic)


def polygon(vertices: list[tuple[float, float]]) -> SplineShape:
    """A cyclic spline with straight edges: every handle sits on its point."""
    return SplineShape(points=tuple(BezierPoint(co=v, handle_left=v, handle_right=v) for v in vertices))


def layer(*splines: SplineShape, **settings: object) -> LayerShape:
    return LayerShape(name="layer", splines=splines, **settings)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def test_square_covers_the_pixels_whose_centres_it_contains() -> None:
    filled = raster.rasterize_layer(layer(polygon([(0.25, 0.25), (0.75, 0.25), (0.75, 0.75), (0.25, 0.75)])), 200, 200)

    rows, columns = np.nonzero(filled)
    assert (rows.min(), rows.max(), columns.min(), columns.max()) == (50, 149, 50, 149)
    assert filled.sum() == 100 * 100


def test_landscape_frame_scales_by_width_and_centres_the_height() -> None:
    # A rectangle at x 80..240 and y 45..135 (y up) of a 320x180 frame, in mask space; Blender renders it at
    # columns 80..239 and rows-up 45..134.
    def to_mask(x: float, y: float) -> tuple[float, float]:
        return (x / 320.0, (y / 180.0 - 0.5) * 180.0 / 320.0 + 0.5)

    corners = [to_mask(80, 45), to_mask(240, 45), to_mask(240, 135), to_mask(80, 135)]

    filled = raster.rasterize_layer(layer(polygon(corners)), 320, 180)

    rows, columns = np.nonzero(filled)
    assert (columns.min(), columns.max()) == (80, 239)
    assert (179 - rows.max(), 179 - rows.min()) == (45, 134)


def test_bezier_circle_matches_the_analytic_area() -> None:
    filled = raster.rasterize_layer(layer(circle(0.5, 0.5, 0.4)), 400, 400)

    assert filled.sum() == pytest.approx(math.pi * 160.0**2, rel=2e-3)


def test_concave_shape_leaves_its_notch_empty() -> None:
    notched = polygon([(0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.5, 0.3), (0.1, 0.9)])

    filled = raster.rasterize_layer(layer(notched), 100, 100)

    assert not filled[100 - 80, 50]  # inside the notch, above its tip at y = 0.3
    assert filled[100 - 20, 50]
    area = 0.8 * 0.8 - 0.5 * 0.8 * 0.6  # the square minus the notch triangle
    assert filled.sum() == pytest.approx(area * 100 * 100, rel=0.02)


def test_splines_of_a_layer_unite_unless_holes_are_calculated() -> None:
    outer, inner = circle(0.5, 0.5, 0.4), circle(0.5, 0.5, 0.15, clockwise=True)

    united = raster.rasterize_layer(layer(outer, inner), 200, 200)
    holed = raster.rasterize_layer(layer(outer, inner, fill_holes=True), 200, 200)

    assert united[100, 100]
    assert not holed[100, 100]
    assert united.sum() - holed.sum() == pytest.approx(math.pi * 30.0**2, rel=0.02)


def test_clockwise_outline_gains_the_anti_aliasing_strip_outside() -> None:
    counter = raster.rasterize_layer(layer(circle(0.5, 0.5, 0.3)), 200, 200)
    clockwise = raster.rasterize_layer(layer(circle(0.5, 0.5, 0.3, clockwise=True)), 200, 200)

    assert np.all(clockwise[counter])
    # About sqrt(1/2) of a pixel more radius all round the 60-pixel circle.
    assert clockwise.sum() - counter.sum() == pytest.approx(2 * math.pi * 60 * math.sqrt(0.5), rel=0.15)


def test_subtract_layer_cuts_a_hole_in_the_composite() -> None:
    body = layer(polygon([(0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9)]))
    hole = layer(polygon([(0.4, 0.4), (0.6, 0.4), (0.6, 0.6), (0.4, 0.6)]), blend="MERGE_SUBTRACT")

    matte = raster.composite([body, hole], 100, 100)

    assert matte.dtype == np.float32
    assert matte.sum() == 80 * 80 - 20 * 20
    assert matte[50, 50] == 0.0


def test_composite_applies_invert_alpha_and_hidden_layers() -> None:
    square = polygon([(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)])

    inverted = raster.composite([layer(square, invert=True)], 10, 10)
    faint = raster.composite([layer(square, alpha=0.25)], 10, 10)
    hidden = raster.composite([layer(square, hide_render=True)], 10, 10)

    assert inverted[:, :5].max() == 0.0 and inverted[:, 5:].min() == 1.0
    assert faint.max() == pytest.approx(0.25)
    assert hidden.max() == 0.0


def test_difference_blend_keeps_the_symmetric_difference() -> None:
    left = layer(polygon([(0.0, 0.0), (0.6, 0.0), (0.6, 1.0), (0.0, 1.0)]))
    right = layer(polygon([(0.4, 0.0), (1.0, 0.0), (1.0, 1.0), (0.4, 1.0)]), blend="DIFFERENCE")

    matte = raster.composite([left, right], 10, 10)

    assert matte[0].tolist() == [1, 1, 1, 1, 0, 0, 1, 1, 1, 1]


def test_open_spline_is_closed_by_a_straight_edge() -> None:
    closed = raster.rasterize_layer(layer(circle(0.5, 0.5, 0.4)), 400, 400)
    opened = raster.rasterize_layer(layer(circle(0.5, 0.5, 0.4, cyclic=False)), 400, 400)

    # Three quarters of the disc plus the triangle under the chord from the last point back to the first.
    expected = 0.75 * math.pi * 160.0**2 + 0.5 * 160.0**2
    assert opened.sum() == pytest.approx(expected, rel=3e-3)
    assert np.all(closed[opened])


def test_unfilled_splines_are_not_rasterised() -> None:
    hollow = SplineShape(points=circle(0.5, 0.5, 0.4).points, fill=False)

    assert not raster.rasterize_layer(layer(hollow), 50, 50).any()


def test_label_map_gives_later_layers_the_overlap() -> None:
    first = layer(polygon([(0.0, 0.0), (0.6, 0.0), (0.6, 1.0), (0.0, 1.0)]))
    second = layer(polygon([(0.4, 0.0), (1.0, 0.0), (1.0, 0.5), (0.4, 0.5)]))

    labels = raster.label_map([first, second], 10, 10)

    assert labels.dtype == np.uint8
    assert labels[9].tolist() == [1, 1, 1, 1, 2, 2, 2, 2, 2, 2]  # bottom row, where both layers reach
    assert labels[0].tolist() == [1, 1, 1, 1, 1, 1, 0, 0, 0, 0]


# The comparison with Blender. Functions below run inside the child process that imports bpy.


def _add_spline(mask_layer: object, shape: SplineShape, handle_type: str) -> None:
    spline = mask_layer.splines.new()
    spline.points.add(len(shape.points) - 1)
    spline.use_cyclic = shape.cyclic
    for point, source in zip(spline.points, shape.points, strict=True):
        point.handle_type = handle_type
        point.co = source.co
        if handle_type == "FREE":
            point.handle_left, point.handle_right = source.handle_left, source.handle_right


def _scene_layers() -> list[tuple[str, str, bool, list[tuple[SplineShape, str]]]]:
    """(name, blend, use_fill_holes, [(spline, handle type)]) per layer of the compared mask, bottom to top."""
    star = polygon([(0.55 + r * math.cos(a * math.pi / 5), 0.45 + r * math.sin(a * math.pi / 5))
                    for a, r in zip(range(10), [0.2, 0.08] * 5, strict=True)])  # fmt: skip
    return [
        ("blob", "MERGE_ADD", False, [(circle(0.3, 0.5, 0.17), "FREE"), (circle(0.45, 0.62, 0.1), "FREE")]),
        ("star", "MERGE_ADD", False, [(star, "AUTO")]),
        ("cut", "MERGE_SUBTRACT", False, [(circle(0.3, 0.5, 0.05), "FREE")]),
        # A nested spline wound like its outline: a hole up to Blender 5.1, filled from 5.2 (winding rule).
        ("ring", "MERGE_ADD", True, [(circle(0.8, 0.4, 0.12), "FREE"), (circle(0.8, 0.4, 0.05), "FREE")]),
        # Wound the other way, as the add-on writes holes: a hole in every Blender.
        ("washer", "MERGE_ADD", True, [(circle(0.75, 0.68, 0.08), "FREE"), (circle(0.75, 0.68, 0.035, True), "FREE")]),
        ("clockwise", "MERGE_ADD", False, [(circle(0.12, 0.3, 0.1, clockwise=True), "FREE")]),
    ]


def render_cases(out_dir: str) -> None:
    """Render the mask at each resolution: every layer alone, then the blend of all; write shapes as JSON."""
    import bpy

    from addon import mask_data
    from tests.addon.compositing import render_mask_node, render_still

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    mask = bpy.data.masks.new("Compared")
    for name, blend, fill_holes, splines in _scene_layers():
        mask_layer = mask.layers.new(name=name)
        mask_layer.blend, mask_layer.use_fill_holes = blend, fill_holes
        for shape, handle_type in splines:
            _add_spline(mask_layer, shape, handle_type)
    render_mask_node(scene, mask)
    shapes = {}
    for width, height in RESOLUTIONS:
        scene.render.resolution_x, scene.render.resolution_y = width, height
        for mask_layer in mask.layers:
            mask_layer.hide_render = True
        for mask_layer in mask.layers:
            mask_layer.hide_render, blend, mask_layer.blend = False, mask_layer.blend, "MERGE_ADD"
            render_still(scene, Path(out_dir) / f"{width}x{height}_{mask_layer.name}.png")
            mask_layer.hide_render, mask_layer.blend = True, blend
        for mask_layer in mask.layers:
            mask_layer.hide_render = False
        render_still(scene, Path(out_dir) / f"{width}x{height}_all.png")
        shapes[f"{width}x{height}"] = [asdict(shape) for shape in mask_data.mask_layers_at(mask, scene.frame_current)]
    (Path(out_dir) / "shapes.json").write_text(json.dumps(shapes))


def _layer_from_json(data: dict) -> LayerShape:
    splines = tuple(
        SplineShape(
            points=tuple(
                BezierPoint(**{key: tuple(value) for key, value in point.items()}) for point in spline["points"]
            ),
            cyclic=spline["cyclic"],
            fill=spline["fill"],
        )
        for spline in data["splines"]
    )
    return LayerShape(**{**data, "splines": splines})


@pytest.fixture(scope="module")
def blender_renders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out_dir = tmp_path_factory.mktemp("mask-node")
    script = "import sys; from tests.addon.test_raster import render_cases; render_cases(sys.argv[1])"
    subprocess.run([sys.executable, "-c", script, str(out_dir)], cwd=REPO, check=True, capture_output=True, timeout=120)
    return out_dir


def _rendered(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    assert image is not None, path
    return image > 127


@pytest.mark.blender
@pytest.mark.parametrize(("width", "height"), RESOLUTIONS)
def test_layers_match_the_compositor_mask_node(blender_renders: Path, width: int, height: int) -> None:
    shapes = json.loads((blender_renders / "shapes.json").read_text())[f"{width}x{height}"]
    layers = [_layer_from_json(data) for data in shapes]

    scores = {}
    for shape in layers:
        ours = raster.rasterize_layer(shape, width, height)
        scores[shape.name] = iou(ours, _rendered(blender_renders / f"{width}x{height}_{shape.name}.png"))
    scores["all"] = iou(
        raster.composite(layers, width, height) > 0.5, _rendered(blender_renders / f"{width}x{height}_all.png")
    )

    assert min(scores.values()) >= 0.99, scores
