"""Process and device memory readings for benchmarks (None where the platform cannot tell)."""

from __future__ import annotations

import os
import sys

import torch


def current_rss_bytes(pid: int | None = None) -> int | None:
    """Resident set size now (Linux) of this process or of `pid`, to show whether memory stays flat over a long run."""
    try:
        with open(f"/proc/{pid or 'self'}/statm") as file:
            return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def peak_rss_bytes() -> int | None:
    """The process's largest resident set size so far."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def peak_device_bytes(device: torch.device) -> int | None:
    """Largest CUDA allocation since the last `reset_device_peak` (None on the CPU)."""
    return torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None


def reset_device_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
