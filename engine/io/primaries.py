"""RGB colour primaries and the 3x3 matrices that move linear pixels between them, in plain numpy.

The engine works in scene-linear Rec.709 (sRGB primaries, D65 white), but plates arrive in ACEScg, ACES2065-1,
Rec.2020, P3 and others. For linear light a change of primaries is one 3x3 matrix: the file's RGB to CIE XYZ (the
normalised primary matrix of SMPTE RP 177), a Bradford adaptation when the file's white is not D65, then XYZ to
Rec.709. Bradford is what the ACES configs of OpenColorIO use for these conversions, so the pixels agree with what a
studio's compositor shows for the same file. Everything is computed in float64 from the published xy values; callers
cast the final matrix to float32.
"""

from __future__ import annotations

from numbers import Real
from typing import NamedTuple

import numpy as np

Xy = tuple[float, float]


class Chromaticities(NamedTuple):
    """CIE 1931 xy of the red, green and blue primaries and of the white point, as OpenEXR stores them."""

    red: Xy
    green: Xy
    blue: Xy
    white: Xy

    @classmethod
    def from_floats(cls, values: object) -> Chromaticities:
        """From the eight floats of an OpenEXR `chromaticities` attribute: red x y, green x y, blue x y, white x y.

        Raises DegenerateChromaticities for anything but a tuple or list of eight real numbers.
        """
        if not isinstance(values, tuple | list) or len(values) != 8:
            raise DegenerateChromaticities(f"expected eight numbers, got {values!r}")
        if not all(isinstance(v, Real) and not isinstance(v, bool) for v in values):
            raise DegenerateChromaticities(f"expected eight numbers, got {values!r}")
        x = [float(v) for v in values]
        return cls((x[0], x[1]), (x[2], x[3]), (x[4], x[5]), (x[6], x[7]))

    def floats(self) -> tuple[float, ...]:
        return (*self.red, *self.green, *self.blue, *self.white)

    def close_to(self, other: Chromaticities, tolerance: float = 1e-3) -> bool:
        """Whether every coordinate is within `tolerance`: the Color Interop Forum compares EXR chromaticities so."""
        return bool(np.all(np.abs(np.subtract(self.floats(), other.floats())) <= tolerance))


class DegenerateChromaticities(ValueError):
    """Chromaticities from which no invertible RGB to XYZ matrix can be built; the message says why."""


# White points (CIE 1931 xy).
D65: Xy = (0.3127, 0.3290)  # ITU-R BT.709, BT.2020, SMPTE EG 432-1 (P3-D65), Adobe RGB (1998)
ACES_WHITE: Xy = (0.32168, 0.33767)  # SMPTE ST 2065-1: the ACES white, close to but not CIE D60

# Primaries with their white, exactly as published.
REC709 = Chromaticities((0.640, 0.330), (0.300, 0.600), (0.150, 0.060), D65)  # ITU-R BT.709-6, also sRGB
P3_D65 = Chromaticities((0.680, 0.320), (0.265, 0.690), (0.150, 0.060), D65)  # SMPTE EG 432-1
REC2020 = Chromaticities((0.708, 0.292), (0.170, 0.797), (0.131, 0.046), D65)  # ITU-R BT.2020-2
AP0 = Chromaticities((0.7347, 0.2653), (0.0, 1.0), (0.0001, -0.0770), ACES_WHITE)  # ACES2065-1, SMPTE ST 2065-1
AP1 = Chromaticities((0.713, 0.293), (0.165, 0.830), (0.128, 0.044), ACES_WHITE)  # ACEScg, Academy S-2014-004
ADOBE_RGB = Chromaticities((0.640, 0.330), (0.210, 0.710), (0.150, 0.060), D65)  # Adobe RGB (1998)

NAMED: dict[str, Chromaticities] = {
    "Rec.709": REC709,
    "P3-D65": P3_D65,
    "Rec.2020": REC2020,
    "AP0": AP0,
    "AP1": AP1,
    "Adobe RGB": ADOBE_RGB,
}

# Bradford cone response (Lam 1985), as used by ICC profiles and by the ACES configs of OpenColorIO.
BRADFORD = np.array(
    [
        [0.8951, 0.2664, -0.1614],
        [-0.7502, 1.7135, 0.0367],
        [0.0389, -0.0685, 1.0296],
    ]
)

_MIN_AREA = 1e-6  # twice the area of the primaries' xy triangle below which the primaries are taken as collinear


def white_xyz(white: Xy) -> np.ndarray:
    """The XYZ of a white point with luminance Y = 1."""
    x, y = white
    if not np.isfinite([x, y]).all():
        raise DegenerateChromaticities(f"the white point ({x}, {y}) is not a number")
    if abs(y) < 1e-9:
        raise DegenerateChromaticities(f"the white point ({x}, {y}) has y = 0")
    return np.array([x / y, 1.0, (1.0 - x - y) / y])


def rgb_to_xyz(chromaticities: Chromaticities) -> np.ndarray:
    """The normalised primary matrix (SMPTE RP 177): linear RGB to XYZ, RGB (1, 1, 1) landing on the white, Y = 1.

    Raises DegenerateChromaticities when the values are not numbers, the primaries lie on one line (no gamut), or
    the white is not strictly inside their triangle (a channel would get zero or negative weight).
    """
    values = np.array(chromaticities.floats(), dtype=np.float64)
    if not np.isfinite(values).all():
        raise DegenerateChromaticities("not every value is a finite number")
    white = white_xyz(chromaticities.white)
    rgb = (chromaticities.red, chromaticities.green, chromaticities.blue)
    columns = np.array([[x, y, 1.0 - x - y] for x, y in rgb]).T  # one column per primary: x, y, z
    if abs(np.linalg.det(columns)) < _MIN_AREA:
        raise DegenerateChromaticities("the red, green and blue primaries lie on one line")
    weights = np.linalg.solve(columns, white)
    if (weights <= 1e-9).any():
        raise DegenerateChromaticities("the white point is not inside the triangle of the primaries")
    return columns * weights


def bradford(source_white: Xy, target_white: Xy) -> np.ndarray:
    """The Bradford chromatic adaptation (von Kries in Bradford cone space) of XYZ from one white to another."""
    source = BRADFORD @ white_xyz(source_white)
    target = BRADFORD @ white_xyz(target_white)
    return np.linalg.inv(BRADFORD) @ np.diag(target / source) @ BRADFORD


def xyz_to_rec709() -> np.ndarray:
    """CIE XYZ (D65 white) to linear Rec.709: the inverse of Rec.709's normalised primary matrix."""
    return np.linalg.inv(rgb_to_xyz(REC709))


def rgb_to_rec709(chromaticities: Chromaticities) -> np.ndarray:
    """Linear RGB with these primaries and white to linear Rec.709 (D65), white adapted with Bradford.

    Row-major for column vectors: `rec709 = matrix @ rgb`. The identity (to float64 precision) for Rec.709 itself.
    """
    to_xyz = rgb_to_xyz(chromaticities)
    if chromaticities.white != D65:
        to_xyz = bradford(chromaticities.white, D65) @ to_xyz
    return xyz_to_rec709() @ to_xyz


def named(chromaticities: Chromaticities, tolerance: float = 1e-3) -> str | None:
    """The name of the published primaries these are within `tolerance` of, or None."""
    return next((name for name, known in NAMED.items() if chromaticities.close_to(known, tolerance)), None)
