"""The user's config folder: the config file the engine reads and the default folder for CurveZMQ keys.

It is the platform's place for settings, as platformdirs names it: ~/.config/maskprop on Linux (or
$XDG_CONFIG_HOME/maskprop), ~/Library/Application Support/maskprop on macOS, %LOCALAPPDATA%\\maskprop on Windows.
Earlier versions used ~/.config/maskprop everywhere; a config file there is still read where the platform's
place has none, with a note saying where it belongs now.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import platformdirs

APP = "maskprop"
CONFIG_FILE = "config.toml"

log = logging.getLogger(__name__)


def config_dir() -> Path:
    """The platform's folder for this user's maskprop settings (not created here)."""
    return platformdirs.user_config_path(APP, appauthor=False)


def keys_dir() -> Path:
    """Where `keygen` writes key pairs when it is given no folder."""
    return config_dir() / "keys"


def config_path() -> Path:
    """The config file to read: the platform's, or the one earlier versions read if only that one exists."""
    path = config_dir() / CONFIG_FILE
    earlier = _earlier_config_path()
    if path.is_file() or earlier == path or not earlier.is_file():
        return path
    log.info("reading %s; move it to %s, the config file's place on this system", earlier, path)
    return earlier


def _earlier_config_path() -> Path:
    """Where earlier versions looked on every system; the same as the platform's place on Linux."""
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / APP / CONFIG_FILE
