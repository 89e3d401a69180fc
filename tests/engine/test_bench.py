"""`bench model` runs end to end on a tiny configuration and writes the JSON it promises (no timing checks)."""

from __future__ import annotations

import argparse
import json

import pytest

import engine.bench.model_bench as model_bench
from engine.bench.synthetic import SyntheticClip
from engine.commands import bench
from engine.errors import OutOfMemory
from engine.model.reference_loop import STAGES


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    bench.configure(parser)
    return bench.run(parser.parse_args(argv))


def test_clip_benchmark_writes_the_time_split_and_memory(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert _run(["model", "--size", "64x48", "--objects", "2", "--frames", "5", "--json-out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["config"]["objects"] == 2 and report["config"]["width"] == 64
    assert set(report["per_frame_ms"]) == {*STAGES, "total"}
    assert all(row["mean"] >= 0 and row["frames"] >= 1 for row in report["per_frame_ms"].values())
    assert report["peak_memory_bytes"]["process_rss"] > 0
    assert len(report["bank"]["final_sizes"]) == 3
    assert "decode" in capsys.readouterr().out


def test_long_run_samples_bank_and_memory_and_stays_within_budget(tmp_path):
    out = tmp_path / "long.json"
    argv = ["model", "--long-run", "--size", "64x48", "--frames", "31", "--sample-every", "10"]
    assert _run([*argv, "--budget", "40", "--json-out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert [s["frame"] for s in report["samples"]] == [10, 20, 30]
    budget = report["bank"]["class_budget"]
    assert all(max(s["bank_sizes"]) <= budget for s in report["samples"])
    assert all(s["rss_bytes"] is None or s["rss_bytes"] > 0 for s in report["samples"])
    assert sum(report["bank"]["replaced"]) > 0


@pytest.mark.parametrize(
    "argv",
    [["--precision", "bf16", "--device", "cpu"], ["--checkpoint", "/nonexistent/afb-urr.pth"]],
)
def test_what_the_machine_cannot_do_is_a_usage_error(argv, tmp_path, capsys):
    assert _run(["model", "--size", "32x32", "--frames", "3", *argv, "--json-out", str(tmp_path / "b.json")]) == 2
    assert "bench model:" in capsys.readouterr().err
    assert not (tmp_path / "b.json").exists()


def test_running_out_of_memory_exits_with_33(monkeypatch, tmp_path, capsys):
    def exhausted(*args, **kwargs):
        raise OutOfMemory("out of device memory during read")

    monkeypatch.setattr(model_bench, "run_model_bench", exhausted)
    assert _run(["model", "--json-out", str(tmp_path / "b.json")]) == 33
    assert "out of device memory" in capsys.readouterr().err


def test_bad_size_is_a_usage_error():
    with pytest.raises(SystemExit):
        _run(["model", "--size", "big"])


def test_synthetic_clip_is_deterministic_and_lazily_drawn():
    clip = SyntheticClip(48, 64, objects=2, length=1000)
    assert len(clip) == 1000 and clip[7].shape == (3, 48, 64)
    assert (clip[7] == SyntheticClip(48, 64, objects=2, length=1000)[7]).all()
    assert (clip.first_mask.sum(dim=0) == 1).all() and clip.first_mask.shape == (3, 48, 64)
