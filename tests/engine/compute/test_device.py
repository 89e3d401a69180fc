"""Device choices are explicit, and running out of memory is an error, not a fallback."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from engine.compute.device import out_of_memory_as_error, select_device, set_deterministic
from engine.errors import OutOfMemory
from tests.paths import REPO


def test_auto_picks_cuda_only_when_present():
    assert select_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert select_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_asking_for_missing_cuda_is_an_error():
    with pytest.raises(ValueError, match="no CUDA device"):
        select_device("cuda")


@pytest.mark.parametrize("name", ["tpu", "mps", "gpu"])
def test_unknown_devices_are_refused(name):
    with pytest.raises(ValueError, match="use auto, cpu, cuda"):
        select_device(name)


def test_out_of_memory_becomes_an_engine_error():
    with pytest.raises(OutOfMemory, match="during read") as info, out_of_memory_as_error("read"):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
    assert isinstance(info.value.__cause__, torch.OutOfMemoryError)


def test_other_errors_pass_through():
    with pytest.raises(RuntimeError, match="shape mismatch"), out_of_memory_as_error("read"):
        raise RuntimeError("shape mismatch")


def test_deterministic_switch():
    try:
        set_deterministic(True)
        assert torch.are_deterministic_algorithms_enabled()
    finally:
        set_deterministic(False)
    assert not torch.are_deterministic_algorithms_enabled()


def test_leaving_determinism_off_does_not_import_the_compiler():
    """Torch's switch imports its compiler, a second or two of every engine start that asked for nothing."""
    code = (
        "import sys; from engine.compute.device import set_deterministic; set_deterministic(False); "
        "print('torch._inductor' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.stdout.strip() == "False"
