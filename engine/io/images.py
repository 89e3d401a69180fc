"""Decoding and encoding single images with OpenCV, and turning any plate into what the network sees.

The network was trained on 8-bit display-referred sRGB (DAVIS, YouTube-VOS JPEGs), so every plate becomes an
HxWx3 uint8 RGB array in display sRGB:

- 8-bit images are already display-referred: only channel order changes (OpenCV decodes BGR).
- 16-bit images (PNG, TIFF) are display-referred too, just finer: scaled to 8 bits with rounding.
- Floating-point images (OpenEXR, float TIFF) are scene-linear Rec.709, as Blender and compositors write them
  (`engine.io.exr` converts EXR files tagged with other primaries). They become what the artist sees through a
  `DisplayView` (`engine.io.view`): by default Blender's Standard view, the sRGB OETF on values clipped to
  [0, 1]; AgX, Filmic, looks, exposure and gamma through OpenColorIO.
- Grey images are repeated to three channels; alpha is dropped (the plate's colour is what is tracked).

OpenEXR files are decoded by `engine.io.exr` (MultiLayer renders included), everything else with OpenCV.
Files are read into memory and decoded with `cv2.imdecode`, so a missing file and a corrupt one give different
messages, and non-ASCII paths work on every platform. A decoder that fails (truncated file, bad CRC, not an
image) is always an `InputError` naming the file, never a `None` passed on. Only regular files are read
(`engine.io.files`): a named pipe or a device given as an image would otherwise hang the read.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from engine.io.errors import InputError, OutputError
from engine.io.exr import decode_exr, is_exr
from engine.io.files import Inside, read_file_bytes
from engine.io.view import STANDARD, DisplayView

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".exr", ".tif", ".tiff"})


def decode_image(data: bytes, path: str | os.PathLike[str], what: str = "image", layer: str = "") -> np.ndarray:
    """Decode image bytes exactly as stored (bit depth, channels, alpha), or raise an InputError naming `path`.

    `layer` names the layer of a multi-layer OpenEXR file to read (see `engine.io.exr`); other formats have none.
    """
    if not data:
        raise InputError(f"{what} {path} is empty (0 bytes)", path)
    if is_exr(data):
        return decode_exr(data, path, what, layer)
    if layer:
        raise InputError(f"{what} {path} is not OpenEXR, so it has no layer {layer!r} to read", path)
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as error:
        if "OpenEXR codec is disabled" in str(error):
            raise InputError(
                f"{what} {path} is OpenEXR, but OpenEXR is disabled in OpenCV (OPENCV_IO_ENABLE_OPENEXR is off)", path
            ) from error
        image = None
    if image is None or image.size == 0:
        raise InputError(f"{what} {path} cannot be decoded: truncated, corrupt or not an image", path)
    return image


def read_image(
    path: str | os.PathLike[str], what: str = "image", layer: str = "", inside: Inside | None = None
) -> np.ndarray:
    """Read and decode one image file as stored (see `decode_image`); `inside` as for `read_file_bytes`."""
    return decode_image(read_file_bytes(path, what, inside), path, what, layer)


def to_display_rgb(
    image: np.ndarray, path: str | os.PathLike[str] = "<array>", view: DisplayView = STANDARD
) -> np.ndarray:
    """Any decoded image (OpenCV channel order) as an HxWx3 uint8 RGB array of display pixels; float images
    (scene-linear) through `view`. See the module doc."""
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 2, 3, 4):
        raise InputError(f"image {path} has an unsupported layout {image.shape}", path)
    channels = image.shape[2]
    if channels in (2, 4):  # grey + alpha, BGR + alpha: the alpha goes
        image = image[:, :, : channels - 1]
    rgb = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image[:, :, ::-1]
    if np.issubdtype(rgb.dtype, np.floating):
        return view.encode(rgb)
    return np.ascontiguousarray(_bytes_to_uint8(rgb, path))


def encode_image(suffix: str, image: np.ndarray, params: tuple[int, ...] = ()) -> bytes:
    """Encode with the OpenCV codec for `suffix` (".png", ".exr", ...); a failure here is a bug, not bad input."""
    try:
        ok, buffer = cv2.imencode(suffix, image, list(params))
    except cv2.error as error:
        if "OpenEXR codec is disabled" in str(error):
            raise OutputError(
                "cannot write OpenEXR: it is disabled in OpenCV (OPENCV_IO_ENABLE_OPENEXR is off)"
            ) from error
        raise
    if not ok:
        raise RuntimeError(f"OpenCV could not encode a {image.dtype} {image.shape} image as {suffix}")
    return buffer.tobytes()


def _bytes_to_uint8(image: np.ndarray, path: str | os.PathLike[str]) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        # Round to nearest: 65535 -> 255, 257 * k -> k exactly.
        return ((image.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    raise InputError(f"image {path} has unsupported samples ({image.dtype}); use 8/16-bit or float images", path)
