"""What the panel says about the engine: the outcome of the last check or local start, for this Blender session.

Module state rather than a saved property: whether an engine answered an hour ago on another machine is no
fact about the .blend file, so it must not travel with it. No `bpy` here.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

State = Literal["unknown", "starting", "connected", "failed"]


class EngineStatus(NamedTuple):
    state: State
    text: str  # one line for the sidebar; the full story goes to the operator's report


_status = EngineStatus("unknown", "Not checked yet")


def current() -> EngineStatus:
    return _status


def record(state: State, text: str) -> None:
    """Keep the outcome of a check; only its first line, since a sidebar label shows one line."""
    global _status
    _status = EngineStatus(state, text.splitlines()[0] if text else "")
