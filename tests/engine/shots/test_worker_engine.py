"""A farm worker's shared engine: started once, used by `batch --engine` tasks, stopped; and what it refuses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.shots.worker_engine import INFO, read_worker_engine
from protocol.client import EngineClient
from protocol.errors import ProtocolError
from tests.engine.shots.test_batch import batch, files, job_text

FRAMES = 6


def maskprop(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "engine", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def shots(tmp_path_factory, write_small_shot) -> dict[str, Path]:
    folders = {}
    for seed, name in enumerate(("sh010", "sh020")):
        folders[name] = tmp_path_factory.mktemp(name)
        write_small_shot(folders[name], FRAMES, seed=seed)
    return folders


@pytest.fixture(scope="module")
def engine_dir(tmp_path_factory, shots, parity_checkpoint, one_thread_env) -> Iterator[Path]:
    """An engine started for the job of `shots`, stopped after the module's tests."""
    job = tmp_path_factory.mktemp("start") / "job.toml"
    job.write_text(job_text(parity_checkpoint, shots))
    folder = tmp_path_factory.mktemp("session") / "engine"
    started = maskprop("farm-engine", "start", str(folder), str(job), env=one_thread_env)
    assert started.returncode == 0, started.stderr
    assert "engine serving on tcp://127.0.0.1:" in started.stdout
    yield folder
    if (folder / INFO).exists():
        maskprop("farm-engine", "stop", str(folder), env=one_thread_env)


def write_job(folder: Path, checkpoint: Path, shots: dict[str, Path], extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    job = folder / "job.toml"
    job.write_text(job_text(checkpoint, shots).replace("max_size = 0\n", f"max_size = 0\n{extra}"))
    return job


def test_shots_sent_to_the_engine_are_written_as_a_local_run_writes_them(
    tmp_path, engine_dir, shots, parity_checkpoint, one_thread_env
):
    remote = write_job(tmp_path / "remote", parity_checkpoint, shots)
    done = batch(str(remote), "--engine", str(engine_dir), env=one_thread_env)
    assert done.returncode == 0, done.stderr
    assert "no model to load" in done.stdout and "loading the model" not in done.stdout
    local = write_job(tmp_path / "local", parity_checkpoint, shots)
    assert batch(str(local), env=one_thread_env).returncode == 0
    for name in shots:
        sent, here = files(remote.parent / "out" / name), files(local.parent / "out" / name)
        outputs = [path for path in here if path.startswith(("labels/", "mattes/")) or path == "confidence.csv"]
        assert len(outputs) == FRAMES + 2 * FRAMES + 1  # labels, two objects' mattes, the table
        assert {path: sent[path] for path in outputs} == {path: here[path] for path in outputs}
        record = json.loads(sent["run.json"])
        assert record["computed_by"] == read_worker_engine(engine_dir).endpoint
        assert record["frames"] == FRAMES and record["checkpoint"] == parity_checkpoint.name
    rerun = batch(str(remote), "--engine", str(engine_dir), env=one_thread_env)
    assert rerun.returncode == 0 and "already finished, skipped" in rerun.stdout


def test_a_task_with_the_engine_never_loads_torch(tmp_path, engine_dir, shots, parity_checkpoint, one_thread_env):
    job = write_job(tmp_path, parity_checkpoint, {"sh010": shots["sh010"]})
    script = (
        "import sys; from engine.cli import main; "
        f"code = main(['batch', {str(job)!r}, '--engine', {str(engine_dir)!r}, '-q']); "
        "print('torch' in sys.modules, code)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=one_thread_env)
    assert done.stdout.splitlines()[-1] == "False 0", done.stderr


def test_the_engine_answers_only_its_own_key(engine_dir):
    engine = read_worker_engine(engine_dir)
    with EngineClient(engine.endpoint, timeout=1.0) as stranger, pytest.raises(ProtocolError):
        stranger.hello()
    with EngineClient(engine.endpoint, curve=engine.keys(), timeout=30.0) as task:
        assert task.hello().model.name == "afb-urr-r50"


def test_a_job_for_another_network_is_refused(tmp_path, engine_dir, shots, one_thread_env):
    other = tmp_path / "other.pth"
    other.write_bytes(b"not the engine's network")
    job = write_job(tmp_path, other, shots)
    done = batch(str(job), "--engine", str(engine_dir), env=one_thread_env)
    assert done.returncode == 2
    assert f"runs {read_worker_engine(engine_dir).checkpoint}, and the job asks for {other}" in done.stderr
    assert not list((tmp_path / "out").rglob("*.png"))


def test_a_shot_in_another_precision_is_refused(tmp_path, engine_dir, shots, parity_checkpoint, one_thread_env):
    job = write_job(tmp_path, parity_checkpoint, shots, extra='precision = "fp32"\n')
    done = batch(str(job), "--engine", str(engine_dir), env=one_thread_env)
    assert done.returncode == 2
    assert "shot 'sh010' asks for precision fp32, and the engine in" in done.stderr


def test_shots_in_different_precisions_cannot_share_an_engine(tmp_path, shots, parity_checkpoint, one_thread_env):
    job = write_job(tmp_path, parity_checkpoint, shots)
    job.write_text(job.read_text().replace('out = "out/sh020"', 'out = "out/sh020"\nprecision = "fp32"'))
    done = maskprop("farm-engine", "start", str(tmp_path / "engine"), str(job), env=one_thread_env)
    assert done.returncode == 2
    assert "the shots ask for different precisions (auto, fp32)" in done.stderr
    assert not (tmp_path / "engine" / INFO).exists()


@pytest.mark.parametrize("record", [None, "{not json", '{"endpoint": "tcp://127.0.0.1:1"}'])
def test_a_missing_or_damaged_engine_record_is_a_clear_error(
    tmp_path, shots, parity_checkpoint, one_thread_env, record
):
    folder = tmp_path / "engine"
    if record is not None:
        folder.mkdir()
        (folder / INFO).write_text(record)
    job = write_job(tmp_path, parity_checkpoint, shots)
    done = batch(str(job), "--engine", str(folder), env=one_thread_env)
    assert done.returncode == 2
    expected = "no engine was started in" if record is None else "is not an engine record"
    assert expected in done.stderr and "Traceback" not in done.stderr


def test_stopping_an_engine_that_has_gone_says_so(tmp_path, one_thread_env):
    folder = tmp_path / "engine"
    folder.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    record = {"folder": str(folder), "endpoint": "tcp://127.0.0.1:1", "pid": int(dead.stdout)}
    record |= {"checkpoint": "x.pth", "device": "cpu", "precision": "fp32", "strict_precision": False}
    (folder / INFO).write_text(json.dumps(record))
    done = maskprop("farm-engine", "stop", str(folder), env=one_thread_env)
    assert done.returncode == 0 and "had already stopped" in done.stdout
    assert not (folder / INFO).exists()
    assert maskprop("farm-engine", "stop", str(folder), env=one_thread_env).returncode == 2


def test_starting_twice_in_one_folder_is_refused(engine_dir, shots, tmp_path, parity_checkpoint, one_thread_env):
    job = write_job(tmp_path, parity_checkpoint, shots)
    done = maskprop("farm-engine", "start", str(engine_dir), str(job), env=one_thread_env)
    assert done.returncode == 2 and "already holds an engine" in done.stderr


def test_stop_ends_the_engine_process(tmp_path, shots, parity_checkpoint, one_thread_env):
    job = write_job(tmp_path, parity_checkpoint, shots)
    folder = tmp_path / "engine"
    assert maskprop("farm-engine", "start", str(folder), str(job), env=one_thread_env).returncode == 0
    pid = read_worker_engine(folder).pid
    done = maskprop("farm-engine", "stop", str(folder), env=one_thread_env)
    assert done.returncode == 0 and "stopped" in done.stdout
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:3]
    assert "engine.server stopped" in (folder / "engine.log").read_text()


@pytest.mark.slow  # the task waits 10 s for an answer
def test_an_engine_that_died_is_a_transient_failure(tmp_path, shots, parity_checkpoint, one_thread_env):
    job = write_job(tmp_path, parity_checkpoint, shots)
    folder = tmp_path / "engine"
    assert maskprop("farm-engine", "start", str(folder), str(job), env=one_thread_env).returncode == 0
    os.kill(read_worker_engine(folder).pid, signal.SIGKILL)
    done = batch(str(job), "--engine", str(folder), env=one_thread_env)
    assert done.returncode == 75, done.stderr
    assert f"the engine in {folder} does not answer" in done.stderr and "Traceback" not in done.stderr
    assert maskprop("farm-engine", "stop", str(folder), env=one_thread_env).returncode == 0
