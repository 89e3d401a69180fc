"""The packages of the `review` extra, imported only when a picture needs them: the engine installs and runs
without them, and a farm worker that never writes reviews never loads them."""

from __future__ import annotations

import importlib
from types import ModuleType

from engine.errors import EngineError

INSTALL = "pip install 'maskprop[review]'"


class MissingExtra(EngineError):
    """A review picture needs a package that is not installed; the message says how to install it.

    An `EngineError` rather than an `InputError`: no file the user gave is wrong, the environment is, and the
    command line reports it the same way (one line, exit code 2) since rerunning the same job cannot help.
    """


def require(module: str, what: str) -> ModuleType:
    """`module` imported, or `MissingExtra` saying that `what` needs it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingExtra(f"{what} needs the package {module.partition('.')[0]}, not installed: {INSTALL}") from error
