"""The whole shot as an H.264 movie with its mattes drawn over the plate: the one review artefact that shows
motion, where a matte that boils or slides is obvious and a still frame hides it.

Encoded with PyAV: its PyPI wheels bundle FFmpeg with libx264 (the tests encode and decode H.264 with it), and
it writes the movie in-process from numpy frames, with nothing to find on PATH. (imageio-ffmpeg would pipe raw
frames into a bundled ffmpeg binary instead: a child process to start, watch and stop, for the same encoder.)
H.264 in yuv420p at even dimensions plays in every browser, review tool and OS viewer.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from fractions import Fraction

import numpy as np

from engine.io.atomic import write_atomic_by_name
from engine.review.extras import INSTALL, MissingExtra, require

MAX_WIDTH = 960
DEFAULT_FRAME_RATE = 24.0  # where the plates do not say: image sequences, most plates
ENCODER = "libx264"
QUALITY = {"crf": "20", "preset": "medium"}  # clean matte edges at about 15 kB a frame at 854x480
# The index at the start of the file: a browser (a batch report's page) plays the movie before it has all of it.
MUXING = {"movflags": "+faststart"}


def check_encoder() -> None:
    """Raise `MissingExtra` now, before any work, unless PyAV is installed with an H.264 encoder."""
    av = require("av", "the preview movie")
    try:
        av.codec.Codec(ENCODER, "w")
    except ValueError as error:  # av's UnknownCodecError
        raise MissingExtra(
            f"the preview movie needs PyAV with the {ENCODER} encoder, which this build of av lacks (PyPI's wheels "
            f"have it): {INSTALL}"
        ) from error


def write_movie(
    path: str | os.PathLike[str], pictures: Iterable[np.ndarray], size: tuple[int, int], frame_rate: float
) -> None:
    """Encode `pictures` (HxWx3 uint8 RGB, all `size` (width, height), both even) into an MP4 at `path`, atomically."""
    av = require("av", "the preview movie")
    with (
        write_atomic_by_name(path) as temporary,
        av.open(os.fspath(temporary), "w", format="mp4", options=MUXING) as container,
    ):
        stream = container.add_stream(ENCODER, rate=Fraction(frame_rate).limit_denominator(1001), options=QUALITY)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for picture in pictures:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())  # flush the frames the encoder still holds
