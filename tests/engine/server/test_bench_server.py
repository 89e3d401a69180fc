"""`bench server` on a tiny clip: it runs every mode and writes the report (timings are not judged here)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_bench_server_writes_in_process_and_socket_figures(tmp_path, engine_env):
    out = tmp_path / "bench.json"
    command = [sys.executable, "-m", "engine", "bench", "server", "--size", "64x48", "--frames", "4"]
    command += ["--clients", "1,2", "--device", "cpu", "--json-out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=engine_env)
    assert done.returncode == 0, done.stderr

    report = json.loads(out.read_text())
    assert report["benchmark"] == "server"
    assert report["in_process"]["results"] == 4
    assert [(run["source"], run["clients"]) for run in report["runs"]] == [
        ("stream", 1),
        ("stream", 2),
        ("files", 1),
        ("files", 2),
    ]
    for run in [report["in_process"], *report["runs"]]:
        assert set(run) >= {"results", "wall_s", "frames_per_s", "latency_ms"}
        assert set(run["latency_ms"]) == {"mean", "median", "p95"}
    assert [run["results"] for run in report["runs"]] == [4, 8, 4, 8]
    assert "frames/s" in done.stdout
