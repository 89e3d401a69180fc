"""Clips written as a DAVIS-format folder: held-out test sets that `eval` and training's validation read.

Frames are JPEG (quality 95) under `JPEGImages/<clip>/`, labels DAVIS 2017 palette PNGs under
`Annotations/<clip>/`, every frame annotated, so J&F is measured over the whole clip.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from engine.io.atomic import write_bytes_atomic
from engine.io.images import encode_image
from engine.io.mattes import write_label_map
from engine.learning.clip import ClipSource

JPEG_QUALITY = 95


def write_clips(source: ClipSource, out: Path, count: int, seed: int) -> list[str]:
    """Write `count` clips drawn with generators seeded `(seed, i)`; returns the sequence names."""
    names = []
    for index in range(count):
        clip = source.sample(np.random.default_rng([seed, index]))
        name = f"clip{index:04d}"
        frames, annotations = out / "JPEGImages" / name, out / "Annotations" / name
        frames.mkdir(parents=True), annotations.mkdir(parents=True)
        for t, (frame, labels) in enumerate(zip(clip.frames, clip.labels, strict=True)):
            bgr = np.ascontiguousarray(frame[:, :, ::-1])
            jpeg = encode_image(".jpg", bgr, (cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY))
            write_bytes_atomic(frames / f"{t:05d}.jpg", jpeg)
            write_label_map(annotations / f"{t:05d}.png", labels)
        names.append(name)
    return names
