"""Keyframe masks: palette PNGs (every bit depth and filter), grey and colour PNGs, one PNG per object, and
every way a mask can be bad."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis.extra import numpy as hnp

from engine.io import InputError, read_label_map, read_mask, read_object_masks, write_label_map
from engine.io.palette import davis_palette
from engine.io.png import SIGNATURE, chunk, decode_indexed, encode_indexed
from tests.engine.io.special_files import TIMEOUT_S, call_on_fifos, make_fifo, needs_fifo
from tests.paths import REPO

# --- building palette PNGs by hand, independently of the reader ----------------------------------------------


def _filter_row(kind: int, row: bytes, prior: bytes) -> bytes:
    """Apply PNG filter `kind` to one scanline of a 1-byte-per-pixel image (the encoder side of the spec)."""
    out = bytearray(len(row))
    for i, value in enumerate(row):
        left = row[i - 1] if i else 0
        above = prior[i]
        upper_left = prior[i - 1] if i else 0
        if kind == 0:
            predictor = 0
        elif kind == 1:
            predictor = left
        elif kind == 2:
            predictor = above
        elif kind == 3:
            predictor = (left + above) // 2
        else:
            p = left + above - upper_left
            pa, pb, pc = abs(p - left), abs(p - above), abs(p - upper_left)
            predictor = left if pa <= pb and pa <= pc else (above if pb <= pc else upper_left)
        out[i] = (value - predictor) % 256
    return bytes(out)


def _pack(indices: np.ndarray, depth: int) -> np.ndarray:
    """Pack indices into rows of `depth`-bit samples, most significant first (rows padded to whole bytes)."""
    if depth == 8:
        return indices.astype(np.uint8)
    per_byte = 8 // depth
    height, width = indices.shape
    padded = np.zeros((height, -(-width // per_byte) * per_byte), np.uint8)
    padded[:, :width] = indices
    groups = padded.reshape(height, -1, per_byte).astype(np.uint16)
    shifts = np.arange(per_byte - 1, -1, -1) * depth
    return (groups << shifts).sum(axis=2).astype(np.uint8)


def _palette_png(indices: np.ndarray, depth: int = 8, filters=(0,), interlace: int = 0, palette=None) -> bytes:
    """A palette PNG of `indices`, row y filtered with filters[y % len(filters)]."""
    palette = davis_palette()[: 1 << depth] if palette is None else palette
    rows = _pack(indices, depth)
    prior = bytes(rows.shape[1])
    raw = bytearray()
    for y, row in enumerate(rows):
        kind = filters[y % len(filters)]
        raw += bytes([kind]) + _filter_row(kind, row.tobytes(), prior)
        prior = row.tobytes()
    height, width = indices.shape
    ihdr = struct.pack(">IIBBBBB", width, height, depth, 3, 0, 0, interlace)
    return b"".join(
        (
            SIGNATURE,
            chunk(b"IHDR", ihdr),
            chunk(b"PLTE", np.asarray(palette, np.uint8).tobytes()),
            chunk(b"IDAT", zlib.compress(bytes(raw))),
            chunk(b"IEND", b""),
        )
    )


def _libpng_indices(data: bytes, palette: np.ndarray) -> np.ndarray:
    """Indices as libpng (through OpenCV) decodes them: colours mapped back through a palette of unique colours."""
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert bgr is not None
    lookup = {tuple(int(c) for c in colour): index for index, colour in enumerate(palette)}
    return np.vectorize(lambda r, g, b: lookup[(r, g, b)])(bgr[..., 2], bgr[..., 1], bgr[..., 0])


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _one_line(error: pytest.ExceptionInfo[InputError]) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


# --- palette PNGs ----------------------------------------------------------------------------------------------


def test_label_map_round_trip_with_all_256_ids(tmp_path):
    labels = np.arange(256, dtype=np.uint8).reshape(16, 16).repeat(2, axis=0)
    path = write_label_map(tmp_path / "labels.png", labels)
    np.testing.assert_array_equal(read_mask(path), labels)
    np.testing.assert_array_equal(read_label_map(path), labels)
    # libpng sees the DAVIS colours: 1 is (128, 0, 0), 2 is (0, 128, 0), 255 is (224, 224, 192).
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(bgr[..., ::-1], davis_palette()[labels])
    assert davis_palette()[[0, 1, 2, 3, 4, 255]].tolist() == [
        [0, 0, 0],
        [128, 0, 0],
        [0, 128, 0],
        [128, 128, 0],
        [0, 0, 128],
        [224, 224, 192],
    ]


@settings(max_examples=25, deadline=None)
@given(hnp.arrays(np.uint8, hnp.array_shapes(min_dims=2, max_dims=2, max_side=24)))
def test_any_label_map_round_trips(labels):
    data = encode_indexed(labels, davis_palette())
    indices, palette = decode_indexed(data, "<memory>")
    np.testing.assert_array_equal(indices, labels)
    np.testing.assert_array_equal(palette, davis_palette())


@pytest.mark.parametrize("filters", [(0,), (1,), (2,), (3,), (4,), (0, 1, 2, 3, 4), (4, 3, 2, 1)])
def test_every_scanline_filter_is_undone(tmp_path, filters):
    rng = np.random.default_rng(len(filters) * 10 + filters[0])
    indices = rng.integers(0, 256, size=(11, 37)).astype(np.uint8)
    indices[:, :10] = 3  # runs as well as noise
    data = _palette_png(indices, filters=filters)
    np.testing.assert_array_equal(_libpng_indices(data, davis_palette()), indices)  # the test's encoder is right
    np.testing.assert_array_equal(read_mask(_write(tmp_path / "m.png", data)), indices)


@pytest.mark.parametrize("depth", [1, 2, 4])
@pytest.mark.parametrize("width", [1, 7, 13])
def test_palette_bit_depths_below_8(tmp_path, depth, width):
    rng = np.random.default_rng(depth * 100 + width)
    indices = rng.integers(0, 1 << depth, size=(5, width)).astype(np.uint8)
    indices[0, 0] = 1  # at least one object
    data = _palette_png(indices, depth=depth, filters=(0, 1, 4))
    np.testing.assert_array_equal(_libpng_indices(data, davis_palette()[: 1 << depth]), indices)
    np.testing.assert_array_equal(read_mask(_write(tmp_path / "m.png", data)), indices)


def test_palette_index_is_the_id_whatever_the_colour(tmp_path):
    palette = np.array([[255, 255, 255], [0, 0, 0], [10, 200, 30]], np.uint8)  # white background, black object
    indices = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)
    path = _write(tmp_path / "m.png", _palette_png(indices, palette=palette))
    np.testing.assert_array_equal(read_mask(path), indices)


# --- grey and colour PNGs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0, 255, 255, 0], [0, 1, 1, 0]),  # DAVIS 2016: 0/255
        ([0, 1, 1, 0], [0, 1, 1, 0]),  # 0/1
        ([0, 100, 0, 0], [0, 1, 0, 0]),  # any single non-zero value
        ([0, 127, 128, 255], [0, 0, 1, 1]),  # anti-aliased: reaches white, threshold at half
        ([0, 1, 2, 3], [0, 1, 2, 3]),  # several values, no white: ids
        ([7, 0, 7, 3], [7, 0, 7, 3]),
    ],
)
def test_grey_mask_rule(tmp_path, values, expected):
    grey = np.array([values], np.uint8).repeat(3, axis=0)
    cv2.imwrite(str(tmp_path / "m.png"), grey)
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png"), np.array([expected] * 3, np.uint8))


def test_16_bit_grey_masks(tmp_path):
    cv2.imwrite(str(tmp_path / "binary.png"), np.array([[0, 65535, 65535]], np.uint16))
    np.testing.assert_array_equal(read_mask(tmp_path / "binary.png"), [[0, 1, 1]])
    cv2.imwrite(str(tmp_path / "soft.png"), np.array([[0, 30000, 40000, 65535]], np.uint16))
    np.testing.assert_array_equal(read_mask(tmp_path / "soft.png"), [[0, 0, 1, 1]])
    cv2.imwrite(str(tmp_path / "ids.png"), np.array([[0, 1, 2, 200]], np.uint16))
    np.testing.assert_array_equal(read_mask(tmp_path / "ids.png"), [[0, 1, 2, 200]])
    cv2.imwrite(str(tmp_path / "bad.png"), np.array([[0, 1, 300]], np.uint16))
    with pytest.raises(InputError, match="16-bit"):
        read_mask(tmp_path / "bad.png")


def test_colour_masks_map_through_the_davis_palette(tmp_path):
    ids = np.array([[0, 1, 2], [3, 20, 0]], np.uint8)
    cv2.imwrite(str(tmp_path / "rgb.png"), davis_palette()[ids][..., ::-1].copy())
    np.testing.assert_array_equal(read_mask(tmp_path / "rgb.png"), ids)
    grey_as_rgb = np.repeat(np.array([[0, 255, 255]], np.uint8)[..., None], 3, axis=2)
    cv2.imwrite(str(tmp_path / "grey.png"), grey_as_rgb)
    np.testing.assert_array_equal(read_mask(tmp_path / "grey.png"), [[0, 1, 1]])
    opaque = np.concatenate([davis_palette()[ids][..., ::-1], np.full((2, 3, 1), 255, np.uint8)], axis=2)
    cv2.imwrite(str(tmp_path / "rgba.png"), opaque)
    np.testing.assert_array_equal(read_mask(tmp_path / "rgba.png"), ids)


def test_real_davis_mask_layout(tmp_path):
    """A DAVIS 2016 annotation is an 8-bit grey PNG holding 0 and 255 only."""
    mask = np.zeros((480, 854), np.uint8)
    mask[100:200, 300:500] = 255
    cv2.imwrite(str(tmp_path / "00000.png"), mask)
    labels = read_mask(tmp_path / "00000.png", size=(854, 480), ids=[1])
    assert labels.dtype == np.uint8 and labels.shape == (480, 854)
    assert int(labels.sum()) == 100 * 200


# --- one PNG per object ----------------------------------------------------------------------------------------


def test_object_masks_combine_and_higher_ids_win(tmp_path):
    first = np.zeros((4, 6), np.uint8)
    first[:, :4] = 255
    second = np.zeros((4, 6), np.uint8)
    second[:, 3:] = 255
    cv2.imwrite(str(tmp_path / "a.png"), first)
    cv2.imwrite(str(tmp_path / "b.png"), second)
    labels = read_object_masks({5: tmp_path / "b.png", 2: tmp_path / "a.png"}, size=(6, 4))
    np.testing.assert_array_equal(labels[0], [2, 2, 2, 5, 5, 5])


def test_object_mask_covered_by_a_higher_id_is_absent(tmp_path):
    small = np.zeros((4, 6), np.uint8)
    small[1, 1] = 255
    cv2.imwrite(str(tmp_path / "small.png"), small)
    cv2.imwrite(str(tmp_path / "all.png"), np.full((4, 6), 255, np.uint8))
    with pytest.raises(InputError, match="mask ids 1 absent from the keyframe") as error:
        read_object_masks({1: tmp_path / "small.png", 2: tmp_path / "all.png"})
    _one_line(error)


def test_object_masks_of_different_sizes(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.full((4, 6), 255, np.uint8))
    cv2.imwrite(str(tmp_path / "b.png"), np.full((5, 6), 255, np.uint8))
    with pytest.raises(InputError, match=r"is 6x5 but mask .*a\.png's pixels are 6x4") as error:
        read_object_masks({1: tmp_path / "a.png", 2: tmp_path / "b.png"})
    assert str(tmp_path / "b.png") in _one_line(error)


@pytest.mark.parametrize("bad_id", [0, 256, True, "1"])
def test_object_ids_must_be_1_to_255(tmp_path, bad_id):
    cv2.imwrite(str(tmp_path / "a.png"), np.full((4, 6), 255, np.uint8))
    with pytest.raises((InputError, TypeError)):
        read_object_masks({bad_id: tmp_path / "a.png"})


# --- bad masks -------------------------------------------------------------------------------------------------


def test_mask_of_the_wrong_size(tmp_path):
    cv2.imwrite(str(tmp_path / "m.png"), np.full((48, 64), 255, np.uint8))
    with pytest.raises(InputError, match="is 64x48 but the frames are 854x480") as error:
        read_mask(tmp_path / "m.png", size=(854, 480))
    assert str(tmp_path / "m.png") in _one_line(error)


@pytest.mark.parametrize("kind", ["grey", "palette"])
def test_mask_with_no_objects(tmp_path, kind):
    empty = np.zeros((4, 6), np.uint8)
    if kind == "grey":
        cv2.imwrite(str(tmp_path / "m.png"), empty)
    else:
        write_label_map(tmp_path / "m.png", empty)
    with pytest.raises(InputError, match="holds no objects") as error:
        read_mask(tmp_path / "m.png")
    assert str(tmp_path / "m.png") in _one_line(error)
    np.testing.assert_array_equal(read_label_map(tmp_path / "m.png") if kind == "palette" else empty, empty)


def test_mask_ids_absent_from_the_keyframe(tmp_path):
    labels = np.array([[0, 1, 2, 2]], np.uint8)
    path = write_label_map(tmp_path / "m.png", labels)
    np.testing.assert_array_equal(read_mask(path, ids=[1, 2]), labels)
    with pytest.raises(InputError, match=r"mask ids 3, 5 absent from the keyframe .* \(it holds ids 1, 2\)") as error:
        read_mask(path, ids=[1, 3, 5])
    assert str(path) in _one_line(error)
    with pytest.raises(InputError, match="object id 0 is not an integer from 1 to 255"):
        read_mask(path, ids=[0, 1])


def _valid_palette_png() -> bytes:
    indices = np.zeros((20, 30), np.uint8)
    indices[5:15, 5:25] = 1
    return encode_indexed(indices, davis_palette())


def _with_bad_crc(data: bytes) -> bytes:
    idat = data.index(b"IDAT")
    (length,) = struct.unpack(">I", data[idat - 4 : idat])
    crc_at = idat + 4 + length
    return data[:crc_at] + bytes([data[crc_at] ^ 0xFF]) + data[crc_at + 1 :]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: data[: len(data) // 2], "truncated"),
        (lambda data: data[:-12], "truncated"),
        (lambda data: data[:40], "truncated"),
        (_with_bad_crc, "bad CRC in its IDAT chunk"),
        (lambda data: b"GIF89a" + data[6:], "not a PNG file"),
        (lambda data: b"", "not a PNG file"),
        (lambda data: data.replace(b"PLTE", b"PLTx"), "bad CRC"),
    ],
)
def test_damaged_palette_pngs(tmp_path, damage, message):
    path = _write(tmp_path / "mask.png", damage(_valid_palette_png()))
    with pytest.raises(InputError, match=message) as error:
        read_mask(path)
    assert str(path) in _one_line(error)


@pytest.mark.parametrize("damage", ["truncate", "crc"])
def test_damaged_grey_pngs(tmp_path, damage):
    ok, buffer = cv2.imencode(".png", np.random.default_rng(0).integers(0, 2, (40, 50), dtype=np.uint8) * 255)
    assert ok
    data = buffer.tobytes()
    data = data[: len(data) // 2] if damage == "truncate" else _with_bad_crc(data)
    path = _write(tmp_path / "mask.png", data)
    with pytest.raises(InputError) as error:
        read_mask(path)
    assert str(path) in _one_line(error)


def _palette_png_with_chunks(ihdr: bytes, *chunks: tuple[bytes, bytes]) -> bytes:
    return SIGNATURE + chunk(b"IHDR", ihdr) + b"".join(chunk(kind, payload) for kind, payload in chunks)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_palette_png(np.ones((3, 3), np.uint8), interlace=1), "interlaced"),
        (
            _palette_png_with_chunks(
                struct.pack(">IIBBBBB", 3, 3, 8, 3, 0, 0, 0), (b"IDAT", zlib.compress(bytes(12))), (b"IEND", b"")
            ),
            "without a palette",
        ),
        (
            _palette_png_with_chunks(struct.pack(">IIBBBBB", 3, 3, 8, 3, 0, 0, 0), (b"PLTE", bytes(6)), (b"IEND", b"")),
            "no image data",
        ),
        (
            _palette_png_with_chunks(
                struct.pack(">IIBBBBB", 3, 3, 8, 3, 0, 0, 0),
                (b"PLTE", bytes(6)),
                (b"IDAT", zlib.compress(bytes([9, 1, 1, 1]) * 3)),
                (b"IEND", b""),
            ),
            "unknown filter 9",
        ),
        (
            _palette_png_with_chunks(
                struct.pack(">IIBBBBB", 3, 3, 8, 3, 0, 0, 0),
                (b"PLTE", bytes(6)),
                (b"IDAT", zlib.compress(bytes(13))),
                (b"IEND", b""),
            ),
            "more image data",
        ),
        (
            _palette_png_with_chunks(
                struct.pack(">IIBBBBB", 3, 3, 8, 3, 0, 0, 0),
                (b"PLTE", bytes(6)),
                (b"IDAT", b"not zlib"),
                (b"IEND", b""),
            ),
            "does not inflate",
        ),
        (_palette_png_with_chunks(struct.pack(">IIBBBBB", 0, 3, 8, 3, 0, 0, 0)), "header says 0x3"),
        (_palette_png_with_chunks(struct.pack(">IIBBBBB", 3, 3, 16, 3, 0, 0, 0)), "bit depth 16"),
        (_palette_png_with_chunks(struct.pack(">IIBBBBB", 3, 3, 8, 3, 1, 0, 0)), "unknown compression"),
    ],
)
def test_malformed_palette_pngs(tmp_path, data, message):
    path = _write(tmp_path / "mask.png", data)
    with pytest.raises(InputError, match=message) as error:
        read_mask(path)
    assert str(path) in _one_line(error)


def test_missing_mask_file_and_folder(tmp_path):
    with pytest.raises(InputError, match="does not exist") as error:
        read_mask(tmp_path / "nope.png")
    assert str(tmp_path / "nope.png") in _one_line(error)
    with pytest.raises(InputError, match="is a folder"):
        read_mask(tmp_path)


def test_transparent_mask_is_refused(tmp_path):
    bgra = np.zeros((4, 6, 4), np.uint8)
    bgra[..., :3] = 255
    bgra[1:3, 1:4, 3] = 255
    cv2.imwrite(str(tmp_path / "m.png"), bgra)
    with pytest.raises(InputError, match="transparency"):
        read_mask(tmp_path / "m.png")


def test_colour_mask_outside_the_palette_is_refused(tmp_path):
    bgr = np.zeros((4, 6, 3), np.uint8)
    bgr[1, 1] = (10, 20, 30)
    cv2.imwrite(str(tmp_path / "m.png"), bgr)
    with pytest.raises(InputError, match=r"colour \(30, 20, 10\), which is not a DAVIS palette colour"):
        read_mask(tmp_path / "m.png")


def test_jpeg_mask_is_refused(tmp_path):
    cv2.imwrite(str(tmp_path / "m.jpg"), np.full((8, 8), 255, np.uint8))
    with pytest.raises(InputError, match="not a PNG file"):
        read_mask(tmp_path / "m.jpg")


@needs_fifo
def test_a_named_pipe_as_a_mask_is_refused_without_blocking(tmp_path):
    fifo = make_fifo(tmp_path / "mask.png")
    error = call_on_fifos(lambda: read_mask(fifo, size=(6, 4)), fifo)
    assert isinstance(error, InputError)
    assert str(error) == f"mask {fifo} is a named pipe (FIFO), not a file"
    assert error.path == str(fifo)


@needs_fifo
def test_a_named_pipe_as_one_object_mask_is_refused_without_blocking(tmp_path):
    first = _write(tmp_path / "1.png", _palette_png(np.ones((4, 6), np.uint8)))
    fifo = make_fifo(tmp_path / "2.png")
    error = call_on_fifos(lambda: read_object_masks({1: first, 2: fifo}), fifo)
    assert isinstance(error, InputError)
    assert str(error) == f"mask {fifo} is a named pipe (FIFO), not a file"


# Reading /dev/zero never ends, so the check runs in a child process whose memory and time are capped: a
# reader that does read it fails the test instead of filling the machine's memory.
_READ_ENDLESS_DEVICE = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
from engine.io import InputError, read_mask
try:
    read_mask("/dev/zero")
except InputError as error:
    print(error)
"""


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_an_endless_device_as_a_mask_is_refused_without_reading_it():
    repository = REPO
    command = [sys.executable, "-c", _READ_ENDLESS_DEVICE]
    done = subprocess.run(command, cwd=repository, capture_output=True, text=True, timeout=3 * TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "mask /dev/zero is a device, not a file"
