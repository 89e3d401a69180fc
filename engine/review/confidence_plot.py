"""Confidence over the shot, one line per object: where it drops, whether it recovers, how far from a keyframe.
The contact sheet shows the worst frames; this shows when they happen and what the rest of the shot looks like.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator, Mapping
from typing import Any

from engine.review.captions import LOW
from engine.review.extras import require
from engine.review.overlay import object_colour
from engine.review.shot_results import ShotResults

SIZE = (10.0, 3.6)  # inches, at DPI: 1000x360 pixels
DPI = 100
MARKERS_UP_TO = 120  # frames: beyond, dots per frame would blur into the line
WHAT = "the confidence plot"


def plot_png(results: ShotResults, threshold: float) -> bytes:
    """The plot as PNG bytes: each object's confidence by frame index, the review threshold dashed, frames below
    it shaded, keyframes dotted."""
    figure = require("matplotlib.figure", WHAT).Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    # Agg, named: a headless farm worker has no display, and pyplot's global backend choice is not ours to make.
    canvas = require("matplotlib.backends.backend_agg", WHAT).FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    _shade_frames_to_review(axes, results.frame_confidence, threshold)
    _plot_objects(axes, results)
    axes.axhline(threshold, color="0.35", linestyle="--", linewidth=1, label=f"review below {threshold:g}")
    for position, keyframe in enumerate(results.keyframes):
        axes.axvline(keyframe, color="0.5", linestyle=":", linewidth=1.2, label="keyframe" if position == 0 else "_")
    _label(axes, results)
    buffer = io.BytesIO()
    canvas.print_png(buffer)
    return buffer.getvalue()


def _shade_frames_to_review(axes: Any, confidence: Mapping[int, float], threshold: float) -> None:
    for position, (first, last) in enumerate(_runs_below(confidence, threshold)):
        label = "to review" if position == 0 else "_"  # "_": left out of the legend
        axes.axvspan(first - 0.5, last + 0.5, color=_unit(LOW), alpha=0.18, linewidth=0, label=label)


def _plot_objects(axes: Any, results: ShotResults) -> None:
    marker = "o" if len(results.names) <= MARKERS_UP_TO else None
    for object_id in results.object_ids:
        series = results.object_confidence(object_id)
        rgb = _unit(object_colour(object_id))
        axes.plot(
            list(series), list(series.values()), color=rgb, marker=marker, markersize=3, label=f"object {object_id}"
        )


def _label(axes: Any, results: ShotResults) -> None:
    frames = list(results.names)
    axes.set(xlim=(frames[0] - 0.5, frames[-1] + 0.5), ylim=(0, 1.02), xlabel="frame index", ylabel="confidence")
    axes.xaxis.set_major_locator(require("matplotlib.ticker", WHAT).MaxNLocator(integer=True))
    axes.set_title(f"{results.folder.name}: confidence by frame", loc="left")
    axes.grid(axis="y", color="0.9")
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize="small")


def _runs_below(confidence: Mapping[int, float], threshold: float) -> Iterator[tuple[int, int]]:
    """(first, last) frame index of each run of consecutive frames under `threshold`."""
    low = [index for index in sorted(confidence) if confidence[index] < threshold]
    for _, run in itertools.groupby(enumerate(low), key=lambda pair: pair[1] - pair[0]):
        indices = [index for _, index in run]
        yield indices[0], indices[-1]


def _unit(rgb: tuple[int, int, int]) -> tuple[float, float, float]:
    """An 8-bit colour as matplotlib takes it."""
    return rgb[0] / 255, rgb[1] / 255, rgb[2] / 255
