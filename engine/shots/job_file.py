"""Job files: the shots a render-farm job propagates, as TOML, checked completely before any model loads.

    [defaults]                          # optional: every shot gets these unless it sets its own
    checkpoint = "weights/afburr.pth"
    max_size = 480

    [[shot]]
    name = "sh010"
    frames = "plates/sh010/plate.####.exr"
    masks = { 0 = "masks/sh010.0000.png", 48 = "masks/sh010.0048.png" }
    out = "roto/sh010"

docs/farm.md has the full format. Relative paths resolve against the job file's folder, so a job folder moves
(or is path-mapped by a farm) as a whole; absolute ones go through the farm's path mapping rules when there are
any (`path_mapping`), so a job written on Windows runs on Linux workers. Every problem (an unknown key, a wrong
type, a missing value, a repeated name or output folder) is one `InputError` line naming the key and its table:
a farm shows that one line for a failed task, and a misspelt option must never be ignored for a night of
rendering.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.choices import MATTE_FORMATS, REQUESTS, VIEW_DEFAULTS
from engine.io import InputError
from engine.io.images import read_file_bytes
from engine.io.view import DisplayView
from engine.propagation.plan import DIRECTIONS
from engine.propagation.settings import DEFAULTS, READERS
from engine.shots.path_mapping import PathMapping, read_path_mapping
from engine.shots.shot import ShotSpec


@dataclass(frozen=True)
class Rule:
    """What a key accepts: its TOML value types, a check of the value, and how an error says so."""

    kinds: tuple[type, ...]
    expected: str
    ok: Callable[[Any], bool] = lambda value: True

    def accepts(self, value: Any) -> bool:
        # TOML booleans are Python ints too, but `budget = true` is a mistake, not 1.
        if isinstance(value, bool) and bool not in self.kinds:
            return False
        return isinstance(value, self.kinds) and self.ok(value)


def one_of(choices: Iterable[str]) -> Rule:
    names = tuple(choices)
    return Rule((str,), "one of " + ", ".join(names), lambda value: value in names)


POSITIVE = Rule((int,), "a whole number above 0", lambda value: value > 0)
TEXT = Rule((str,), "a non-empty string", lambda value: bool(value.strip()))
INDEX = Rule((int,), "a whole number, 0 or more", lambda value: value >= 0)
FLAG = Rule((bool,), "true or false")
# Names go on command lines as `--shot a,b` and into farm task lists separated by spaces.
NAME = Rule(
    (str,),
    "a name without spaces or commas",
    lambda value: bool(value) and not any(c.isspace() or c == "," for c in value),
)
TABLE = Rule((dict,), "a table")

# The propagation options, named as the command line's flags are (with underscores).
OPTIONS: dict[str, Rule] = {
    "direction": one_of(DIRECTIONS),
    "reader": one_of(READERS),
    "max_size": INDEX,
    "memory_every": POSITIVE,
    "budget": POSITIVE,
    "update_rate": Rule((int, float), "a number from 0 to 1", lambda value: 0 <= value <= 1),
    "merge_threshold": Rule((int, float), "a number"),
    "protect_keyframes": FLAG,
    "precision": one_of(REQUESTS),
    "strict_precision": FLAG,
    "matte_format": one_of(MATTE_FORMATS),
    "adapt": INDEX,
    "view": TEXT,
    "look": TEXT,
    "display": TEXT,
    "exposure": Rule((int, float), "a number of stops from -32 to 32", lambda value: -32 <= value <= 32),
    "gamma": Rule((int, float), "a number from 0.01 to 5", lambda value: 0.01 <= value <= 5),
}
# Settings of the process rather than of a shot: the model loads once for all the shots.
PROCESS: dict[str, Rule] = {"checkpoint": TEXT, "device": TEXT, "deterministic": FLAG, "ocio_config": TEXT}
SHOT: dict[str, Rule] = {
    "name": NAME,
    "frames": TEXT,
    "out": TEXT,
    "masks": TABLE,
    "mask": TEXT,
    "mask_frame": INDEX,
    "first": INDEX,
    "last": INDEX,
    "exr_layer": TEXT,
    **OPTIONS,
}


@dataclass(frozen=True)
class JobShot:
    spec: ShotSpec
    options: Mapping[str, Any]  # every propagation option: the shot's own, else [defaults], else the engine's


@dataclass(frozen=True)
class JobFile:
    source: Path
    shots: tuple[JobShot, ...]
    checkpoint: str | None = None  # None: $MASKPROP_CHECKPOINT or the config file
    device: str = "auto"
    deterministic: bool = False

    def select(self, names: Iterable[str]) -> tuple[JobShot, ...]:
        """The shots called `names`, in the job's order; no names means every shot."""
        wanted = set(names)
        known = {shot.spec.name for shot in self.shots}
        missing = sorted(wanted - known)
        if missing:
            listed = ", ".join(sorted(known)[:20]) + (", ..." if len(known) > 20 else "")
            raise InputError(f"{self.source}: no shot named {missing[0]!r}; the job's shots are {listed}", self.source)
        return tuple(shot for shot in self.shots if not wanted or shot.spec.name in wanted)


class Table:
    """A TOML table being read: hands out checked values and names itself in errors."""

    def __init__(self, values: Mapping[str, Any], label: str, source: Path) -> None:
        self.values = values
        self.label = label
        self.source = source

    def check_keys(self, allowed: Iterable[str]) -> None:
        allowed = tuple(allowed)
        for key in self.values:
            if key in PROCESS and key not in allowed:
                raise self.error(f"{key!r} in {self.label} is a setting of the whole job: put it in [defaults]")
            if key not in allowed:
                raise self.error(f"unknown key {key!r} in {self.label}; known keys: {', '.join(sorted(allowed))}")

    def get(self, key: str, rule: Rule, required: bool = False) -> Any:
        if key not in self.values:
            if required:
                raise self.error(f"{self.label} has no {key!r}, which is required")
            return None
        value = self.values[key]
        if not rule.accepts(value):
            shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
            raise self.error(f"{key!r} in {self.label} must be {rule.expected}, not {shown}")
        return value

    def error(self, problem: str) -> InputError:
        return InputError(f"{self.source}: {problem}", self.source)


@dataclass(frozen=True)
class JobPaths:
    """How a path written in the job file becomes one on this worker."""

    base: Path  # the job file's folder: relative paths move with the job as a whole
    mapping: PathMapping

    def resolve(self, value: str) -> str:
        """`value` mapped as written (`P:\\shots` is no relative POSIX path), then `~` expanded and, if relative,
        taken from the job file's folder."""
        path = Path(self.mapping.map(value)).expanduser()
        return str(path if path.is_absolute() else self.base / path)


def read_job(
    path: str | os.PathLike[str],
    ocio_config: str = "",
    *,
    checkpoint: str | None = None,
    path_mapping_rules: str | os.PathLike[str] | None = None,
) -> JobFile:
    """Read and check a job file; raises `InputError` naming the first problem.

    The job's own `ocio_config` wins over `ocio_config`, so a job file names everything its results depend on;
    `checkpoint` (the command line's) wins over the job's, to try other weights without editing the job. The
    rules of the `path_mapping_rules` file (`engine.shots.path_mapping`) move every path, these two included,
    from the machine that wrote the job onto this one.
    """
    source = Path(path)
    mapping = read_path_mapping(path_mapping_rules)
    try:
        document = tomllib.loads(read_file_bytes(source, "job file").decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise InputError(f"job file {source} is not valid TOML: {error}", source) from error
    top = Table(document, "the job file", source)
    top.check_keys(("defaults", "shot"))
    defaults = Table(top.get("defaults", TABLE) or {}, "[defaults]", source)
    defaults.check_keys((*OPTIONS, *PROCESS))
    shared = {key: defaults.get(key, rule) for key, rule in OPTIONS.items() if key in defaults.values}
    tables = top.get("shot", Rule((list,), "one or more [[shot]] tables", _tables), required=True)
    paths = JobPaths(source.absolute().parent, mapping)
    own_config = defaults.get("ocio_config", TEXT)
    config = mapping.map(ocio_config) if own_config is None else paths.resolve(own_config)
    shots = tuple(_shot(Table(t, f"shot #{n}", source), paths, shared, config) for n, t in enumerate(tables, 1))
    _check_distinct(shots, top)
    checkpoint = _checkpoint(defaults, paths, checkpoint)
    mapping.warn_if_unused()
    return JobFile(
        source=source,
        shots=shots,
        checkpoint=checkpoint,
        device=defaults.get("device", TEXT) or "auto",
        deterministic=bool(defaults.get("deterministic", FLAG)),
    )


def _checkpoint(defaults: Table, paths: JobPaths, override: str | None) -> str | None:
    """The command line's checkpoint, else the job's; `None` leaves the choice to the worker's settings."""
    own = defaults.get("checkpoint", TEXT)  # checked even when overridden: the job file must be right as it is
    if override:
        return paths.mapping.map(override)  # a relative one is the current folder's, as on every command line
    return None if own is None else paths.resolve(own)


def _tables(value: list[Any]) -> bool:
    return bool(value) and all(isinstance(item, dict) for item in value)


def _shot(table: Table, paths: JobPaths, shared: Mapping[str, Any], ocio_config: str) -> JobShot:
    name = table.get("name", NAME, required=True)
    table.label = f"shot {name!r}"
    table.check_keys(SHOT)
    own = {key: table.get(key, rule) for key, rule in OPTIONS.items() if key in table.values}
    options = {**DEFAULTS, **VIEW_DEFAULTS, **shared, **own}
    spec = ShotSpec(
        frames=paths.resolve(table.get("frames", TEXT, required=True)),
        masks=_masks(table, paths),
        out=paths.resolve(table.get("out", TEXT, required=True)),
        first=table.get("first", INDEX),
        last=table.get("last", INDEX),
        direction=options["direction"],
        matte_format=options["matte_format"],
        name=name,
        view=DisplayView.from_options(options, ocio_config),
        exr_layer=table.get("exr_layer", TEXT) or "",
    )
    return JobShot(spec, options)


def _masks(table: Table, paths: JobPaths) -> dict[int, str]:
    """`masks = { 0 = "a.png", 48 = "b.png" }`, or one `mask` with an optional `mask_frame` (default 0)."""
    if ("masks" in table.values) == ("mask" in table.values):
        raise table.error(f"{table.label} needs either 'masks' (keyframe index = mask file) or 'mask', not both")
    if "mask" in table.values:
        return {table.get("mask_frame", INDEX) or 0: paths.resolve(table.get("mask", TEXT))}
    if "mask_frame" in table.values:
        raise table.error(f"'mask_frame' in {table.label} goes with 'mask'; the keys of 'masks' are its frames")
    masks = Table(table.get("masks", TABLE), f"'masks' of {table.label}", table.source)
    if not masks.values:
        raise masks.error(f"{masks.label} is empty: give at least one keyframe mask")
    keyframes = {}
    for key in masks.values:
        if not (key.isascii() and key.isdigit()):
            raise masks.error(f"{key!r} in {masks.label} is not a frame index (0 is the shot's first frame)")
        keyframes[int(key)] = paths.resolve(masks.get(key, TEXT))
    return keyframes


def _check_distinct(shots: tuple[JobShot, ...], top: Table) -> None:
    """Two shots with one name could not be told apart; two with one output folder would overwrite each other."""
    names: set[str] = set()
    folders: dict[str, str] = {}
    for shot in shots:
        if shot.spec.name in names:
            raise top.error(f"two shots are named {shot.spec.name!r}")
        names.add(shot.spec.name)
        folder = os.path.normcase(os.path.abspath(shot.spec.out))
        if folder in folders:
            raise top.error(
                f"shots {folders[folder]!r} and {shot.spec.name!r} write to the same folder {shot.spec.out}"
            )
        folders[folder] = shot.spec.name
