"""The names a user picks from on the command line, in job files and over the protocol.

They live apart from the code that acts on them (which needs torch, numpy or OpenCV) so that the command line
can offer them, and answer `--help` or a mistyped option, without loading any of that.
"""

from __future__ import annotations

from typing import Any, Literal

Precision = Literal["fp32", "bf16", "fp16"]
PRECISIONS: tuple[Precision, ...] = ("fp32", "bf16", "fp16")
REQUESTS: tuple[str, ...] = ("auto", *PRECISIONS)  # what a user may ask for: a precision, or the device's best
DEFAULT_PRECISION = "auto"
MatteDepth = Literal["8", "16", "half"]  # bits per matte value: 8- or 16-bit PNG, or half-float EXR
MATTE_FORMATS: dict[str, MatteDepth] = {"png8": "8", "png16": "16", "exr": "half"}  # user name -> depth
# The named network configurations of `engine.model.config.CONFIGS` (a test keeps the two the same).
MODEL_NAMES: tuple[str, ...] = ("afb-urr-r50", "small", "tiny", "lite0")
# Steps of `--adapt` given without a number (`engine.learning.adaptation`).
ADAPT_STEPS = 40
# Which of the network's modules learn, by name: when adapting to a shot (`engine.learning.adaptation`) and,
# besides "all", when training (`engine train --learn`).
LEARNABLE_PARTS: dict[str, tuple[str, ...]] = {
    "decoder": ("decoder",),
    "decoder+memory": ("decoder", "encoder_m", "keyval_r4"),
}
LEARN = ("all", *LEARNABLE_PARTS)
# How a network treats the background (`engine.model.config.ModelConfig.background`).
BACKGROUNDS = ("explicit", "implicit")
# The colour-management fields of a float plate's view, with the defaults of Blender's factory Standard view
# (`engine.io.view.DisplayView`); flags and job files use the same names.
VIEW_DEFAULTS: dict[str, Any] = {"view": "Standard", "look": "None", "display": "sRGB", "exposure": 0.0, "gamma": 1.0}
# Frame confidence under which a frame is listed for review: in a shot's summary and on its review pictures.
REVIEW_BELOW = 0.5
