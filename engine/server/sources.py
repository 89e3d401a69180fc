"""A session's `files` frame source: a folder, pattern or movie on the server's disk, confined to the roots.

The path is confined before anything touches the disk, so a client cannot even learn whether a file outside
the roots exists (it gets `forbidden`, never `not_found`). Every file is confined again as it is opened, on the
descriptor (`engine.io.files`), so a link swapped into the folder after the session opened leads nowhere. A
pattern reads exactly the session's frames, from `first_number` on. Opening decodes the first frame once, which
fixes the plate size to compare with the session's.
"""

from __future__ import annotations

import os

from engine.io import FrameSequence, InputError, open_frames
from engine.io.errors import OutsideAllowedFolders
from engine.io.files import Inside
from engine.io.patterns import parse_pattern
from engine.io.view import DisplayView
from engine.server.roots import AllowedRoots
from protocol import messages as m
from protocol.errors import ErrorCode, ProtocolError

FIELD = "body.source.path"


def source_view(shot: m.OpenSession, ocio_config: str) -> DisplayView:
    """The session's colour management, checked now (the config read, its names found), not at the first frame."""
    wanted = shot.source.view
    view = DisplayView(wanted.view, wanted.look, wanted.display, wanted.exposure, wanted.gamma, ocio_config)
    try:
        view.check()
    except InputError as error:
        raise ProtocolError(ErrorCode.INVALID_FIELD, str(error), details={"field": "body.source.view"}) from None
    return view


def open_file_source(shot: m.OpenSession, roots: AllowedRoots, view: DisplayView) -> FrameSequence:
    """The frames of `shot.source` (kind "files"), checked against the roots and the shot's size and length."""
    path = roots.confine(shot.source.path)
    try:
        frames = _open(path, shot, view, roots.contains)
    except OutsideAllowedFolders as error:
        raise ProtocolError(ErrorCode.FORBIDDEN, str(error), details={"field": FIELD}) from None
    except InputError as error:
        missing = error.path is not None and not os.path.exists(error.path)
        raise ProtocolError(
            ErrorCode.NOT_FOUND if missing else ErrorCode.INVALID_FIELD, str(error), details={"field": FIELD}
        ) from None
    try:
        roots.confine_all(getattr(frames, "files", [frames.path]))
        _check_fits(frames, shot)
    except ProtocolError:
        frames.close()
        raise
    return frames


def _open(path: os.PathLike[str], shot: m.OpenSession, view: DisplayView, inside: Inside) -> FrameSequence:
    if not os.path.exists(path) and parse_pattern(path) is not None:
        first = shot.source.first_number
        return open_frames(path, first, first + shot.frame_count - 1, view, shot.source.exr_layer, inside)
    return open_frames(path, view=view, layer=shot.source.exr_layer, inside=inside)


def _check_fits(frames: FrameSequence, shot: m.OpenSession) -> None:
    if frames.size != (shot.width, shot.height):
        raise ProtocolError(
            ErrorCode.INVALID_FIELD,
            f"the frames are {frames.size[0]}x{frames.size[1]}, the session says {shot.width}x{shot.height}",
            details={"field": FIELD},
        )
    if len(frames) < shot.frame_count:
        raise ProtocolError(
            ErrorCode.INVALID_FIELD,
            f"the source has {len(frames)} frames, the session says {shot.frame_count}",
            details={"field": FIELD},
        )
