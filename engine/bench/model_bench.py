"""`bench model`: where a frame's time goes, and whether memory stays flat over a long shot.

It runs the reference loop on a synthetic clip and times each stage per frame (query encoder, memory read,
decoder, memory encoder, bank update), with a device synchronisation around each stage on CUDA so that the
times are the stages' own. The first frames are left out of the statistics (warm-up: allocator, kernel
selection, and the first frame's memorisation). The long-run mode also samples the bank sizes and the
process's resident memory every `sample_every` frames.

`run_model_benches` measures several configurations side by side (fp32 against bf16, one object against
three), each in a fresh process: a process's peak resident memory never goes down, so a second measurement in
the same process would report the first one's peak, and a fresh process also starts with a cold allocator,
as a farm task does.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import platform
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import torch

import engine
from engine.bench.memory import current_rss_bytes, peak_device_bytes, peak_rss_bytes, reset_device_peak
from engine.bench.synthetic import SyntheticClip
from engine.compute.allocator import keep_freed_memory
from engine.compute.device import select_device, set_deterministic
from engine.compute.precision import Precision
from engine.model import AFBURR, ReadOptions
from engine.model.config import named_config
from engine.model.parity_weights import load_parity_weights
from engine.model.readout import ReaderKind
from engine.model.weights import load_model
from engine.propagation.bank import BankConfig, FeatureBank
from engine.propagation.propagator import effective_max_size, effective_memory_every, internal_size
from engine.propagation.reference_loop import STAGES, run_reference_loop


@dataclass(frozen=True)
class ModelBenchConfig:
    height: int = 480  # of the plate; the network runs at `internal_size` of it, as `propagate` does
    width: int = 854
    max_size: int | None = None  # as `Settings.max_size`: None is the network's own
    memory_every: int | None = None  # as `Settings.memory_every`: None is the network's own
    objects: int = 1
    frames: int = 12
    device: str = "auto"
    precision: Precision = "fp32"  # as resolved for the device (`engine.compute.precision.resolve_precision`)
    precision_reason: str = ""
    compile: bool = False  # torch.compile the network's modules first (compilation is left out of the times)
    reader: ReaderKind = "global"
    budget: int = 300_000
    chunk_elements: int = 1 << 26
    network: str = "afb-urr-r50"  # the configuration the parity weights fill; a checkpoint brings its own
    checkpoint: str | None = None  # None: the deterministic parity weights (timing does not need trained ones)
    warmup: int = 2  # frames left out of the statistics
    sample_every: int = 0  # long run: sample bank size and memory every this many frames (0: never)
    deterministic: bool = False
    seed: int = 0


class StageTimer:
    """Accumulates wall time per stage for the current frame; `take()` hands the frame's times over."""

    def __init__(self, device: torch.device) -> None:
        self._sync: Callable[[], None] = (
            (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
        )
        self._current: dict[str, float] = defaultdict(float)

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        self._sync()
        start = time.perf_counter()
        yield
        self._sync()
        self._current[stage] += time.perf_counter() - start

    def take(self) -> dict[str, float]:
        times, self._current = dict(self._current), defaultdict(float)
        return times


def run_model_bench(config: ModelBenchConfig, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the benchmark; returns the report (what `bench model` writes as JSON)."""
    keep_freed_memory()  # as every command does: this runs in a process of its own
    device = select_device(config.device)
    if config.deterministic:
        set_deterministic(True)
    model = _model(config.network, config.checkpoint).to(device)
    if config.compile:
        for module in (model.encoder_q, model.encoder_m, model.keyval_r4, model.decoder):
            module.compile()
    height, width = internal_size(config.height, config.width, effective_max_size(model, config.max_size))
    clip = SyntheticClip(height, width, config.objects, config.frames, config.seed)
    bank = FeatureBank(
        model.config.memory_classes(config.objects),
        BankConfig(budget=config.budget, chunk_elements=config.chunk_elements),
    )
    options = ReadOptions(reader=config.reader, chunk_elements=config.chunk_elements)
    timer = StageTimer(device)
    reset_device_peak(device)
    frame_times: list[dict[str, float]] = []
    samples: list[dict[str, Any]] = []
    started = time.perf_counter()
    every = effective_memory_every(model, config.memory_every)
    steps = run_reference_loop(model, clip, clip.first_mask, bank, options, config.precision, timer, memory_every=every)
    for step in steps:
        frame_times.append(timer.take())
        if config.sample_every and step.index % config.sample_every == 0:
            samples.append({"frame": step.index, "bank_sizes": step.bank_sizes, "rss_bytes": current_rss_bytes()})
            if progress:
                progress(f"frame {step.index}: bank {step.bank_sizes}, rss {_mib(current_rss_bytes())}")
    return {
        "benchmark": "model",
        "config": asdict(config),
        "network": model.config.name,
        "internal_size": [width, height],
        "memory_every": every,
        "environment": _environment(device),
        "per_frame_ms": _stage_statistics(frame_times[config.warmup :]),
        "wall_s": time.perf_counter() - started,
        "peak_memory_bytes": {"device": peak_device_bytes(device), "process_rss": peak_rss_bytes()},
        "bank": {"class_budget": bank.class_budget, "final_sizes": bank.sizes, "replaced": bank.replaced},
        "samples": samples,
    }


def run_model_benches(
    configs: Sequence[ModelBenchConfig], progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Each configuration in a fresh process, one after another; the runs and their per-frame time ratios."""
    runs = []
    for config in configs:
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as child:
            runs.append(child.submit(run_model_bench, config, progress).result())
    return {"benchmark": "model", "runs": runs, "comparison": compare_precisions(runs)}


def compare_precisions(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """For every run that is not fp32, its per-frame time and peak memory beside the fp32 run of the same
    objects, size and options: the figures the precision choice is made on."""

    def key(run: dict[str, Any]) -> tuple:
        return tuple(sorted((k, str(v)) for k, v in run["config"].items() if not k.startswith("precision")))

    fp32 = {key(run): run for run in runs if run["config"]["precision"] == "fp32"}
    rows = []
    for run in runs:
        base = fp32.get(key(run))
        if run["config"]["precision"] == "fp32" or base is None:
            continue
        ms, base_ms = run["per_frame_ms"]["total"]["mean"], base["per_frame_ms"]["total"]["mean"]
        rows.append(
            {
                "objects": run["config"]["objects"],
                "precision": run["config"]["precision"],
                "ms_per_frame": ms,
                "fp32_ms_per_frame": base_ms,
                "time_ratio": ms / base_ms,
                "peak_memory_bytes": run["peak_memory_bytes"],
                "fp32_peak_memory_bytes": base["peak_memory_bytes"],
            }
        )
    return rows


def format_reports(reports: dict[str, Any]) -> str:
    """Each run's table, then the side-by-side ratios."""
    lines = [format_report(run) for run in reports["runs"]]
    for row in reports["comparison"]:
        peak, base_peak = row["peak_memory_bytes"]["process_rss"], row["fp32_peak_memory_bytes"]["process_rss"]
        lines.append(
            f"{row['objects']} object(s): {row['precision']} {row['ms_per_frame']:.1f} ms/frame, fp32 "
            f"{row['fp32_ms_per_frame']:.1f} ms/frame: {row['time_ratio']:.2f}x the time; peak RSS "
            f"{_mib(peak)} against {_mib(base_peak)}"
        )
    return "\n\n".join(lines)


def format_report(report: dict[str, Any]) -> str:
    """A table of the per-frame time split and the memory figures."""
    config, times = report["config"], report["per_frame_ms"]
    lines = [
        f"{report['network']} {config['width']}x{config['height']} plate at "
        f"{report['internal_size'][0]}x{report['internal_size'][1]}, {config['objects']} object(s), "
        f"{config['frames']} frames, memory every {report['memory_every']}, "
        f"{report['environment']['device']} {config['precision']}{' compiled' if config['compile'] else ''}, "
        f"reader {config['reader']}",
        f"{'stage':<12} {'mean ms':>10} {'median ms':>10} {'frames':>7}",
    ]
    for stage in (*STAGES, "total"):
        if stage in times:
            row = times[stage]
            lines.append(f"{stage:<12} {row['mean']:>10.1f} {row['median']:>10.1f} {row['frames']:>7}")
    peak = report["peak_memory_bytes"]
    lines.append(f"peak memory: device {_mib(peak['device'])}, process RSS {_mib(peak['process_rss'])}")
    bank = report["bank"]
    lines.append(
        f"bank: sizes {bank['final_sizes']} of {bank['class_budget']:g} per object, evicted {bank['replaced']}"
    )
    for sample in report["samples"]:
        lines.append(f"  frame {sample['frame']:>6}: bank {sample['bank_sizes']}, RSS {_mib(sample['rss_bytes'])}")
    return "\n".join(lines)


def _model(network: str, checkpoint: str | None) -> AFBURR:
    if checkpoint is not None:
        return load_model(checkpoint)
    return load_parity_weights(AFBURR(named_config(network)))


def _stage_statistics(frame_times: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean and median per stage over the frames that ran it, in ms; "total" is the whole frame."""
    by_stage: dict[str, list[float]] = defaultdict(list)
    for times in frame_times:
        for stage, seconds in times.items():
            by_stage[stage].append(seconds * 1e3)
        by_stage["total"].append(sum(times.values()) * 1e3)
    return {
        stage: {"mean": statistics.fmean(values), "median": statistics.median(values), "frames": len(values)}
        for stage, values in by_stage.items()
    }


def _environment(device: torch.device) -> dict[str, Any]:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    return {
        "engine": engine.__version__,
        "torch": torch.__version__,
        "device": str(device),
        "device_name": name,
        "cpu_threads": torch.get_num_threads(),
        "pid": os.getpid(),
        "python": platform.python_version(),
    }


def _mib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / 2**20:.0f} MiB"
