"""The colour space an OpenEXR header declares, and the conversion of its pixels to scene-linear Rec.709.

The rest of the engine takes every float image as scene-linear Rec.709, so a plate in another colour space is
converted here, from what its header declares (the header is the file's first part; its attributes cover every
layer, the Combined pass included):

- `colorInteropID`, the ASWF Color Interop Forum's colour space id (OpenEXR 3.4, written by Blender 5 and OpenImageIO):
  each supported id is a decoding to linear light, if encoded, then a 3x3 matrix. `data` (non-colour channels) is
  refused; `unknown` (the Forum's word for "not known") and an empty string count as no id.
- without an id, `chromaticities` (the older attribute, eight floats): primaries and white to Rec.709, Bradford
  adapted (`engine.io.primaries`), or the exact published matrix when they match a known set within 1e-3.
- neither: the plate is taken as scene-linear Rec.709, what untagged renders and comps almost always hold.

An id the engine does not know and chromaticities that describe no colour space are `InputError`s: a wrong guess
would silently shift every colour the network tracks. Alpha is never converted; a grey (`Y`) plate has no
primaries, so only an encoded id's decoding applies to it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import numpy as np

from engine.io import primaries
from engine.io.errors import InputError
from engine.io.primaries import Chromaticities, DegenerateChromaticities

INTEROP_ID = "colorInteropID"
CHROMATICITIES = "chromaticities"
NO_ID = frozenset({"", "unknown"})  # the Forum's "unknown": fall back to chromaticities, then Rec.709
DATA_ID = "data"


class ColourSpace(NamedTuple):
    """How a file's RGB becomes scene-linear Rec.709: `decode` to linear light (None: already linear), then
    `matrix` (None: already Rec.709; else rec709 = matrix @ rgb, float64)."""

    decode: Callable[[np.ndarray], np.ndarray] | None
    matrix: np.ndarray | None

    @property
    def is_identity(self) -> bool:
        return self.decode is None and self.matrix is None


LINEAR_REC709 = ColourSpace(None, None)


def srgb_to_linear(encoded: np.ndarray) -> np.ndarray:
    """The inverse of the sRGB transfer function (IEC 61966-2-1), float32.

    Negative values continue the linear segment, as OpenColorIO's scene-referred sRGB spaces do.
    """
    encoded = np.asarray(encoded, dtype=np.float32)
    curved = np.power((np.maximum(encoded, 0.04045) + 0.055) / 1.055, 2.4, dtype=np.float32)
    return np.where(encoded <= 0.04045, encoded / np.float32(12.92), curved).astype(np.float32)


def gamma_to_linear(encoded: np.ndarray, exponent: float) -> np.ndarray:
    """A pure power decoding, float32; negative values pass through unchanged, as OpenColorIO's scene spaces do."""
    encoded = np.asarray(encoded, dtype=np.float32)
    return np.where(encoded > 0, np.power(np.maximum(encoded, 0), exponent, dtype=np.float32), encoded)


def mirrored(decode: Callable[[np.ndarray], np.ndarray], encoded: np.ndarray) -> np.ndarray:
    """`decode` applied to |value|, the sign kept: how OpenColorIO's display spaces treat negative values."""
    encoded = np.asarray(encoded, dtype=np.float32)
    return np.copysign(decode(np.abs(encoded)), encoded).astype(np.float32)


def _space(chromaticities: Chromaticities, decode: Callable[[np.ndarray], np.ndarray] | None = None) -> ColourSpace:
    matrix = None if chromaticities == primaries.REC709 else primaries.rgb_to_rec709(chromaticities)
    return ColourSpace(decode, matrix)


_SRGB_DISPLAY = partial(mirrored, srgb_to_linear)
_ADOBE_GAMMA = 563 / 256  # Adobe RGB (1998) section 4.3.4.2: 2.19921875, not 2.2

# The Color Interop Forum ids the engine converts: the scene-referred ones of "Color Space Encodings for Texture
# Assets and CG Rendering" and the SDR ones of "Color Space Encodings for Displays". A display id's decoded values
# are display light relative to its white, which is taken as scene-linear: the plate then looks as it did on that
# display. HDR display ids (pq_, hlg_, srgbe_) need a luminance decision and are refused with the unknown ones.
INTEROP_SPACES: dict[str, ColourSpace] = {
    "lin_rec709_scene": LINEAR_REC709,
    "lin_ap0_scene": _space(primaries.AP0),
    "lin_ap1_scene": _space(primaries.AP1),
    "lin_p3d65_scene": _space(primaries.P3_D65),
    "lin_rec2020_scene": _space(primaries.REC2020),
    "lin_adobergb_scene": _space(primaries.ADOBE_RGB),
    "lin_ciexyzd65_scene": ColourSpace(None, primaries.xyz_to_rec709()),
    "srgb_rec709_scene": _space(primaries.REC709, srgb_to_linear),
    "g18_rec709_scene": _space(primaries.REC709, partial(gamma_to_linear, exponent=1.8)),
    "g22_rec709_scene": _space(primaries.REC709, partial(gamma_to_linear, exponent=2.2)),
    "g24_rec709_scene": _space(primaries.REC709, partial(gamma_to_linear, exponent=2.4)),
    "srgb_p3d65_scene": _space(primaries.P3_D65, srgb_to_linear),
    "srgb_ap1_scene": _space(primaries.AP1, srgb_to_linear),
    "g22_ap1_scene": _space(primaries.AP1, partial(gamma_to_linear, exponent=2.2)),
    "g22_adobergb_scene": _space(primaries.ADOBE_RGB, partial(gamma_to_linear, exponent=_ADOBE_GAMMA)),
    "srgb_rec709_display": _space(primaries.REC709, _SRGB_DISPLAY),
    "g22_rec709_display": _space(primaries.REC709, partial(mirrored, partial(gamma_to_linear, exponent=2.2))),
    "g24_rec709_display": _space(primaries.REC709, partial(mirrored, partial(gamma_to_linear, exponent=2.4))),
    "srgb_p3d65_display": _space(primaries.P3_D65, _SRGB_DISPLAY),
    "g26_p3d65_display": _space(primaries.P3_D65, partial(mirrored, partial(gamma_to_linear, exponent=2.6))),
}

# Chromaticities within 1e-3 of a published set use its exact matrix (the Forum's tolerance for matching them).
_NAMED_SPACES: dict[str, ColourSpace] = {
    name: _space(known) for name, known in primaries.NAMED.items() if known != primaries.REC709
}


def colour_space(header: dict[str, Any], path: str | os.PathLike[str], what: str = "image") -> ColourSpace:
    """The colour space an EXR header declares: its colorInteropID, else its chromaticities, else linear Rec.709."""
    interop_id = header.get(INTEROP_ID)
    if interop_id is not None:
        if not isinstance(interop_id, str):
            raise InputError(f"{what} {path} has a {INTEROP_ID} that is not a string: {interop_id!r}", path)
        if interop_id not in NO_ID:
            return _interop_space(interop_id, path, what)
    chromaticities = header.get(CHROMATICITIES)
    return LINEAR_REC709 if chromaticities is None else _chromaticities_space(chromaticities, path, what)


def _interop_space(interop_id: str, path: str | os.PathLike[str], what: str) -> ColourSpace:
    if interop_id == DATA_ID:
        raise InputError(
            f"{what} {path} holds non-colour data ({INTEROP_ID} 'data': normals, IDs, masks), not a picture", path
        )
    if interop_id not in INTEROP_SPACES:
        raise InputError(
            f"{what} {path} is in a colour space the engine cannot convert ({INTEROP_ID} {interop_id!r}); "
            f"supported: {', '.join(INTEROP_SPACES)}",
            path,
        )
    return INTEROP_SPACES[interop_id]


def _chromaticities_space(value: object, path: str | os.PathLike[str], what: str) -> ColourSpace:
    try:
        chromaticities = Chromaticities.from_floats(value)
    except DegenerateChromaticities as error:
        raise InputError(
            f"{what} {path} has a {CHROMATICITIES} attribute that is not eight numbers: {value!r}", path
        ) from error
    name = primaries.named(chromaticities)
    if name == "Rec.709":
        return LINEAR_REC709
    if name is not None:
        return _NAMED_SPACES[name]
    try:
        return ColourSpace(None, primaries.rgb_to_rec709(chromaticities))
    except DegenerateChromaticities as error:
        shown = ", ".join(f"{v:.6g}" for v in chromaticities.floats())
        raise InputError(f"{what} {path} has unusable {CHROMATICITIES} ({shown}): {error}", path) from error


def to_rec709(image: np.ndarray, space: ColourSpace) -> np.ndarray:
    """`image` (float32, B G R [A]) in scene-linear Rec.709, in place of its colour channels; alpha untouched.

    A 3x3 matrix commutes with premultiplication, so premultiplied EXR colour converts correctly as stored.
    """
    if space.is_identity:
        return image
    rgb = image[..., 2::-1]  # R, G, B: the matrices are written for RGB column vectors
    if space.decode is not None:
        rgb = space.decode(rgb)
    if space.matrix is not None:
        rgb = rgb @ space.matrix.T.astype(np.float32)
    image[..., :3] = rgb[..., ::-1]
    return image
