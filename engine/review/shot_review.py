"""`write_review`: the review pictures of one finished shot, into `OUT/review/` beside its mattes.

    contact_sheet.png  the least confident frames with their mattes, names and confidences (`contact_sheet`)
    confidence.png     confidence by frame, per object, with the threshold and keyframes (`confidence_plot`)
    preview.mp4        the whole shot with its mattes drawn over the plate, H.264 (`preview_movie`)
    worst.png          the least confident frame with its mattes, small, for a batch report to show

The optional packages are found and every file of the folder is looked for before the first picture is written,
so a bad folder fails at once with one line naming the file rather than half-way through a shot's movie.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from engine.choices import REVIEW_BELOW
from engine.io import FrameSequence, ensure_output_folder, write_bytes_atomic
from engine.io.images import encode_image
from engine.review import captions, confidence_plot, contact_sheet, preview_movie
from engine.review.extras import require
from engine.review.overlay import draw_overlay, fit_width
from engine.review.shot_results import ShotResults, read_layers, read_results
from engine.shots.manifest import REVIEW

FOLDER = REVIEW  # OUT/review/: the manifest's name for it, so a fresh run clears it with the rest
# The files written into it, named once for the writer here and for the readers (the batch report, the batch).
CONTACT_SHEET = "contact_sheet.png"
CONFIDENCE_PLOT = "confidence.png"
PREVIEW = "preview.mp4"
WORST = "worst.png"
SHEET_FRAMES = 12
THUMBNAIL_WIDTH = 240


@dataclass(frozen=True)
class ShotReview:
    """The files `write_review` wrote; None for one it was asked not to write."""

    contact_sheet: Path | None
    confidence_plot: Path | None
    preview: Path | None
    worst: Path | None


def write_review(
    out: str | Path,
    frames: FrameSequence,
    threshold: float = REVIEW_BELOW,
    sheet_frames: int = SHEET_FRAMES,
    movie: bool = True,
) -> ShotReview:
    """Write the review of the finished shot in `out`, propagated on the plates `frames`, into `out/review/`.

    Frames whose confidence is under `threshold` are captioned and shaded as needing review; the contact sheet
    shows the `sheet_frames` least confident frames (all of them in a shorter shot). `movie` False leaves out
    the preview, which reads and encodes every frame, for a caller that wants only the pictures. Raises
    `InputError` for a missing or inconsistent file of the folder, `OutputError` where `out/review` cannot be
    written, `MissingExtra` without the `review` extra's packages.
    """
    if sheet_frames < 1:
        raise ValueError(f"a contact sheet shows at least one frame, not {sheet_frames}")
    require("matplotlib", "the confidence plot")
    if movie:
        preview_movie.check_encoder()
    results = read_results(out, frames)
    folder = ensure_output_folder(Path(out) / FOLDER)
    worst = contact_sheet.lowest_confidence(results.frame_confidence, 1)[0]
    thumbnail = _overlaid(results, frames, worst, fit_width(frames.size, THUMBNAIL_WIDTH))
    return ShotReview(  # the movie last: it takes longest, and the pictures are worth having if it fails
        contact_sheet=_write_png(folder / CONTACT_SHEET, _sheet(results, frames, threshold, sheet_frames)),
        confidence_plot=write_bytes_atomic(folder / CONFIDENCE_PLOT, confidence_plot.plot_png(results, threshold)),
        worst=_write_png(folder / WORST, thumbnail),
        preview=_write_preview(folder / PREVIEW, results, frames, threshold) if movie else None,
    )


def _sheet(results: ShotResults, frames: FrameSequence, threshold: float, count: int) -> np.ndarray:
    indices = contact_sheet.lowest_confidence(results.frame_confidence, count)
    tile = fit_width(frames.size, contact_sheet.TILE_WIDTH)
    pictures = [_overlaid(results, frames, index, tile) for index in indices]
    return contact_sheet.compose(pictures, [_caption(results, index, threshold) for index in indices])


def _write_preview(path: Path, results: ShotResults, frames: FrameSequence, threshold: float) -> Path:
    size = fit_width(frames.size, min(preview_movie.MAX_WIDTH, frames.size[0]), even=True)
    frame_rate = frames.frame_rate or preview_movie.DEFAULT_FRAME_RATE
    preview_movie.write_movie(path, _movie_pictures(results, frames, threshold, size), size, frame_rate)
    return path


def _movie_pictures(
    results: ShotResults, frames: FrameSequence, threshold: float, size: tuple[int, int]
) -> Iterator[np.ndarray]:
    """Every frame of the shot with its mattes and, top left, its caption: a paused movie says where it is."""
    for index in results.names:
        picture = _overlaid(results, frames, index, size)
        captions.write_on_backing(picture, *_caption(results, index, threshold))
        yield picture


def _overlaid(results: ShotResults, frames: FrameSequence, index: int, size: tuple[int, int]) -> np.ndarray:
    """Frame `index` with its mattes, at `size` (width, height)."""
    labels, mattes = read_layers(results, index, frames.size)
    return draw_overlay(frames[index], labels, mattes, size)


def _caption(results: ShotResults, index: int, threshold: float) -> tuple[str, tuple[int, int, int]]:
    confidence = results.frame_confidence[index]
    text = captions.caption(results.names[index], confidence, index in results.keyframes)
    return text, captions.colour(confidence, threshold)


def _write_png(path: Path, rgb: np.ndarray) -> Path:
    return write_bytes_atomic(path, encode_image(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)))
