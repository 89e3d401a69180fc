"""`kill -9` of a `propagate` at random points, then a rerun: the outputs are byte-identical to an uninterrupted
run, and no killed run's folder ever claims to be finished.

`MASKPROP_CRASH_POINTS` sets how many kills (3 by default in CI; docs/reliability.md reports 20).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.engine.shots.test_batch import results

FRAMES = 12
KILLS = int(os.environ.get("MASKPROP_CRASH_POINTS", "3"))


def command(shot: Path, out: Path, checkpoint: Path) -> list[str]:
    return [
        sys.executable, "-m", "engine", "-q", "propagate", "--frames", str(shot / "frames"), "--mask",
        str(shot / "mask.png"), "--out", str(out), "--checkpoint", str(checkpoint), "--max-size", "0",
        "--device", "cpu", "--precision", "fp32", "--overwrite",
    ]  # fmt: skip


@pytest.mark.slow
def test_propagate_killed_anywhere_then_rerun_gives_the_same_bytes(
    tmp_path, write_small_shot, parity_checkpoint, one_thread_env
):
    write_small_shot(tmp_path / "shot", FRAMES)
    reference = tmp_path / "reference"
    started = time.monotonic()
    subprocess.run(command(tmp_path / "shot", reference, parity_checkpoint), env=one_thread_env, check=True)
    whole_run = time.monotonic() - started
    expected = results(reference)
    rng = random.Random(20261206)
    out = tmp_path / "out"
    for kill in range(KILLS):
        process = subprocess.Popen(command(tmp_path / "shot", out, parity_checkpoint), env=one_thread_env)
        time.sleep(rng.uniform(0.0, whole_run))
        process.kill()
        process.wait()
        manifest = out / "manifest.json"
        if manifest.exists() and json.loads(manifest.read_text())["complete"]:  # it says finished: it must be
            assert results(out) == expected, f"kill {kill} left a folder that claims to be finished but is not"
        subprocess.run(command(tmp_path / "shot", out, parity_checkpoint), env=one_thread_env, check=True)
        assert results(out) == expected, f"kill {kill} at some point of the run"
        shutil.rmtree(out)


@pytest.mark.parametrize("overwrite", [True, False])
def test_a_rerun_removes_the_temporary_files_of_a_run_killed_while_writing(
    tmp_path, write_small_shot, parity_checkpoint, one_thread_env, overwrite
):
    """A kill during the manifest's write, or the folder's probe, before any frame: hidden files at the top."""
    write_small_shot(tmp_path / "shot", 3)
    reference, out = tmp_path / "reference", tmp_path / "out"
    subprocess.run(command(tmp_path / "shot", reference, parity_checkpoint), env=one_thread_env, check=True)
    out.mkdir()
    for leftover in (".manifest.0badf00d.tmp.json", ".probe.12345678.tmp", ".run.abcdef01.tmp.json"):
        (out / leftover).write_text("half a file")
    rerun = command(tmp_path / "shot", out, parity_checkpoint)
    if overwrite:
        (out / "labels").mkdir()  # the killed run got as far as its folders: the rerun replaces them
    else:
        rerun.remove("--overwrite")  # nothing but hidden leftovers: a folder still free to write into

    subprocess.run(rerun, env=one_thread_env, check=True)
    assert results(out) == results(reference)
