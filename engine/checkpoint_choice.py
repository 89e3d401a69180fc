"""Which checkpoint a command uses when none is named on its command line, and what to tell a user who has none.

Kept out of `engine.model`, whose package imports torch, because the thin clients of a
farm worker's shared engine name the checkpoint in a shot's identity without ever loading a network.
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

from engine import user_config
from engine.errors import CheckpointError, CheckpointNotFound

ENV_VAR = "MASKPROP_CHECKPOINT"
CONFIG_KEY = "checkpoint"
HUGGING_FACE_REPO = "xmlyqing00/AFB-URR"
# The network the engine ships with (docs/model.md), used when no checkpoint is given or configured.
DEFAULT_NETWORK = Path(__file__).parent / "networks" / "maskprop-lite0.pth"  # engine/networks/
REINSTALL = "reinstall maskprop (pip install --force-reinstall maskprop; in a clone, git checkout engine/networks)"
PUBLISHED_FILES = {
    "DAVIS 2017 (update rate 0.1)": "NeurIPS20_level1_DAVIS17.pth",
    "YouTube-VOS 2018 and long videos (update rate 0.05)": "NeurIPS20_level2_YouTubeVOS.pth",
}

log = logging.getLogger(__name__)


def resolve_checkpoint(
    explicit: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    config_path: Path | None = None,
    default: Path | None = None,
) -> Path:
    """Which checkpoint to use: `explicit` (a CLI flag), else $MASKPROP_CHECKPOINT, else `checkpoint` in
    the config file (`engine.user_config.config_path`), else the network shipped with the engine (`default`).
    The first one given must exist."""
    default = default or DEFAULT_NETWORK
    environ = os.environ if environ is None else environ
    config_path = config_path or user_config.config_path()
    candidates = [
        (explicit, "the command line"),
        (environ.get(ENV_VAR) or None, f"${ENV_VAR}"),
        (_configured(config_path), str(config_path)),
    ]
    for candidate, source in candidates:
        if candidate is None:
            continue
        path = Path(candidate).expanduser()
        if not path.is_file():
            raise CheckpointNotFound(
                f"checkpoint {path} (from {source}) does not exist.\n{how_to_get_weights(config_path)}"
            )
        log.debug("checkpoint %s, from %s", path, source)
        return path
    if not default.is_file():
        raise CheckpointNotFound(
            f"no checkpoint was given, and the network shipped with the engine, {default}, is missing: "
            f"{REINSTALL}, or use a published network.\n{how_to_get_weights(config_path)}"
        )
    log.debug("checkpoint %s, the network shipped with the engine", default)
    return default


def how_to_get_weights(config_path: Path) -> str:
    files = "\n".join(f"    {name}  - {use}" for use, name in PUBLISHED_FILES.items())
    return (
        f"Download a published AFB-URR checkpoint from Hugging Face (https://huggingface.co/{HUGGING_FACE_REPO}):\n"
        f"{files}\n"
        f"for example: huggingface-cli download {HUGGING_FACE_REPO} NeurIPS20_level1_DAVIS17.pth "
        f"--local-dir ~/.cache/maskprop\n"
        f"then point the engine at it in one of these ways (first one wins):\n"
        f"    --checkpoint PATH on the command line\n"
        f"    export {ENV_VAR}=PATH\n"
        f'    {CONFIG_KEY} = "PATH" in {config_path}'
    )


def _configured(config_path: Path) -> str | None:
    if not config_path.is_file():
        return None
    try:
        with config_path.open("rb") as file:
            value = tomllib.load(file).get(CONFIG_KEY)
    except tomllib.TOMLDecodeError as exc:
        raise CheckpointError(f"config file {config_path} is not valid TOML: {exc}") from exc
    if value is not None and not isinstance(value, str):
        raise CheckpointError(f"'{CONFIG_KEY}' in {config_path} must be a path string")
    return value
