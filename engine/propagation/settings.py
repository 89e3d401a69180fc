"""Every propagation option a user sets, with its default, and the one way from options to `Settings`.

The command line (`engine.commands.propagation_options`), job files (`engine.shots.job_file`) and the wire
(`engine.server.dispatch`) all take their names and defaults from here, so a default changes in one place.
Importing this module loads no torch: `--help` lists these defaults at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine.choices import DEFAULT_PRECISION, Precision
from engine.propagation.bank_config import BankConfig

if TYPE_CHECKING:
    from engine.model.readout import ReaderKind
    from engine.propagation.propagator import Settings

# The names users see (CLI, protocol, job files) for the memory readers the model implements.
READERS: dict[str, ReaderKind] = {"global": "global", "kernel": "kmn", "spatial": "skn"}
DEFAULTS: dict[str, Any] = {
    "direction": "both",
    "reader": "global",
    "max_size": None,  # the network's own: the scale it was trained at (480 for the published AFB-URR ones)
    "memory_every": None,  # the network's own: every frame for the published AFB-URR networks
    "budget": BankConfig.budget,
    "update_rate": BankConfig.update_rate,
    "merge_threshold": BankConfig.merge_threshold,
    "protect_keyframes": BankConfig.protect_keyframes,
    "precision": DEFAULT_PRECISION,
    "strict_precision": False,
    "matte_format": "png16",
    "adapt": 0,  # steps of fine-tuning on the keyframes before propagating; 0: none
}


def settings_from(options: Mapping[str, Any], precision: Precision) -> Settings:
    """`Settings` from parsed flags, a job file's table or a wire message's options (same names, with
    underscores; missing or None ones take the defaults), computing in `precision`: what the device made of
    the requested one (`engine.compute.precision.choose_for_device`)."""
    from engine.model.readout import ReadOptions
    from engine.propagation.propagator import Settings

    values = {**DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    bank = BankConfig(
        budget=values["budget"],
        update_rate=values["update_rate"],
        merge_threshold=values["merge_threshold"],
        protect_keyframes=values["protect_keyframes"],
    )
    return Settings(
        max_size=values["max_size"],
        memory_every=values["memory_every"],
        bank=bank,
        read=ReadOptions(reader=READERS[values["reader"]]),
        precision=precision,
        adapt=values["adapt"],
    )
