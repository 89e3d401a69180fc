"""The environment an engine process is started with: the parent's, minus what a host program set for itself.

Blender 5.1 and later set ``OCIO`` (its own colour configuration) in the C environment of its process, where
``os.environ`` does not show it but a child started with the inherited environment gets it; a Python child that
then imports ``bpy`` prints ``Using OCIO=...`` on stdout. So engines are started with an explicit environment,
built from ``os.environ`` with such variables removed, never with the process's inherited one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

# Set by a host application for its own libraries; never meant for the engine it starts.
HOST_ONLY = frozenset({"OCIO"})


def engine_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (``os.environ`` by default) without the host-only variables, as a new dict for ``Popen(env=...)``."""
    source = os.environ if base is None else base
    return {name: value for name, value in source.items() if name not in HOST_ONLY}
