"""The names a user picks from on the command line, in job files and over the protocol.

They live apart from the code that acts on them (which needs torch, numpy or OpenCV) so that the command line
can offer them, and answer `--help` or a mistyped option, without loading any of that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from engine.io.mattes import MatteDepth

Precision = Literal["fp32", "bf16", "fp16"]
PRECISIONS: tuple[Precision, ...] = ("fp32", "bf16", "fp16")
REQUESTS: tuple[str, ...] = ("auto", *PRECISIONS)  # what a user may ask for: a precision, or the device's best
MATTE_FORMATS: dict[str, MatteDepth] = {"png8": "8", "png16": "16", "exr": "half"}  # user name -> depth
# The named network configurations of `engine.model.config.CONFIGS` (a test keeps the two the same).
MODEL_NAMES: tuple[str, ...] = ("afb-urr-r50", "small", "tiny", "lite0")
