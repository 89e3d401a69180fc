"""Finds the protocol package, which lives in different places in the built extension and in the repository.

`build_addon.py` copies `protocol/` into the extension as the subpackage `<add-on>.protocol` and rewrites its
absolute `protocol.*` imports to relative ones. So Blender never sees a top-level module called `protocol`,
which another add-on could shadow or clash with. In the repository there is no such subpackage: the add-on
is imported as `addon` next to the top-level `protocol` package, and that one is used.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def protocol_module(name: str) -> ModuleType:
    """Import `protocol.<name>` from the copy inside the extension, else from the repository."""
    vendored = f"{__package__}.protocol"
    try:
        return importlib.import_module(f"{vendored}.{name}")
    except ModuleNotFoundError as error:
        if error.name != vendored:  # the copy is there but something it needs is missing
            raise
    return importlib.import_module(f"protocol.{name}")
