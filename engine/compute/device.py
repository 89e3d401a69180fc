"""Device and determinism choices, made explicitly and checked up front (precision: `engine.compute.precision`).

Nothing here falls back silently: asking for CUDA where there is none is an error, and running out of device
memory raises `OutOfMemory` rather than moving work elsewhere.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

from engine.errors import OutOfMemory


def select_device(name: str = "auto") -> torch.device:
    """ "auto" picks the first CUDA device when there is one, else the CPU; "cpu", "cuda", "cuda:N" are checked."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} was asked for, but this torch build sees no CUDA device")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r} does not exist: {torch.cuda.device_count()} CUDA device(s) present")
    elif device.type != "cpu":
        raise ValueError(f"device {name!r} is not supported: use auto, cpu, cuda or cuda:N")
    return device


def set_deterministic(enabled: bool = True) -> None:
    """Bit-reproducible runs: deterministic kernels only (an error where torch has none), no cuDNN autotuning.

    On CUDA this needs the cuBLAS workspace setting, which must be in place before the first cuBLAS call.
    Torch's switch imports its compiler (a second or two at every start), so it is only thrown when the
    setting changes.
    """
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    if enabled != torch.are_deterministic_algorithms_enabled():
        torch.use_deterministic_algorithms(enabled)
    torch.backends.cudnn.benchmark = not enabled
    torch.backends.cudnn.deterministic = enabled


@contextlib.contextmanager
def out_of_memory_as_error(what: str) -> Iterator[None]:
    """Turn torch's out-of-memory error during `what` into `OutOfMemory` with advice on what to lower."""
    try:
        yield
    except torch.OutOfMemoryError as exc:
        raise OutOfMemory(
            f"out of device memory during {what}. Lower the memory budget, the read chunk size, the "
            f"resolution or the number of objects, or use bf16. ({exc})"
        ) from exc
