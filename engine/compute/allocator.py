"""Keep the memory a frame frees for the next frame, instead of handing it back to the system.

Every frame allocates the same large activations again (a 1/2-resolution feature of a 569x320 frame is 18 MB).
glibc's malloc serves blocks above a threshold with a fresh `mmap` and unmaps them when freed, and its own
adaptive threshold never settles for this pattern, so each frame pays for its activations in page faults: on a
2-core cloud CPU, 340,000 of them for 24 frames, and the network's query stage took 40 to 50 ms a frame where it
takes 31 to 37 ms with the memory kept. Raising the thresholds keeps freed blocks in the heap to be reused;
the peak memory is unchanged, only what is given back between frames is not.

PyTorch's CPU tuning guide gives the same advice by another route (preloading jemalloc or tcmalloc); this needs
no library and no launcher, and works wherever the engine is started from (a shell, Blender, a farm worker).
Other C libraries (musl, macOS, Windows) are left alone.
"""

from __future__ import annotations

import ctypes
import platform

# mallopt's parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# Blocks up to this size come from the heap: glibc's largest allowed threshold on 64-bit systems.
MMAP_THRESHOLD = 32 << 20
# Free memory at the top of the heap kept for reuse: more than one frame's activations at the default sizes.
TRIM_THRESHOLD = 256 << 20


def keep_freed_memory() -> bool:
    """Set glibc's thresholds (once per process is enough; again does no harm); whether they were set."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    # mallopt returns 1 on success; setting the mmap threshold also stops glibc adjusting it.
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
