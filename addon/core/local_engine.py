"""The engine as a child of Blender, started when the artist asked for it and nothing answers at the address.

No `bpy` here, so the tests drive it directly. Starting never waits: `ensure` launches
`PYTHON -m engine serve --bind ADDRESS [--checkpoint PTH] [--allow-root DIR...]` and returns at once, and the
operators call `LocalEngine.poll()` from their timer ticks until the `serving on ENDPOINT` line the server
prints once it answers shows up in its log, so Blender's UI stays responsive while PyTorch loads the model.

The child outlives nothing: `stop()` runs when the add-on is disabled and, through `atexit`, when Blender quits.
Its stdout and stderr go to one log file in the temporary folder, named in every error together with its last
lines. It serves only this computer (loopback or ipc://), since a wider bind needs CurveZMQ keys this side
does not make. A plate folder is allowed (`--allow-root`) only when a run needs it; a run that needs another
folder restarts the engine with the union, as the server reads its roots once, at start.
"""

from __future__ import annotations

import atexit
import shutil
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..vendored import protocol_module

_launch = protocol_module("launch")
START_TIMEOUT = _launch.START_TIMEOUT
PROBE_TIMEOUT = 0.5  # seconds: a loopback connect is answered or refused at once
LOOPBACK_HOSTS = {"localhost", "::1", "[::1]"}  # and 127.0.0.0/8


class LocalEngineError(Exception):
    """The local engine could not be started or stopped serving; `message` is written for the artist."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class LocalEngineSpec:
    """What to start: the interpreter, the weights ("" lets the engine find its own), where to serve, what to read."""

    python: str
    checkpoint: str
    address: str
    roots: frozenset[str] = field(default_factory=frozenset)
    ocio_config: str = ""  # Blender's OpenColorIO config, for views other than Standard

    def covers(self, other: LocalEngineSpec) -> bool:
        """Whether an engine started like this can serve `other`: the same engine, with at least its folders."""
        return replace(self, roots=other.roots) == other and self.roots >= other.roots


class LocalEngine(_launch.EngineProcess):
    """One started engine process (`protocol.launch`); `poll()` until it serves, then talk to `endpoint`;
    `stop()` when done. Every failure is a `LocalEngineError` with a message for the artist."""

    def __init__(
        self, spec: LocalEngineSpec, environment: Mapping[str, str] | None = None, start_timeout: float = START_TIMEOUT
    ) -> None:
        self.spec = spec
        try:
            super().__init__(_checked(spec), _serve_arguments(spec), None, environment, start_timeout)
        except _launch.EngineStartError as error:
            raise LocalEngineError(error.message) from None

    def poll(self) -> bool:
        """True once the engine serves, False while it loads; raises `LocalEngineError` if it died or took too long."""
        try:
            return bool(super().poll())
        except _launch.EngineStartError as error:
            raise LocalEngineError(error.message) from None


_current: LocalEngine | None = None  # the engine this Blender started, if any


def ensure(
    spec: LocalEngineSpec, environment: Mapping[str, str] | None = None, start_timeout: float = START_TIMEOUT
) -> LocalEngine | None:
    """The local engine to use for `spec`, started if needed; None when another engine already listens there.

    The engine this Blender started is reused while it runs with the same settings and the folders asked for;
    otherwise it is stopped and a new one started, allowed the folders of both. Raises `LocalEngineError` when
    the preferences cannot give an engine (no interpreter, no checkpoint file, an address on another machine).
    """
    global _current
    if _current is not None and _current.alive and _current.spec.covers(spec):
        return _current
    if _current is not None:
        if _current.alive and _current.spec.covers(replace(spec, roots=frozenset())):
            spec = replace(spec, roots=_current.spec.roots | spec.roots)
        stop()
    if not is_local(spec.address):
        raise LocalEngineError(
            f"'Start a Local Engine' is on, but {spec.address} is not on this computer: "
            "use a 127.0.0.1 or ipc:// address, or start the engine on that machine"
        )
    if listening(spec.address):
        return None
    _current = LocalEngine(spec, environment, start_timeout)
    return _current


def stop() -> None:
    """Stop the engine this Blender started, if any; the add-on's `unregister` and Blender's exit call it."""
    global _current
    engine, _current = _current, None
    if engine is not None:
        engine.stop()


atexit.register(stop)


def is_local(address: str) -> bool:
    """Whether `address` is on this computer: ipc://, or tcp:// on a loopback host."""
    scheme, _, rest = address.partition("://")
    if scheme == "ipc":
        return True
    host = rest.rpartition(":")[0]
    return scheme == "tcp" and (host in LOOPBACK_HOSTS or host.startswith("127."))


def listening(address: str) -> bool:
    """Whether something accepts connections at `address` now; a `:0` port names no engine yet, so never."""
    scheme, _, rest = address.partition("://")
    if scheme == "ipc":
        family, target = getattr(socket, "AF_UNIX", None), rest
        if family is None:
            return False
    else:
        host, _, port = rest.rpartition(":")
        if not port.isdigit() or int(port) == 0:
            return False
        family, target = socket.AF_INET6 if ":" in host else socket.AF_INET, (host.strip("[]"), int(port))
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.settimeout(PROBE_TIMEOUT)
        try:
            probe.connect(target)
        except OSError:
            return False
    return True


def _checked(spec: LocalEngineSpec) -> str:
    """The interpreter's full path, after checking what can be checked before starting anything."""
    if not spec.python:
        raise LocalEngineError("Set the local engine's Python interpreter in the add-on's preferences")
    python = shutil.which(spec.python)
    if python is None:
        raise LocalEngineError(
            f"The local engine's Python interpreter {spec.python} does not exist or is not executable: "
            "set one that has the engine installed"
        )
    if spec.checkpoint and not Path(spec.checkpoint).is_file():
        raise LocalEngineError(f"The local engine's checkpoint {spec.checkpoint} does not exist")
    return python


def _serve_arguments(spec: LocalEngineSpec) -> list[str]:
    arguments = ["--bind", spec.address]
    if spec.checkpoint:
        arguments += ["--checkpoint", spec.checkpoint]
    for root in sorted(spec.roots):
        arguments += ["--allow-root", root]
    if spec.ocio_config:
        arguments += ["--ocio-config", spec.ocio_config]
    return arguments
