"""Choosing the precision: auto asks the hardware, bf16 without bf16 units is never a silent slow path, and
bf16 agrees with fp32 on real DAVIS frames.

The choice is a function of the device's bf16 units, so it is checked for devices with and without them by
naming the units; this machine's own answer is checked against its CPU flags.
"""

from __future__ import annotations

import contextlib
import platform
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from engine.compute.precision import (
    PrecisionError,
    autocast,
    choose_precision,
    cpu_bf16_units,
    cpu_flags,
    lay_out_weights,
    memory_format,
    resolve_precision,
)
from engine.model.afburr import AFBURR
from engine.model.config import named_config
from engine.model.weights import load_model
from engine.propagation.propagator import Propagator, Settings
from engine.train.options import DataSpec, TrainOptions
from engine.train.trainer import train
from tests.paths import FIXTURES

QUARTER = FIXTURES / "davis-quarter"


@pytest.mark.parametrize(
    ("requested", "device", "units", "expected"),
    [
        ("auto", "cpu", "AMX-BF16", "bf16"),
        ("auto", "cpu", None, "fp32"),
        ("auto", "cuda", "CUDA compute capability 9.0", "bf16"),
        ("auto", "cuda", None, "fp32"),
        ("bf16", "cpu", "AVX512-BF16", "bf16"),
        ("fp32", "cpu", "AMX-BF16", "fp32"),
        ("fp16", "cuda", None, "fp16"),
    ],
)
def test_the_choice_follows_the_hardware(requested, device, units, expected):
    choice = choose_precision(requested, device, units)
    assert choice.precision == expected and not choice.fallback
    assert choice.describe().startswith(f"precision {expected} (")
    if requested == "auto":
        assert ("has bf16" if units else "has no bf16") in choice.reason


def test_bf16_without_units_falls_back_to_fp32_with_a_warning_or_is_refused_when_strict():
    choice = choose_precision("bf16", "cpu", None)
    assert choice.precision == "fp32" and choice.fallback
    assert choice.describe().startswith("warning: bf16 was asked for, but this CPU has no bf16 matrix units")
    with pytest.raises(PrecisionError, match="refused"):
        choose_precision("bf16", "cpu", None, strict=True)
    assert choose_precision("bf16", "cpu", "AMX-BF16", strict=True).precision == "bf16"


@pytest.mark.parametrize(("requested", "message"), [("fp16", "CUDA only"), ("fp64", "must be one of"), ("", "one of")])
def test_what_no_cpu_computes_is_an_error(requested, message):
    with pytest.raises(PrecisionError, match=message):
        choose_precision(requested, "cpu", "AMX-BF16")


@pytest.mark.parametrize(
    ("flags", "machine", "units"),
    [
        ({"avx2", "avx512f", "avx512_bf16"}, "x86_64", "AVX512-BF16"),
        ({"amx_tile", "amx_bf16", "avx512_bf16"}, "x86_64", "AMX-BF16"),
        ({"avx2", "fma"}, "x86_64", None),
        ({"fp", "asimd", "bf16"}, "aarch64", "the Arm BF16 extension"),
        ({"fp", "asimd"}, "aarch64", None),
        ({"bf16"}, "x86_64", None),  # an x86 flag list has no plain "bf16"; it means nothing there
    ],
)
def test_cpu_units_are_read_from_the_feature_flags(flags, machine, units):
    assert cpu_bf16_units(frozenset(flags), machine) == units


def test_this_machine_answers_from_its_own_flags():
    units = cpu_bf16_units(cpu_flags())
    choice = resolve_precision("auto", torch.device("cpu"))
    assert choice.precision == ("bf16" if units else "fp32")
    if platform.machine() == "x86_64" and Path("/proc/cpuinfo").is_file():
        flags = Path("/proc/cpuinfo").read_text()
        assert (units is not None) == ("avx512_bf16" in flags or "amx_bf16" in flags)


def test_autocast_and_layout_per_precision():
    cpu = torch.device("cpu")
    assert isinstance(autocast(cpu, "fp32"), contextlib.nullcontext)
    with autocast(cpu, "bf16"):
        assert torch.is_autocast_enabled("cpu")
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16
    with pytest.raises(PrecisionError, match="CUDA only"):
        autocast(cpu, "fp16")
    assert memory_format("fp32") == torch.contiguous_format
    assert memory_format("bf16") == torch.channels_last
    assert memory_format("fp32", reference_layout=False) == torch.channels_last


def test_weights_take_the_layout_of_the_precision_and_give_it_back_unchanged():
    model = AFBURR(named_config("tiny"))
    before = {name: p.clone() for name, p in model.named_parameters()}
    convolutions = [p for p in model.parameters() if p.dim() == 4]
    lay_out_weights(model, torch.channels_last)
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in convolutions)
    lay_out_weights(model, torch.contiguous_format)
    assert all(p.is_contiguous() for p in convolutions)
    assert all(torch.equal(p, before[name]) for name, p in model.named_parameters())


def test_fp32_after_bf16_on_the_same_model_is_bit_for_bit_fp32():
    """A batch job's shots may ask for different precisions of one loaded model."""
    torch.manual_seed(0)
    model = AFBURR(named_config("tiny")).eval().requires_grad_(False)
    frames, mask = _shot("blackswan")
    frames = frames[:3]

    def run(precision: str) -> list:
        settings = Settings(max_size=0, precision=precision)
        return list(Propagator(model, frames, [1], settings).run({0: mask}, 0, len(frames) - 1, "forward"))

    first = run("fp32")
    run("bf16")
    again = run("fp32")
    assert all(np.array_equal(a.mattes, b.mattes) for a, b in zip(first, again, strict=True))


@pytest.fixture(scope="module")
def davis_network(tmp_path_factory) -> torch.nn.Module:
    """A tiny network fitted to the quarter-size DAVIS frames, so that its mattes are real segmentations
    (IoU 0.55-0.8 on the later frames), not the saturated outputs of the parity weights where every object
    is certain and the label is decided by rounding."""
    out = tmp_path_factory.mktemp("davis-network")
    options = TrainOptions(
        out=out,
        data=(DataSpec.parse(str(QUARTER)),),
        model="tiny",
        steps=150,
        size=(112, 112),
        frames=3,
        lr=1e-3,
        save_every=1000,
        val_every=1000,
        val_clips=0,
        log_every=1000,
        device="cpu",
        precision="fp32",
    )
    with open(out / "log.txt", "w") as log:
        result = train(options, stream=log)
    model = load_model(result.checkpoint).eval().requires_grad_(False)
    shutil.rmtree(out / "checkpoints")
    return model


def _shot(name: str) -> tuple[list[np.ndarray], np.ndarray]:
    frames = [cv2.imread(str(path))[:, :, ::-1].copy() for path in sorted((QUARTER / "JPEGImages" / name).iterdir())]
    mask = cv2.imread(str(QUARTER / "Annotations" / name / "00000.png"), cv2.IMREAD_GRAYSCALE)
    return frames, (mask > 127).astype(np.uint8)


@pytest.mark.slow
@pytest.mark.slow
@pytest.mark.parametrize("name", ["blackswan", "car-shadow", "motocross-jump", "scooter-black"])
def test_bf16_agrees_with_fp32_on_real_frames(davis_network, name):
    """bf16's stated accuracy: >= 99.5 % of label-map pixels equal to fp32's on every frame, mattes within
    0.1 anywhere and 0.005 on average (measured: 99.97-100 % of pixels, at most 0.036, on average under 0.001)."""
    frames, mask = _shot(name)
    results = {
        precision: list(
            Propagator(davis_network, frames, [1], Settings(max_size=0, precision=precision)).run(
                {0: mask}, 0, len(frames) - 1, "forward"
            )
        )
        for precision in ("fp32", "bf16")
    }
    for full, reduced in zip(results["fp32"], results["bf16"], strict=True):
        assert np.isfinite(reduced.mattes).all()
        assert np.mean(full.labels == reduced.labels) >= 0.995
        difference = np.abs(full.mattes - reduced.mattes)
        assert difference.max() <= 0.1 and difference.mean() <= 0.005
    assert np.mean([(r.labels > 0).mean() for r in results["fp32"][1:]]) > 0.5 * mask.mean()  # it did segment
