"""File input and output: plates, keyframe masks, mattes, label maps and the confidence table.

- `frames`: a shot's frames from a folder, a numbered pattern or a video, as display-sRGB RGB arrays;
- `masks`: keyframe masks (palette, grey or one PNG per object) as label maps;
- `mattes`: label maps (palette PNG) and soft mattes (8/16-bit PNG, half-float EXR), written atomically;
- `confidence`: the per-frame, per-object confidence table as CSV and JSON;
- `atomic`: the temp-file-and-rename writes every output goes through;
- `errors`: `InputError` / `OutputError`, one clear line for every bad file (the CLI exits with code 2).

OpenEXR: plates are read by `exr` with the `openexr` package (MultiLayer renders included), whatever OpenCV
allows. EXR mattes are written by OpenCV, which ships its EXR codec switched off and reads
`OPENCV_IO_ENABLE_OPENEXR` once, the first time an EXR is encoded or decoded in the process, then keeps the
answer. This package sets the variable before it imports cv2, so any use of `engine.io` (which runs this file
first) enables EXR mattes, whatever imported cv2 earlier. An operator who sets the variable to 0 keeps OpenCV's
EXR off; writing EXR mattes then fails with an `OutputError` that says so.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")

from engine.io.atomic import ensure_output_folder, write_bytes_atomic, write_text_atomic
from engine.io.confidence import ConfidenceRow, read_confidence, write_confidence
from engine.io.errors import InputError, OutputError
from engine.io.frames import ImageSequence, open_frames
from engine.io.masks import read_mask, read_object_masks
from engine.io.mattes import read_label_map, read_matte, write_label_map, write_matte
from engine.io.sequence import FrameSequence
from engine.io.video import VideoFrames

__all__ = [
    "ConfidenceRow",
    "FrameSequence",
    "ImageSequence",
    "InputError",
    "OutputError",
    "VideoFrames",
    "ensure_output_folder",
    "open_frames",
    "read_confidence",
    "read_label_map",
    "read_mask",
    "read_matte",
    "read_object_masks",
    "write_bytes_atomic",
    "write_confidence",
    "write_label_map",
    "write_matte",
    "write_text_atomic",
]
