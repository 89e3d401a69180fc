"""Message bodies are frozen dataclasses; this module checks plain msgpack data against them.

One generic walker replaces a hand-written validator per message: the dataclass type hints say what a field
may hold, and `Annotated` constraints (`Range`, `Length`, `ArraySpec`) say how big. Decoding a body either
returns a dataclass instance whose fields hold exactly the declared types, or raises `ProtocolError` with the
dotted path of the first bad field. Fields a body does not declare are ignored, so newer peers can add them.

Arrays never travel inside msgpack: a field typed `np.ndarray` appears on the wire as a descriptor
`{"buffer": i, "dtype": "uint8", "shape": [...], "nbytes": n}` naming one of the raw frames that follow the
body, and `to_wire` / `from_wire` translate between the two.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import reprlib
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np

from protocol.errors import ErrorCode, ProtocolError
from protocol.limits import Limits

# Array dtypes a message may carry; anything else (objects, structured, big-endian) is refused by name.
DTYPES: dict[str, np.dtype] = {
    "uint8": np.dtype("<u1"),
    "uint16": np.dtype("<u2"),
    "float16": np.dtype("<f2"),
    "float32": np.dtype("<f4"),
}


@dataclass(frozen=True)
class Range:
    """Inclusive bounds of a number (finite, for floats)."""

    low: float
    high: float


@dataclass(frozen=True)
class Length:
    """Inclusive bounds on a list's item count or a string's UTF-8 byte count."""

    low: int
    high: int


@dataclass(frozen=True)
class ArraySpec:
    """Which arrays a field accepts: dtypes, and one name per axis.

    Axis names tie sizes to `Limits`: "height" <= max_frame_height, "width" <= max_frame_width,
    "objects" <= max_objects, "points" <= max_list_items; an int axis must have exactly that size.
    """

    dtypes: tuple[str, ...]
    axes: tuple[str | int, ...]


class Buffers:
    """The raw frames after the body, and which of them the body has claimed (each exactly once)."""

    def __init__(self, frames: Sequence[memoryview]) -> None:
        self.frames = list(frames)
        self.claimed: set[int] = set()

    def claim(self, index: int, path: str) -> memoryview:
        if not 0 <= index < len(self.frames):
            raise _invalid(path, f"names buffer {index}, but the message has {len(self.frames)}")
        if index in self.claimed:
            raise _invalid(path, f"names buffer {index}, which another field already uses")
        self.claimed.add(index)
        return self.frames[index]

    def check_all_claimed(self) -> None:
        unclaimed = sorted(set(range(len(self.frames))) - self.claimed)
        if unclaimed:
            raise ProtocolError(
                ErrorCode.BAD_MESSAGE,
                f"buffers {unclaimed} are not described by the body",
                details={"buffers": unclaimed},
            )


def from_wire(cls: type, data: Any, buffers: Buffers, limits: Limits, path: str = "body") -> Any:
    """Build an instance of dataclass `cls` from decoded msgpack `data`, or raise `ProtocolError`."""
    return _check(cls, data, path, buffers, limits)


def to_wire(value: Any, buffers: list[np.ndarray]) -> Any:
    """Turn a body dataclass into msgpack-ready data, appending its arrays to `buffers`."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_wire(getattr(value, f.name), buffers) for f in dataclasses.fields(value)}
    if isinstance(value, np.ndarray):
        return _describe_array(value, buffers)
    if isinstance(value, (list, tuple)):
        return [to_wire(item, buffers) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _describe_array(array: np.ndarray, buffers: list[np.ndarray]) -> dict[str, Any]:
    name = array.dtype.name  # "uint16" for either byte order; the copy below makes it little-endian
    if name not in DTYPES:
        raise ProtocolError(ErrorCode.INVALID_FIELD, f"arrays of dtype {array.dtype} cannot be sent")
    wire = np.ascontiguousarray(array, dtype=DTYPES[name])
    buffers.append(wire)
    return {"buffer": len(buffers) - 1, "dtype": name, "shape": list(wire.shape), "nbytes": wire.nbytes}


# --- checking -------------------------------------------------------------------------------------------


def _check(hint: Any, data: Any, path: str, buffers: Buffers, limits: Limits) -> Any:
    constraints: tuple[Any, ...] = ()
    if typing.get_origin(hint) is Annotated:
        hint, *rest = typing.get_args(hint)
        constraints = tuple(rest)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return _check_optional(hint, data, path, buffers, limits, constraints)
    if origin is Literal:
        return _check_literal(typing.get_args(hint), data, path)
    if origin is list:
        (item_hint,) = typing.get_args(hint)
        return _check_list(item_hint, data, path, buffers, limits, constraints)
    if hint is np.ndarray:
        return _check_array(data, path, buffers, limits, constraints)
    if dataclasses.is_dataclass(hint):
        return _check_dataclass(hint, data, path, buffers, limits)
    if origin is dict:
        return _check_map(data, path, constraints)
    if hint in (bool, int, float, str):
        return _check_scalar(hint, data, path, constraints)
    raise TypeError(f"{path}: the schema uses an unsupported type {hint!r}")


def _check_optional(
    hint: Any, data: Any, path: str, buffers: Buffers, limits: Limits, constraints: tuple[Any, ...]
) -> Any:
    options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    if data is None:
        return None
    if len(options) != 1:
        raise TypeError(f"{path}: only `X | None` unions are supported")
    (inner,) = options
    if constraints:
        inner = Annotated[(inner, *constraints)]
    return _check(inner, data, path, buffers, limits)


def _check_literal(choices: tuple[Any, ...], data: Any, path: str) -> Any:
    if isinstance(data, str) and data in choices:
        return data
    raise _invalid(path, f"must be one of {', '.join(map(repr, choices))}, got {_show(data)}")


def _check_list(
    item_hint: Any, data: Any, path: str, buffers: Buffers, limits: Limits, constraints: tuple[Any, ...]
) -> list[Any]:
    if not isinstance(data, list):
        raise _invalid(path, f"must be a list, got {_show(data)}")
    _check_length(constraints, len(data), path, "items")
    return [_check(item_hint, item, f"{path}[{i}]", buffers, limits) for i, item in enumerate(data)]


def _check_dataclass(cls: Any, data: Any, path: str, buffers: Buffers, limits: Limits) -> Any:
    if not isinstance(data, dict):
        raise _invalid(path, f"must be a map, got {_show(data)}")
    values = {}
    for field in dataclasses.fields(cls):
        field_path = f"{path}.{field.name}"
        if field.name in data:
            values[field.name] = _check(_hints(cls)[field.name], data[field.name], field_path, buffers, limits)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise _invalid(field_path, "is missing")
    try:
        return cls(**values)
    except ValueError as error:  # a body's own consistency check, in its __post_init__
        raise _invalid(path, str(error)) from None


def _check_map(data: Any, path: str, constraints: tuple[Any, ...]) -> dict[str, Any]:
    """A free-form map (error details): string keys, msgpack values, bounded size; nothing else is read."""
    if not isinstance(data, dict) or not all(isinstance(key, str) for key in data):
        raise _invalid(path, f"must be a map with string keys, got {_show(data)}")
    _check_length(constraints, len(data), path, "entries")
    return data


def _check_scalar(kind: type[Any], data: Any, path: str, constraints: tuple[Any, ...]) -> Any:
    if kind is float and type(data) is int:
        data = float(data)
    if type(data) is not kind:
        raise _invalid(path, f"must be {kind.__name__}, got {_show(data)}")
    if kind is float and not math.isfinite(data):
        raise _invalid(path, "must be a finite number")
    for constraint in constraints:
        if isinstance(constraint, Range) and not constraint.low <= data <= constraint.high:
            raise _invalid(path, f"must be in [{constraint.low}, {constraint.high}], got {data!r}")
    if kind is str:
        _check_length(constraints, len(data.encode("utf-8", "surrogatepass")), path, "bytes")
    return data


def _check_length(constraints: tuple[Any, ...], size: int, path: str, unit: str) -> None:
    """Too short is a wrong value (`invalid_field`); too long is a size limit (`too_large`)."""
    for constraint in constraints:
        if isinstance(constraint, Length) and not constraint.low <= size <= constraint.high:
            problem = f"must have {constraint.low} to {constraint.high} {unit}, has {size}"
            raise _invalid(path, problem) if size < constraint.low else _sized(path, problem)


def _check_array(data: Any, path: str, buffers: Buffers, limits: Limits, constraints: tuple[Any, ...]) -> np.ndarray:
    (spec,) = [c for c in constraints if isinstance(c, ArraySpec)]
    if not isinstance(data, dict):
        raise _invalid(path, f"must be an array descriptor map, got {_show(data)}")
    dtype_name, shape, nbytes, index = (data.get(k) for k in ("dtype", "shape", "nbytes", "buffer"))
    if dtype_name not in spec.dtypes:
        raise _invalid(f"{path}.dtype", f"must be one of {', '.join(spec.dtypes)}, got {_show(dtype_name)}")
    if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
        raise _invalid(f"{path}.shape", f"must be a list of sizes, got {_show(shape)}")
    _check_axes(spec, shape, f"{path}.shape", limits)
    dtype = DTYPES[dtype_name]
    expected = math.prod(shape) * dtype.itemsize
    if type(nbytes) is not int or nbytes != expected:
        raise _invalid(f"{path}.nbytes", f"must be {expected} for shape {shape} of {dtype_name}")
    if type(index) is not int:
        raise _invalid(f"{path}.buffer", f"must be a buffer index, got {_show(index)}")
    view = buffers.claim(index, f"{path}.buffer")
    if view.nbytes != expected:
        raise _invalid(path, f"buffer {index} holds {view.nbytes} bytes, the descriptor says {expected}")
    array = np.frombuffer(view, dtype=dtype).reshape(shape)
    array.flags.writeable = False  # a view of the received frame: copy before changing it
    return array


def _check_axes(spec: ArraySpec, shape: list[int], path: str, limits: Limits) -> None:
    if len(shape) != len(spec.axes):
        raise _invalid(path, f"must have {len(spec.axes)} axes ({', '.join(map(str, spec.axes))}), got {shape}")
    caps = {
        "height": limits.max_frame_height,
        "width": limits.max_frame_width,
        "objects": limits.max_objects,
        "points": limits.max_list_items,
    }
    for axis, size in zip(spec.axes, shape, strict=True):
        if isinstance(axis, int):
            if size != axis:
                raise _invalid(path, f"axis of size {size} must be {axis}")
        elif axis in caps and size > caps[axis]:
            raise _sized(path, f"{axis} {size} exceeds the limit {caps[axis]}")
        elif axis == "channels" and size not in (1, 3, 4):
            raise _invalid(path, f"must have 1, 3 or 4 channels, got {size}")


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


def _show(value: Any) -> str:
    """A short description of a bad value; reprlib bounds depth and length, so hostile input stays cheap."""
    return f"{type(value).__name__} {reprlib.repr(value)}"


def _invalid(path: str, problem: str) -> ProtocolError:
    return ProtocolError(ErrorCode.INVALID_FIELD, f"{path} {problem}", details={"field": path})


def _sized(path: str, problem: str) -> ProtocolError:
    return ProtocolError(ErrorCode.TOO_LARGE, f"{path} {problem}", details={"field": path})
