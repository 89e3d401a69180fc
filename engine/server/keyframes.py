"""A `keyframe` message as the label map the propagator takes, checked against its session.

A mask comes as a label map or as one matte per object. Mattes become a label map the way results are
labelled (`engine.server.labels`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.server.labels import labels_from_mattes
from protocol import messages as m
from protocol.errors import ErrorCode, ProtocolError


def keyframe_labels(keyframe: m.Keyframe, plate: tuple[int, int], declared: Sequence[int]) -> np.ndarray:
    """The keyframe as an HxW uint8 label map of declared object ids (a copy, not a view of the message)."""
    if keyframe.labels is not None:
        labels = np.array(keyframe.labels, dtype=np.uint8)
        _check_size(labels.shape, plate, "body.labels.shape")
        stray = sorted(set(np.unique(labels).tolist()) - {0, *declared})
        if stray:
            raise _invalid(f"the label map holds values {stray[:10]} that name no declared object", "body.labels")
        return labels
    assert keyframe.mattes is not None  # the message's own check: exactly one of labels and mattes
    mattes = keyframe.mattes
    _check_size(mattes.shape[1:], plate, "body.mattes.shape")
    unknown = sorted(set(keyframe.object_ids) - set(declared))
    if unknown:
        raise _invalid(f"object ids {unknown} were not declared in open_session", "body.object_ids")
    return _keyframe_mattes(mattes, keyframe.object_ids)


def _keyframe_mattes(mattes: np.ndarray, object_ids: Sequence[int]) -> np.ndarray:
    if mattes.dtype.kind == "f":
        values = mattes.astype(np.float32)
        if not np.all(np.isfinite(values)) or values.min(initial=0) < 0 or values.max(initial=0) > 1:
            raise _invalid("float32 mattes must hold values in [0, 1]", "body.mattes")
        return labels_from_mattes(values, object_ids)
    return labels_from_mattes(mattes, object_ids, full=np.iinfo(mattes.dtype).max)


def _check_size(shape: tuple[int, ...], plate: tuple[int, int], field: str) -> None:
    if tuple(shape) != plate:
        raise _invalid(f"the mask is {shape[1]}x{shape[0]}, the session's plate is {plate[1]}x{plate[0]}", field)


def _invalid(message: str, field: str) -> ProtocolError:
    return ProtocolError(ErrorCode.INVALID_FIELD, message, details={"field": field})
