"""The cache folder of a clip's results: runs staged, then merged so that a later run replaces only its own part.

No Blender needed: the module works on files and the protocol's result messages.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from addon.core import result_cache
from protocol import messages as m

WIDTH, HEIGHT = 12, 8


def square(x: float, size: float = 3.0) -> np.ndarray:
    return np.array([[x, 1], [x + size, 1], [x + size, 1 + size], [x, 1 + size]], dtype=np.float64)


def run(folder: Path, frames: range, objects: tuple[int, ...], level: int) -> None:
    """Stage and commit one run: every matte of it is `level`, object `i` is a square at x = frame + i."""
    rows, contours = {}, {}
    for frame in frames:
        for object_id in objects:
            result_cache.stage_matte(folder, object_id, frame, np.full((HEIGHT, WIDTH), level, np.uint16))
            contours.setdefault(object_id, {})[frame] = [(square(frame + object_id), False)]
        rows[frame] = [{"id": i, "confidence": level / 65535, "lost": False, "area": 9} for i in objects]
    result_cache.commit(folder, rows, contours, WIDTH, HEIGHT)


def levels(folder: Path, object_id: int) -> dict[str, int]:
    """{file name: its single value} of an object's committed mattes."""
    files = sorted((folder / "mattes" / f"obj{object_id}").glob("*.png"))
    return {p.stem: int(cv2.imread(str(p), cv2.IMREAD_UNCHANGED).max()) for p in files}


def table(folder: Path) -> dict[tuple[int, int], float]:
    document = json.loads((folder / "confidence.json").read_text())
    return {(f["frame"], o["id"]): o["confidence"] for f in document["frames"] for o in f["objects"]}


def test_a_later_run_replaces_its_frames_and_objects_and_keeps_the_rest(tmp_path: Path) -> None:
    run(tmp_path, range(0, 6), (1, 2), 1000)
    run(tmp_path, range(3, 5), (1,), 2000)  # object 1 re-propagated over frames 3 and 4; object 2 not asked

    assert levels(tmp_path, 1) == {
        "00001": 1000,
        "00002": 1000,
        "00003": 1000,
        "00004": 2000,
        "00005": 2000,
        "00006": 1000,
    }
    assert set(levels(tmp_path, 2).values()) == {1000}
    assert {key: round(value * 65535) for key, value in table(tmp_path).items()} == {
        (frame, i): 2000 if i == 1 and frame in (3, 4) else 1000 for frame in range(6) for i in (1, 2)
    }
    contours = result_cache.read_contours(tmp_path)
    assert sorted(contours[1].frames) == list(range(6))
    np.testing.assert_array_equal(contours[1].frames[4][0][0], square(5))
    assert (contours[2].width, contours[2].height) == (WIDTH, HEIGHT)
    assert not (tmp_path / result_cache.INCOMING).exists()


def test_discarded_mattes_never_reach_the_results(tmp_path: Path) -> None:
    run(tmp_path, range(0, 2), (1,), 1000)
    result_cache.stage_matte(tmp_path, 1, 0, np.full((HEIGHT, WIDTH), 5, np.uint16))

    result_cache.discard_staged(tmp_path)

    assert levels(tmp_path, 1) == {"00001": 1000, "00002": 1000}
    assert not (tmp_path / result_cache.INCOMING).exists()


def test_a_run_that_produced_nothing_changes_nothing(tmp_path: Path) -> None:
    run(tmp_path, range(0, 3), (1,), 1000)
    before = {p.name: p.read_bytes() for p in tmp_path.rglob("*.json")}

    run(tmp_path, range(0, 0), (), 1000)

    assert {p.name: p.read_bytes() for p in tmp_path.rglob("*.json")} == before


@pytest.mark.parametrize(
    ("file", "text", "reason"),
    [
        (
            "contours/obj1.json",
            '{"format": "maskprop-contours", "version": 1, "width": 20, "height": 8, "frames": []}',
            "object 1 was propagated on a 20x8 plate, this clip is 12x8",
        ),
        ("contours/obj1.json", "{not json", "is not a readable outline file"),
        ("contours/obj1.json", '{"format": "maskprop-contours", "version": 2}', "has version 2"),
        (
            "contours/obj1.json",
            '{"format": "maskprop-contours", "version": 1, "width": 12, "height": 8, '
            '"frames": [{"frame": 0, "polygons": [{"hole": false, "points": [1, 2]}]}]}',
            "needs \\(x, y\\) points",
        ),
        ("confidence.json", '{"format": "other"}', "is not a maskprop-confidence document"),
    ],
)
def test_results_that_cannot_be_merged_are_refused_before_a_run(tmp_path: Path, file: str, text: str, reason: str):
    path = tmp_path / file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)

    with pytest.raises(ValueError, match=f"The earlier results in .* cannot be merged .*{reason}.*move that folder"):
        result_cache.check_mergeable(tmp_path, WIDTH, HEIGHT)
    assert path.read_text() == text


def test_an_empty_or_matching_cache_can_be_merged(tmp_path: Path) -> None:
    result_cache.check_mergeable(tmp_path / "nothing yet", WIDTH, HEIGHT)
    run(tmp_path, range(0, 2), (1,), 1000)
    result_cache.check_mergeable(tmp_path, WIDTH, HEIGHT)


def result_with(contours: list[m.Contours] | None) -> m.Result:
    objects = [m.ObjectResult(id=i, confidence=0.5, lost=i == 2, area=0) for i in (1, 2)]
    return m.Result(
        frame=3, objects=objects, mattes=np.zeros((2, HEIGHT, WIDTH), np.uint16), sequence=0, contours=contours
    )


def test_traced_polygons_split_by_starts_and_a_lost_object_has_none() -> None:
    points = np.vstack([square(0), square(5)[::-1]]).astype(np.float32)
    result = result_with([m.Contours(id=1, points=points, starts=[0, 4], holes=[False, True])])

    polygons = result_cache.traced_polygons(result)

    assert sorted(polygons) == [1, 2] and polygons[2] == []
    assert [hole for _, hole in polygons[1]] == [False, True]
    np.testing.assert_array_equal(polygons[1][1][0], square(5)[::-1])


def test_a_result_without_outlines_is_an_error() -> None:
    with pytest.raises(ValueError, match="no outlines with frame 3"):
        result_cache.traced_polygons(result_with(None))
