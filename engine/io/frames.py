"""The frames of a shot, from an image-sequence folder, a numbered file pattern or a video file.

`open_frames(path)` returns a `FrameSequence`: `len(frames)`, `frames[i]` (an HxWx3 uint8 RGB array in
display sRGB, see `engine.io.images`), `frames.names` (what outputs are named after), `frames.numbers`,
`frames.size` (width, height) and `frames.path`. Names are file stems for a folder ("00012"), the frame numbers
as the files write them for a pattern ("1012" for plate.1012.exr) and zero-padded indices for a video.

What is checked when:

- At open: the folder, pattern or video exists and yields at least one frame, a pattern has no gaps, every
  entry that looks like a frame is a regular file (see `engine.io.patterns`), and the first frame decodes (it
  fixes the shot's size). Opening does not decode every image, so a 10,000-frame shot opens at once.
- At `frames[i]`: that frame decodes and has the shot's size; otherwise an `InputError` names the file.
- `frames.check()`: decodes every frame once, for callers (a farm job's preflight) that want every bad file
  reported before any work starts.

Image files are decoded on demand and not cached; a video keeps a small cache of bounded size (see
`engine.io.video`). Either way memory does not grow with the shot.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from engine.io.errors import InputError, OutsideAllowedFolders
from engine.io.files import Inside, require_regular_file
from engine.io.images import IMAGE_SUFFIXES, read_image, to_display_rgb
from engine.io.patterns import FileSequence, expand_pattern, list_folder, parse_pattern
from engine.io.sequence import FrameSequence
from engine.io.video import VideoFrames
from engine.io.view import STANDARD, DisplayView

VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mxf", ".mpg", ".mpeg", ".ts", ".wmv"})


class ImageSequence(FrameSequence):
    """Frames stored one image file each; see `engine.io.patterns` for how the files are found."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        files: FileSequence,
        view: DisplayView = STANDARD,
        layer: str = "",
        inside: Inside | None = None,
    ) -> None:
        self.path = Path(path)
        self.view = view
        self.layer = layer
        self.inside = inside  # checked on every file as it is opened (`engine.io.files`)
        self.files = files.files
        self.names = files.names
        self.numbers = files.numbers
        first = self._decode(0)
        self.size = (first.shape[1], first.shape[0])

    def _read(self, index: int) -> np.ndarray:
        path = self.files[index]
        return self._check_size(self._decode(index), str(path), path)

    def _decode(self, index: int) -> np.ndarray:
        path = self.files[index]
        return to_display_rgb(read_image(path, "frame", self.layer, self.inside), path, self.view)


def open_frames(
    path: str | os.PathLike[str],
    first_number: int | None = None,
    last_number: int | None = None,
    view: DisplayView = STANDARD,
    layer: str = "",
    inside: Inside | None = None,
) -> FrameSequence:
    """Open a shot's frames: a folder of images, a pattern (`plate.%04d.exr`, `plate.####.exr`) or a video.

    `first_number` and `last_number` choose a pattern's frame range (default: all the numbers present, which
    must be contiguous); they mean nothing for a folder or a video and are refused there. `view` turns float
    images into display pixels (`engine.io.view`); a video's frames are display-referred bytes already. `layer`
    names the layer of multi-layer EXR files to read (default: the image, else the Combined pass). `inside`
    confines reading (`engine.io.files.read_file_bytes`): each image as it is opened, a video once, at open.
    """
    view.check()
    path = Path(path)
    pattern = None if path.exists() else parse_pattern(path)
    if pattern is not None:
        return ImageSequence(path, expand_pattern(pattern, first_number, last_number), view, layer, inside)
    if first_number is not None or last_number is not None:
        raise InputError(f"a frame range applies to a numbered pattern such as plate.####.png, not to {path}", path)
    if path.is_dir():
        return ImageSequence(path, list_folder(path), view, layer, inside)
    suffix = path.suffix.lower()
    if not path.exists():
        what = "video" if suffix in VIDEO_SUFFIXES else "frames folder"
        raise InputError(f"{what} {path} does not exist", path)
    if suffix in VIDEO_SUFFIXES:
        if layer:
            raise InputError(f"video {path} has no layers: an EXR layer ({layer!r}) applies to EXR plates", path)
        require_regular_file(path, "video")  # FFmpeg would wait forever on a named pipe
        if inside is not None and not inside(os.path.realpath(path)):  # FFmpeg opens it by name, once, next
            raise OutsideAllowedFolders(f"video {path} leads outside the folders this engine may read", path)
        return VideoFrames(path)
    if suffix in IMAGE_SUFFIXES:
        raise InputError(
            f"{path} is a single image; give its folder or a pattern such as "
            f"{path.with_name('name.####' + path.suffix).name}",
            path,
        )
    known = ", ".join(sorted(VIDEO_SUFFIXES))
    raise InputError(f"{path} is neither a folder, a numbered pattern nor a video file ({known})", path)
