"""What an artist sees of a scene-linear plate: Blender's colour management (display, view, look, exposure, gamma).

The network was trained on display-referred pictures, and the artist draws the keyframe on the plate as the
viewer shows it, so a float plate (EXR, float TIFF, a streamed linear frame) must become the pixels on the
artist's screen. Blender's default view since 4.0 is AgX, which rolls highlights off where Standard clips them:
sending Standard pixels for an AgX scene shows the network a different picture from the one the mask was drawn
on. Byte plates (PNG, JPEG, video) are display-referred already and go as stored (see docs/decisions.md).

Standard on the sRGB display with no look, exposure 0 and gamma 1 is the sRGB transfer function, computed here
without any config. Anything else goes through OpenColorIO with a config file: Blender's own
(`<Blender>/datafiles/colormanagement/config.ocio`, which the add-on gives the engine it starts) or a studio's.
The order is Blender's: exposure is a scene-linear gain of 2**exposure, then the look and the view transform,
then gamma as a power 1/gamma on the display values.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.choices import VIEW_DEFAULTS
from engine.io.errors import InputError

if TYPE_CHECKING:
    import PyOpenColorIO

NO_LOOK = VIEW_DEFAULTS["look"]  # Blender's name for no look
# The colour space float plates are in once read (`engine.io.exr` converts tagged files to it), by the names
# configs give it: Blender's, the ACES studio configs', and the Color Interop Forum id.
LINEAR_REC709_NAMES = ("Linear Rec.709", "Linear Rec.709 (sRGB)", "lin_rec709_scene", "Utility - Linear - sRGB")


@dataclass(frozen=True)
class DisplayView:
    """A colour-management setting, named as in Blender's Color Management panel, and the config naming it."""

    view: str = VIEW_DEFAULTS["view"]
    look: str = NO_LOOK
    display: str = VIEW_DEFAULTS["display"]
    exposure: float = VIEW_DEFAULTS["exposure"]
    gamma: float = VIEW_DEFAULTS["gamma"]
    config: str = ""  # path of an OpenColorIO config; "" allows the plain sRGB Standard view only

    @classmethod
    def from_options(cls, options: Mapping[str, Any], config: str) -> DisplayView:
        """The setting of parsed flags or a job file's table (missing names take the defaults); opening the
        frames checks it (`engine.io.open_frames`), before any frame is read."""
        return cls(config=config, **{key: options[key] for key in VIEW_DEFAULTS if options.get(key) is not None})

    @property
    def has_look(self) -> bool:
        return (self.look or NO_LOOK) != NO_LOOK  # Blender says "None"; "" means the same

    @property
    def is_plain_srgb(self) -> bool:
        """Standard on sRGB with nothing on top: the sRGB transfer function, no config needed."""
        plain = (self.view, self.has_look, self.display, self.exposure, self.gamma)
        return plain == ("Standard", False, "sRGB", 0.0, 1.0)

    def check(self) -> None:
        """Raise an InputError now if this setting cannot be applied (no config, unknown view), not mid-shot."""
        if not self.is_plain_srgb:
            _processor(self)

    def encode(self, linear_rgb: np.ndarray) -> np.ndarray:
        """Scene-linear Rec.709 floats (HxWx3, RGB order) to the 8-bit display pixels of this setting."""
        rgb = np.nan_to_num(np.asarray(linear_rgb, dtype=np.float32), nan=0.0, posinf=65504.0, neginf=0.0)
        if self.is_plain_srgb:
            return np.rint(srgb_oetf(np.clip(rgb, 0.0, 1.0)) * 255.0).astype(np.uint8)
        rgb = np.ascontiguousarray(rgb)  # OpenColorIO converts in place
        _processor(self).applyRGB(rgb)
        return np.rint(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)

    def describe(self) -> str:
        look = f", look {self.look}" if self.has_look else ""
        extra = "".join(
            (
                f", exposure {self.exposure:g}" if self.exposure else "",
                f", gamma {self.gamma:g}" if self.gamma != 1 else "",
            )
        )
        return f"{self.view} on {self.display}{look}{extra}"


STANDARD = DisplayView()


def srgb_oetf(linear: np.ndarray) -> np.ndarray:
    """The sRGB transfer function (IEC 61966-2-1) on linear values already clipped to [0, 1]."""
    linear = np.asarray(linear, dtype=np.float32)
    curved = 1.055 * np.power(np.maximum(linear, 0.0031308), 1.0 / 2.4, dtype=np.float32) - 0.055
    return np.where(linear <= 0.0031308, 12.92 * linear, curved).astype(np.float32)


@functools.lru_cache(maxsize=16)
def _processor(setting: DisplayView) -> Any:
    """The OpenColorIO CPU processor of `setting`, built once per setting (configs and LUTs are slow to load)."""
    import PyOpenColorIO as ocio

    if not setting.config:
        raise InputError(
            f"the view {setting.describe()} needs an OpenColorIO config: give --ocio-config (Blender's is "
            "<Blender>/datafiles/colormanagement/config.ocio) or set OCIO"
        )
    config = load_config(setting.config)
    displays = list(config.getDisplays())
    if setting.display not in displays:
        raise InputError(f"display {setting.display!r} is not in {setting.config}; it has: {', '.join(displays)}")
    views = list(config.getViews(setting.display))
    if setting.view not in views:
        raise InputError(
            f"view {setting.view!r} is not a view of display {setting.display!r} in {setting.config}; "
            f"it has: {', '.join(views)}"
        )
    looks = [look.getName() for look in config.getLooks()]
    if setting.has_look and setting.look not in looks:
        raise InputError(f"look {setting.look!r} is not in {setting.config}; it has: None, {', '.join(looks)}")
    pipeline = ocio.LegacyViewingPipeline()
    pipeline.setDisplayViewTransform(
        ocio.DisplayViewTransform(
            src=_linear_rec709(config, setting.config), display=setting.display, view=setting.view
        )
    )
    if setting.has_look:
        pipeline.setLooksOverrideEnabled(True)
        pipeline.setLooksOverride(setting.look)
    if setting.exposure:
        gain = 2.0**setting.exposure
        pipeline.setLinearCC(ocio.MatrixTransform.Scale([gain, gain, gain, 1.0]))
    if setting.gamma != 1.0:
        power = 1.0 / setting.gamma
        pipeline.setDisplayCC(ocio.ExponentTransform([power, power, power, 1.0], direction=ocio.TRANSFORM_DIR_FORWARD))
    try:
        return pipeline.getProcessor(config).getDefaultCPUProcessor()
    except ocio.Exception as error:
        raise InputError(f"{setting.describe()} cannot be built from {setting.config}: {error}") from error


@functools.lru_cache(maxsize=4)
def load_config(path: str) -> PyOpenColorIO.Config:
    """The OpenColorIO config at `path`, or an InputError saying why it cannot be used."""
    import PyOpenColorIO as ocio

    if not os.path.isfile(path):
        raise InputError(f"OpenColorIO config {path} does not exist or is not a file", path)
    try:
        return ocio.Config.CreateFromFile(path)
    except ocio.Exception as error:
        raise InputError(f"OpenColorIO config {path} cannot be read: {error}", path) from error


def _linear_rec709(config: PyOpenColorIO.Config, path: str) -> str:
    for name in LINEAR_REC709_NAMES:
        space = config.getColorSpace(name)
        if space is not None:
            return space.getName()
    raise InputError(
        f"OpenColorIO config {path} has no scene-linear Rec.709 colour space (looked for: "
        f"{', '.join(LINEAR_REC709_NAMES)})",
        path,
    )
