"""The colour-management flags: which OpenColorIO config the engine reads, and the view float plates go through.

Named as in Blender's Color Management panel, so a shot propagated on a farm shows the network the pixels the
artist saw in Blender (see `engine.io.view`). The config defaults to `$OCIO`, the variable every OpenColorIO
application reads, so a studio's pipeline setting carries over without a flag.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine.commands.propagation_options import bounded

if TYPE_CHECKING:
    from engine.io.view import DisplayView

# The view's fields, with the defaults of Blender's factory Standard view; job files use the same names.
DEFAULTS: dict[str, Any] = {"view": "Standard", "look": "None", "display": "sRGB", "exposure": 0.0, "gamma": 1.0}


def add_config_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--ocio-config",
        metavar="FILE",
        default=os.environ.get("OCIO", ""),
        help="OpenColorIO config for views other than Standard on sRGB, e.g. Blender's "
        "<Blender>/datafiles/colormanagement/config.ocio (default: $OCIO, else none)",
    )


def add_view_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("colour management of float plates (EXR); byte plates are used as stored")
    group.add_argument(
        "--view", default=DEFAULTS["view"], help="view transform: Standard, AgX, Filmic, ... (default %(default)s)"
    )
    group.add_argument("--look", default=DEFAULTS["look"], help="look, e.g. 'AgX - Punchy' (default %(default)s)")
    group.add_argument("--display", default=DEFAULTS["display"], help="display device (default %(default)s)")
    group.add_argument(
        "--exposure",
        type=_exposure,
        default=DEFAULTS["exposure"],
        help="exposure in stops, -32 to 32 (default %(default)s)",
    )
    group.add_argument(
        "--gamma", type=_gamma, default=DEFAULTS["gamma"], help="display gamma, 0.01 to 5 (default %(default)s)"
    )
    add_config_argument(group)


def display_view(options: Mapping[str, Any], config: str) -> DisplayView:
    """The `DisplayView` of parsed flags or a job file's table (missing names take the defaults); opening the
    frames checks it (`engine.io.open_frames`), before any frame is read."""
    from engine.io.view import DisplayView

    values = {**DEFAULTS, **{key: options[key] for key in DEFAULTS if options.get(key) is not None}}
    return DisplayView(config=config, **values)


def _gamma(text: str) -> float:
    return bounded(float, text, lambda v: 0.01 <= v <= 5.0, "a number from 0.01 to 5")


def _exposure(text: str) -> float:
    return bounded(float, text, lambda v: -32.0 <= v <= 32.0, "a number of stops from -32 to 32")
