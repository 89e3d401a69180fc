"""The number format the network computes in, chosen from what the device can do fast.

bf16 halves the memory traffic of the convolutions and, on hardware with bf16 matrix units (CUDA devices of
compute capability 8.0 and later, x86 CPUs with AVX512-BF16 or AMX, Arm CPUs with the BF16 extension), runs
them several times faster than fp32. Without such units torch still computes bf16, by converting, and is then
*slower* than fp32 (a 2-core AVX2 CPU: twelve times slower on the decoder's convolutions). So `auto` asks the
hardware, and an explicit `bf16` where it has no fast path computes in fp32 with a warning, or, when the user
insisted (`strict`), is an error: there is never a silent slow path. fp16 needs CUDA.

Under bf16 only the network's layers run in reduced precision (autocast), in channels-last layout; the memory
read (affinity and softmax over the bank) and the bank itself stay fp32 (see `engine.propagation.tracker`).
"""

from __future__ import annotations

import contextlib
import logging
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import torch

from engine.choices import PRECISIONS, REQUESTS, Precision

log = logging.getLogger(__name__)
ModuleT = TypeVar("ModuleT", bound=torch.nn.Module)

# CPU feature flags (as Linux names them in /proc/cpuinfo) that mean bf16 matrix units, best first.
_CPU_BF16_FLAGS = {"amx_bf16": "AMX-BF16", "avx512_bf16": "AVX512-BF16", "bf16": "the Arm BF16 extension"}


class PrecisionError(ValueError):
    """A precision this device cannot run (fp16 off CUDA), or bf16 without bf16 units when the user insisted."""


@dataclass(frozen=True)
class PrecisionChoice:
    """What a command computes in, and why; `describe()` is the line it prints and records."""

    precision: Precision
    requested: str
    reason: str
    fallback: bool = False  # the user asked for a precision this device has no fast path for

    def describe(self) -> str:
        return f"warning: {self.reason}" if self.fallback else f"precision {self.precision} ({self.reason})"


def bf16_units(device: torch.device) -> str | None:
    """The device's bf16 matrix units, named for people; None where it has none."""
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        return f"CUDA compute capability {major}.{minor}" if major >= 8 else None
    return cpu_bf16_units(cpu_flags())


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags: torch's own probe where it has one, and Linux's /proc/cpuinfo."""
    flags = set()
    probes = {"amx_bf16": "_is_amx_tile_supported", "avx512_bf16": "_is_avx512_bf16_supported"}
    for flag, probe in probes.items():
        if getattr(torch.cpu, probe, lambda: False)():
            flags.add(flag)
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip().lower() in ("flags", "features"):
                flags.update(value.split())
    return frozenset(flags)


def cpu_bf16_units(flags: frozenset[str], machine: str | None = None) -> str | None:
    """Which of `flags` gives bf16 matrix units on a CPU of `machine` (x86_64, aarch64, ...)."""
    machine = (machine or platform.machine()).lower()
    for flag, name in _CPU_BF16_FLAGS.items():
        arm_only = flag == "bf16"
        if flag in flags and arm_only == machine.startswith(("aarch64", "arm")):
            return name
    return None


def choose_precision(requested: str, device_type: str, units: str | None, strict: bool = False) -> PrecisionChoice:
    """The precision to run for `requested` on a `device_type` device with bf16 `units` (None: none)."""
    if requested not in REQUESTS:
        raise PrecisionError(f"precision must be one of {', '.join(REQUESTS)}, not {requested!r}")
    where = "this GPU" if device_type == "cuda" else "this CPU"
    if requested == "auto":
        if units:
            return PrecisionChoice("bf16", requested, f"auto: {where} has bf16 matrix units, {units}")
        return PrecisionChoice("fp32", requested, f"auto: {where} has no bf16 matrix units")
    if requested == "fp16" and device_type != "cuda":
        raise PrecisionError("fp16 runs on CUDA only; use bf16 or fp32 on the CPU")
    if requested == "bf16" and not units:
        slow = f"bf16 was asked for, but {where} has no bf16 matrix units and would run it slower than fp32"
        if strict:
            raise PrecisionError(f"{slow}; refused (strict precision)")
        return PrecisionChoice("fp32", requested, f"{slow}: computing in fp32 (strict precision refuses)", True)
    return PrecisionChoice(requested, requested, "as asked")  # type: ignore[arg-type]


def resolve_precision(requested: str, device: torch.device, strict: bool = False) -> PrecisionChoice:
    """`choose_precision` for a real device, probing its bf16 units."""
    units = bf16_units(device) if requested in ("auto", "bf16") else None
    return choose_precision(requested, device.type, units, strict)


def choose_for_device(requested: str, strict: bool, device: torch.device) -> PrecisionChoice:
    """`resolve_precision`, logging what was chosen and why: information, or a warning where the device has
    no fast path for what was asked (which `--quiet` still shows). Every command that runs the network and the
    batch runner choose this way."""
    choice = resolve_precision(requested, device, strict)
    if choice.fallback:
        log.warning(choice.reason)
    else:
        log.info("precision %s (%s)", choice.precision, choice.reason)
    return choice


def autocast(device: torch.device, precision: Precision = "fp32") -> contextlib.AbstractContextManager[None]:
    """Mixed precision for the network's layers; nothing at fp32. Computes what is asked on any device that
    can: deciding whether it is worth it is `resolve_precision`'s job."""
    if precision not in PRECISIONS:
        raise PrecisionError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "fp16" and device.type != "cuda":
        raise PrecisionError("fp16 runs on CUDA only; use bf16 or fp32 on the CPU")
    return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


def full_precision(device: torch.device) -> contextlib.AbstractContextManager[None]:
    """Leave any autocast region: for computations that must stay fp32 inside a reduced-precision stage."""
    return torch.autocast(device.type, enabled=False)


def memory_format(precision: Precision, reference_layout: bool = True) -> torch.memory_format:
    """The layout the network's inputs and weights take: channels-last where reduced precision runs the
    convolutions (the fast bf16 kernels want it) or the network has no reference to round as
    (`reference_layout` false: EfficientNet-Lite's depthwise convolutions run a third faster in it on a CPU);
    the reference's contiguous layout at fp32, so that fp32 rounds as it always did."""
    return torch.contiguous_format if precision == "fp32" and reference_layout else torch.channels_last


def lay_out_weights(model: ModuleT, layout: torch.memory_format) -> ModuleT:
    """Put the convolution weights in `layout` (see `memory_format`), in place: with the inputs alone in
    channels-last, every bf16 convolution reorders its weights on every call (on an AMX CPU the whole network
    ran 0.80x fp32's time that way, and 0.40x with the weights laid out too). Converting back keeps the values,
    so a model shared by shots of both precisions still computes fp32 bit for bit."""
    return model.to(memory_format=layout)
