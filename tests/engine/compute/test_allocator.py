"""The engine keeps freed activations for reuse: a frame's large tensors stop costing page faults."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from engine.compute.allocator import keep_freed_memory

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's malloc only"
)

# Runs the query encoder of a lite0 network on a frame at its trained size, as every frame does, and prints the
# page faults of each of four passes after the first.
FRAMES = """
import resource, sys, torch
torch.set_num_threads(1)  # the other threads' allocations make the counts vary from run to run
from engine.compute.allocator import keep_freed_memory
from engine.model import AFBURR
from engine.model.config import named_config
if sys.argv[1] == "keep":
    assert keep_freed_memory()
model = AFBURR(named_config("lite0")).eval()
frame = torch.rand(1, 3, 320, 576)
with torch.no_grad():
    model.encode_query(frame)
    for _ in range(4):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        model.encode_query(frame)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _page_faults(mode: str) -> list[int]:
    done = subprocess.run([sys.executable, "-c", FRAMES, mode], capture_output=True, text=True, check=True)
    return [int(line) for line in done.stdout.split()]


def test_frames_settle_into_reusing_the_memory_the_last_one_freed() -> None:
    default, kept = _page_faults("default"), _page_faults("keep")
    assert min(default) > 5000  # 36 to 75 MB of fresh pages a pass, faulted in one by one, every pass
    # The heap may still grow now and then (a few thousand pages, seen with Blender 5.3's Python), far from that.
    assert sum(kept[1:]) < sum(default[1:]) / 4, (default, kept)


def test_setting_the_thresholds_again_does_no_harm() -> None:
    assert keep_freed_memory() and keep_freed_memory()
