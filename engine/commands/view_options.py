"""The colour-management flags: which OpenColorIO config the engine reads, and the view float plates go through.

Named as in Blender's Color Management panel, so a shot propagated on a farm shows the network the pixels the
artist saw in Blender (see `engine.io.view`). The config defaults to `$OCIO`, the variable every OpenColorIO
application reads, so a studio's pipeline setting carries over without a flag.
"""

from __future__ import annotations

import argparse
import os

from engine.choices import VIEW_DEFAULTS
from engine.commands.propagation_options import bounded


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
        "--view", default=VIEW_DEFAULTS["view"], help="view transform: Standard, AgX, Filmic, ... (default %(default)s)"
    )
    group.add_argument("--look", default=VIEW_DEFAULTS["look"], help="look, e.g. 'AgX - Punchy' (default %(default)s)")
    group.add_argument("--display", default=VIEW_DEFAULTS["display"], help="display device (default %(default)s)")
    group.add_argument(
        "--exposure",
        type=_exposure,
        default=VIEW_DEFAULTS["exposure"],
        help="exposure in stops, -32 to 32 (default %(default)s)",
    )
    group.add_argument(
        "--gamma", type=_gamma, default=VIEW_DEFAULTS["gamma"], help="display gamma, 0.01 to 5 (default %(default)s)"
    )
    add_config_argument(group)


def _gamma(text: str) -> float:
    return bounded(float, text, lambda v: 0.01 <= v <= 5.0, "a number from 0.01 to 5")


def _exposure(text: str) -> float:
    return bounded(float, text, lambda v: -32.0 <= v <= 32.0, "a number of stops from -32 to 32")
