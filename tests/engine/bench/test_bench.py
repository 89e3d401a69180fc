"""`bench model` runs end to end on a tiny configuration and writes the JSON it promises (no timing checks)."""

from __future__ import annotations

import argparse
import json
import logging

import pytest
import torch

import engine.bench.model_bench as model_bench
from engine.bench.synthetic import SyntheticClip
from engine.commands import bench
from engine.compute.precision import cpu_bf16_units, cpu_flags, resolve_precision
from engine.errors import OutOfMemory
from engine.model.afburr import AFBURR
from engine.model.config import named_config
from engine.model.weights import save_weights
from engine.propagation.reference_loop import STAGES


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    bench.configure(parser)
    return bench.run(parser.parse_args(argv))


def test_clip_benchmark_writes_the_time_split_and_memory(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert _run(["model", "--size", "64x48", "--objects", "2", "--frames", "5", "--json-out", str(out)]) == 0
    runs = json.loads(out.read_text())["runs"]  # fp32, then auto's choice when it is not fp32 too (bf16 units)
    auto = resolve_precision("auto", torch.device("cpu"))
    assert [run["config"]["precision"] for run in runs] == list(dict.fromkeys(("fp32", auto.precision)))
    report = runs[0]
    assert report["config"]["objects"] == 2 and report["config"]["width"] == 64
    assert set(report["per_frame_ms"]) == {*STAGES, "total"}
    assert all(row["mean"] >= 0 and row["frames"] >= 1 for row in report["per_frame_ms"].values())
    assert report["peak_memory_bytes"]["process_rss"] > 0
    assert len(report["bank"]["final_sizes"]) == 3
    assert "decode" in capsys.readouterr().out


@pytest.mark.slow
def test_object_counts_and_precisions_run_side_by_side_each_in_its_own_process(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="engine")
    out = tmp_path / "bench.json"
    argv = ["model", "--size", "48x32", "--objects", "1,2", "--frames", "4", "--precision", "fp32,auto"]
    assert _run([*argv, "--json-out", str(out)]) == 0
    runs = json.loads(out.read_text())["runs"]
    auto = resolve_precision("auto", torch.device("cpu"))
    assert [(r["config"]["objects"], r["config"]["precision"]) for r in runs] == [
        (objects, precision) for objects in (1, 2) for precision in dict.fromkeys(("fp32", auto.precision))
    ]
    assert "precision fp32 (as asked)" in caplog.text
    assert len({r["environment"]["pid"] for r in runs}) == len(runs)


def test_a_named_network_or_a_checkpoint_in_its_own_configuration(tmp_path, capsys):
    checkpoint = save_weights(AFBURR(named_config("small")), tmp_path / "small.pth", {"source": "test"})
    runs = {}
    for name, argv in {"tiny": ["--model", "tiny"], "small": ["--checkpoint", str(checkpoint)]}.items():
        out = tmp_path / f"{name}.json"
        small_clip = ["model", "--size", "48x32", "--frames", "3", "--precision", "fp32"]
        assert _run([*small_clip, *argv, "--json-out", str(out)]) == 0
        [runs[name]] = json.loads(out.read_text())["runs"]
    assert {name: run["network"] for name, run in runs.items()} == {"tiny": "tiny", "small": "small"}
    assert "tiny 48x32" in capsys.readouterr().out


def test_precisions_are_compared_with_fp32_of_the_same_objects():
    def run(objects, precision, ms, rss):
        config = {"objects": objects, "width": 64, "precision": precision, "precision_reason": precision}
        return {"config": config, "per_frame_ms": {"total": {"mean": ms}}, "peak_memory_bytes": {"process_rss": rss}}

    runs = [run(1, "fp32", 400.0, 10), run(1, "bf16", 100.0, 8), run(3, "fp32", 800.0, 20), run(3, "bf16", 160.0, 12)]
    rows = model_bench.compare_precisions(runs)
    assert [(r["objects"], r["time_ratio"]) for r in rows] == [(1, 0.25), (3, 0.2)]
    assert (
        rows[1]["fp32_peak_memory_bytes"] == {"process_rss": 20} and rows[1]["peak_memory_bytes"]["process_rss"] == 12
    )


def test_long_run_samples_bank_and_memory_and_stays_within_budget(tmp_path):
    out = tmp_path / "long.json"
    argv = ["model", "--long-run", "--size", "64x48", "--frames", "31", "--sample-every", "10"]
    assert _run([*argv, "--budget", "40", "--json-out", str(out)]) == 0
    report = json.loads(out.read_text())["runs"][0]
    assert [s["frame"] for s in report["samples"]] == [10, 20, 30]
    budget = report["bank"]["class_budget"]
    assert all(max(s["bank_sizes"]) <= budget for s in report["samples"])
    assert all(s["rss_bytes"] is None or s["rss_bytes"] > 0 for s in report["samples"])
    assert sum(report["bank"]["replaced"]) > 0


@pytest.mark.parametrize(
    "argv",
    [
        ["--precision", "fp16", "--device", "cpu"],
        *([["--precision", "bf16", "--strict-precision"]] if cpu_bf16_units(cpu_flags()) is None else []),
        ["--checkpoint", "/nonexistent/afb-urr.pth"],
    ],
)
def test_what_the_machine_cannot_do_is_a_usage_error(argv, tmp_path, capsys):
    assert _run(["model", "--size", "32x32", "--frames", "3", *argv, "--json-out", str(tmp_path / "b.json")]) == 2
    assert "bench model:" in capsys.readouterr().err
    assert not (tmp_path / "b.json").exists()


def test_running_out_of_memory_exits_with_33(monkeypatch, tmp_path, capsys):
    def exhausted(*args, **kwargs):
        raise OutOfMemory("out of device memory during read")

    monkeypatch.setattr(model_bench, "run_model_benches", exhausted)
    assert _run(["model", "--json-out", str(tmp_path / "b.json")]) == 33
    assert "out of device memory" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--size", "big"], ["--objects", "0"], ["--precision", "fp32,fp8"]])
def test_bad_arguments_are_usage_errors(argv):
    with pytest.raises(SystemExit):
        _run(["model", *argv])


def test_synthetic_clip_is_deterministic_and_lazily_drawn():
    clip = SyntheticClip(48, 64, objects=2, length=1000)
    assert len(clip) == 1000 and clip[7].shape == (3, 48, 64)
    assert (clip[7] == SyntheticClip(48, 64, objects=2, length=1000)[7]).all()
    assert (clip.first_mask.sum(dim=0) == 1).all() and clip.first_mask.shape == (3, 48, 64)
