"""Engine errors a caller can tell apart (and map to exit codes or protocol errors) without parsing text."""

from __future__ import annotations


class EngineError(Exception):
    """Base of the errors the engine raises on purpose."""


class OutOfMemory(EngineError):
    """The device ran out of memory. Raised instead of moving work to the CPU behind the caller's back."""


class CheckpointError(EngineError):
    """A checkpoint could not be read, or does not fit the network."""


class CheckpointNotFound(CheckpointError):
    """No checkpoint was given or configured; the message says how to get and point at one."""


class EngineUnavailable(EngineError):
    """An engine this process talks to stopped answering or is busy: the same work may succeed when retried
    (exit code 75), on this worker's next session or another worker."""
