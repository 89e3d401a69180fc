"""`bench soak` on a small scale: two client processes, one killed with SIGKILL mid-run and restarted.

The full soak (4 clients x 500 frames) is a benchmark with figures in docs/reliability.md; this runs the same
code on 2 x 12 frames so that the check itself is known to work: every run's mattes equal its solo run's,
the dead client's session is freed by the client grace, and the server stops cleanly.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

GRACE = 2.0


def soak(tmp_path, engine_env, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "engine", "bench", "soak", "--device", "cpu", *extra]
    command += ["--json-out", str(tmp_path / "soak.json")]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=engine_env)


@pytest.mark.slow
def test_a_killed_client_leaves_the_others_mattes_identical_to_solo_runs(tmp_path, engine_env):
    done = soak(tmp_path, engine_env, "--clients", "2", "--frames", "12", "--kill-after", "4", "--client-grace", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "soak.json").read_text())

    assert report["problems"] == []
    assert [run["results"] for run in report["solo"]] == [12, 12]
    rows = report["soak"]["clients"]
    assert [row["client"] for row in rows] == ["0 (restarted)", "1"]
    assert all(row["identical_to_solo"] and row["results"] == 12 and row["exit_code"] == 0 for row in rows)
    victim = report["soak"]["victim"]
    assert victim["exit_code"] == -9 and 4 <= victim["results_before_kill"] < 12
    assert GRACE - 1 < report["victim_session_freed_after_s"] < GRACE + 15
    assert set(report["server_rss_mib"]) == {"solo", "soak", "after"}
    assert all(sample["rss_mib"] > 0 for sample in report["server_rss_samples"])
    assert report["server_exit_code"] == 0
    assert "identical to solo" in done.stdout and "passed" in done.stdout


def test_impossible_soaks_are_refused_before_anything_starts(tmp_path, engine_env):
    for extra, said in (
        (["--frames", "6", "--kill-after", "6"], "--kill-after must be below --frames (6)"),
        (["--clients", "1"], "'1' is below 2"),
        (["--frames", "2"], "'2' is below 3"),
        (["--size", "8x8"], "size must be at least 16x16"),
    ):
        done = soak(tmp_path, engine_env, *extra)
        assert done.returncode == 2, extra
        assert said in done.stderr, done.stderr
        assert not (tmp_path / "soak.json").exists()
