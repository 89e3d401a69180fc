"""Indexed-colour (palette) PNGs, read and written by hand, because OpenCV can do neither.

`cv2.imread` expands a palette PNG to BGR colours, losing the indices that *are* the object ids of a DAVIS
mask, and `cv2.imwrite` cannot write a palette. Both directions are small with `zlib` and the chunk layout of
the PNG specification (https://www.w3.org/TR/png-3/):

- Reading (`decode_indexed`) checks the signature and every chunk's CRC, needs IHDR first, PLTE, IDAT and IEND,
  inflates the image data with a size cap (a decompression bomb cannot allocate more than the header
  promises), undoes the five scanline filters (None, Sub, Up, Average, Paeth) and unpacks 1/2/4-bit indices.
  Interlaced (Adam7) files are refused with a message saying so; no mask tool we know writes them.
- Writing (`encode_indexed`) emits IHDR (8-bit, colour type 3), PLTE, one IDAT of filter-0 scanlines, IEND.
  Filter 0 suits label maps: long runs of equal bytes, which deflate compresses well without filtering.

Every defect is an `InputError` naming the file and the chunk or step that failed.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from engine.io.errors import InputError

SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOUR_TYPE_INDEXED = 3
MAX_PIXELS = 1 << 28  # 16K x 16K: anything larger is a corrupt header, not a mask

Source = str | os.PathLike[str]


@dataclass(frozen=True)
class PngHeader:
    """The IHDR fields that matter for decoding."""

    width: int
    height: int
    bit_depth: int
    colour_type: int
    interlaced: bool


def chunk(kind: bytes, payload: bytes) -> bytes:
    """One PNG chunk: length, type, payload, CRC of type and payload."""
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def iter_chunks(data: bytes, source: Source) -> Iterator[tuple[bytes, bytes]]:
    """(type, payload) of each chunk after the signature, CRC-checked, up to and including IEND."""
    if not data.startswith(SIGNATURE):
        raise InputError(f"{source} is not a PNG file", source)
    offset = len(SIGNATURE)
    while True:
        if offset + 8 > len(data):
            raise InputError(f"PNG {source} is truncated (no IEND chunk)", source)
        length, kind = struct.unpack_from(">I4s", data, offset)
        end = offset + 8 + length
        if end + 4 > len(data):
            raise InputError(f"PNG {source} is truncated inside its {_name(kind)} chunk", source)
        payload = data[offset + 8 : end]
        (crc,) = struct.unpack_from(">I", data, end)
        if zlib.crc32(kind + payload) != crc:
            raise InputError(f"PNG {source} is corrupt: bad CRC in its {_name(kind)} chunk", source)
        yield kind, payload
        if kind == b"IEND":
            return
        offset = end + 4


def read_header(data: bytes, source: Source) -> PngHeader:
    """The IHDR of a PNG (which must be its first chunk), checked for sane values."""
    kind, payload = next(iter_chunks(data, source))
    if kind != b"IHDR" or len(payload) != 13:
        raise InputError(f"PNG {source} is corrupt: it does not start with a header chunk", source)
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", payload)
    if width == 0 or height == 0 or width * height > MAX_PIXELS:
        raise InputError(f"PNG {source} is corrupt: its header says {width}x{height} pixels", source)
    if compression != 0 or filtering != 0 or interlace not in (0, 1):
        raise InputError(f"PNG {source} is corrupt: unknown compression, filter or interlace method", source)
    return PngHeader(width, height, depth, colour, interlace == 1)


def decode_indexed(data: bytes, source: Source) -> tuple[np.ndarray, np.ndarray]:
    """The palette indices (HxW uint8) and the palette (Nx3 uint8 RGB) of an indexed-colour PNG."""
    header = read_header(data, source)
    if header.colour_type != COLOUR_TYPE_INDEXED:
        raise InputError(f"PNG {source} is not an indexed-colour (palette) image", source)
    if header.bit_depth not in (1, 2, 4, 8):
        raise InputError(f"PNG {source} is corrupt: bit depth {header.bit_depth} for a palette image", source)
    if header.interlaced:
        raise InputError(f"PNG {source} is interlaced, which masks do not support; save it without interlacing", source)
    palette, compressed = None, []
    for kind, payload in iter_chunks(data, source):
        if kind == b"PLTE":
            if len(payload) % 3 or not 3 <= len(payload) <= 768:
                raise InputError(f"PNG {source} is corrupt: its palette has {len(payload)} bytes", source)
            palette = np.frombuffer(payload, np.uint8).reshape(-1, 3).copy()
        elif kind == b"IDAT":
            compressed.append(payload)
    if palette is None:
        raise InputError(f"PNG {source} is corrupt: a palette image without a palette (PLTE) chunk", source)
    if not compressed:
        raise InputError(f"PNG {source} is corrupt: it has no image data (IDAT)", source)
    row_bytes = (header.width * header.bit_depth + 7) // 8
    raw = _inflate(b"".join(compressed), header.height * (row_bytes + 1), source)
    rows = _unfilter(np.frombuffer(raw, np.uint8).reshape(header.height, row_bytes + 1), 1, source)
    return _unpack(rows, header.width, header.bit_depth), palette


def encode_indexed(indices: np.ndarray, palette: np.ndarray, level: int = 6) -> bytes:
    """An 8-bit indexed-colour PNG of `indices` (HxW uint8) with `palette` (Nx3 uint8, N <= 256)."""
    indices = np.ascontiguousarray(indices, dtype=np.uint8)
    palette = np.ascontiguousarray(palette, dtype=np.uint8)
    if indices.ndim != 2 or 0 in indices.shape:
        raise ValueError(f"indices must be a non-empty HxW array, got shape {indices.shape}")
    if palette.ndim != 2 or palette.shape[1] != 3 or not 1 <= palette.shape[0] <= 256:
        raise ValueError(f"palette must be Nx3 with 1 <= N <= 256, got shape {palette.shape}")
    height, width = indices.shape
    scanlines = np.zeros((height, width + 1), np.uint8)  # filter byte 0 (None) on every row
    scanlines[:, 1:] = indices
    ihdr = struct.pack(">IIBBBBB", width, height, 8, COLOUR_TYPE_INDEXED, 0, 0, 0)
    return b"".join(
        (
            SIGNATURE,
            chunk(b"IHDR", ihdr),
            chunk(b"PLTE", palette.tobytes()),
            chunk(b"IDAT", zlib.compress(scanlines.tobytes(), level)),
            chunk(b"IEND", b""),
        )
    )


def _inflate(compressed: bytes, expected: int, source: Source) -> bytes:
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(compressed, expected + 1)
    except zlib.error as error:
        raise InputError(f"PNG {source} is corrupt: its image data does not inflate ({error})", source) from error
    if len(raw) < expected:
        raise InputError(f"PNG {source} is truncated: {len(raw)} of {expected} bytes of image data", source)
    if len(raw) > expected or inflater.unconsumed_tail:
        raise InputError(f"PNG {source} is corrupt: more image data than its header describes", source)
    return raw


def _unfilter(scanlines: np.ndarray, unit: int, source: Source) -> np.ndarray:
    """Undo the per-row filters; `unit` is bytes per complete pixel (1 for palette images)."""
    height, width = scanlines.shape[0], scanlines.shape[1] - 1
    out = np.zeros((height, width), np.uint8)
    prior = np.zeros(width, np.uint8)
    for y in range(height):
        kind, line = int(scanlines[y, 0]), scanlines[y, 1:]
        if kind == 0:
            out[y] = line
        elif kind == 1:
            out[y] = _sub(line, unit)
        elif kind == 2:
            out[y] = line + prior
        elif kind == 3:
            out[y] = _average(line, prior, unit)
        elif kind == 4:
            out[y] = _paeth(line, prior, unit)
        else:
            raise InputError(f"PNG {source} is corrupt: unknown filter {kind} on row {y}", source)
        prior = out[y]
    return out


def _sub(line: np.ndarray, unit: int) -> np.ndarray:
    # Each byte adds the one `unit` to its left, modulo 256: a running sum per byte lane, wrapping in uint8.
    padded = np.zeros(-(-line.size // unit) * unit, np.uint8)
    padded[: line.size] = line
    return np.cumsum(padded.reshape(-1, unit), axis=0, dtype=np.uint8).reshape(-1)[: line.size]


def _average(line: np.ndarray, prior: np.ndarray, unit: int) -> np.ndarray:
    out = bytearray(line.tobytes())
    above = prior.tobytes()
    for i in range(len(out)):
        left = out[i - unit] if i >= unit else 0
        out[i] = (out[i] + ((left + above[i]) >> 1)) & 0xFF
    return np.frombuffer(bytes(out), np.uint8)


def _paeth(line: np.ndarray, prior: np.ndarray, unit: int) -> np.ndarray:
    out = bytearray(line.tobytes())
    above = prior.tobytes()
    for i in range(len(out)):
        a = out[i - unit] if i >= unit else 0
        b = above[i]
        c = above[i - unit] if i >= unit else 0
        p = a + b - c
        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
        predictor = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
        out[i] = (out[i] + predictor) & 0xFF
    return np.frombuffer(bytes(out), np.uint8)


def _unpack(rows: np.ndarray, width: int, depth: int) -> np.ndarray:
    """Indices from packed rows: 8 bits is one byte each; 1, 2 and 4 bits are packed most significant first."""
    if depth == 8:
        return np.ascontiguousarray(rows[:, :width])
    per_byte = 8 // depth
    shifts = np.arange(per_byte - 1, -1, -1, dtype=np.uint8) * depth
    values = (rows[:, :, None] >> shifts) & ((1 << depth) - 1)
    return np.ascontiguousarray(values.reshape(rows.shape[0], -1)[:, :width])


def _name(kind: bytes) -> str:
    return kind.decode("latin-1") if kind.isalpha() else repr(kind)
