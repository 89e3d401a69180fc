"""`maskprop batch` as a farm runs it: kills, cancels and reruns, progress lines, bad job files, exit codes."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from engine.choices import VIEW_DEFAULTS
from engine.cli import main
from engine.errors import OutOfMemory
from engine.exit_codes import run_reporting_errors
from engine.io import InputError
from engine.propagation.settings import DEFAULTS
from engine.shots.job_file import OPTIONS, read_job
from engine.shots.stop_request import StopRequest
from tests.paths import FIXTURES

FRAMES = 16  # of 96x128: about 0.1 s each on one CPU thread, time enough to stop a run half-way


def job_text(checkpoint: Path, shots: dict[str, Path]) -> str:
    text = f'[defaults]\ncheckpoint = "{checkpoint.as_posix()}"\nmax_size = 0\n'
    for name, folder in shots.items():
        frames, mask = (folder / "frames").as_posix(), (folder / "mask.png").as_posix()
        text += f'\n[[shot]]\nname = "{name}"\nframes = "{frames}"\nmask = "{mask}"\nout = "out/{name}"\n'
    return text


def batch(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "engine", "batch", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


def start_batch(job: Path, env: dict[str, str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "engine", "batch", str(job)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def labels(out: Path) -> list[Path]:
    folder = out / "labels"
    return sorted(p for p in folder.glob("*.png") if not p.name.startswith(".")) if folder.is_dir() else []


def wait_for_labels(out: Path, count: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while len(labels(out)) < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the batch never wrote its first frames"
        time.sleep(0.005)


def files(folder: Path) -> dict[str, bytes]:
    """Every file under `folder`, hidden ones included, by relative path."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def results(folder: Path) -> dict[str, object]:
    """`files(folder)` less what records a run's duration: `run.json` without its seconds, and the manifest that
    holds run.json's checksum. What two runs of a shot must agree on to the byte."""
    found: dict[str, object] = {k: v for k, v in files(folder).items() if k not in ("run.json", "manifest.json")}
    found["run.json"] = {k: v for k, v in json.loads((folder / "run.json").read_text()).items() if k != "seconds"}
    return found


@pytest.fixture(scope="module")
def plate(tmp_path_factory, write_small_shot) -> Path:
    folder = tmp_path_factory.mktemp("plate")
    write_small_shot(folder, FRAMES, size=(96, 128))
    return folder


@pytest.fixture(scope="module")
def reference(tmp_path_factory, plate, parity_checkpoint, one_thread_env) -> Path:
    """The job file of an uninterrupted run, after that run."""
    job = tmp_path_factory.mktemp("reference") / "job.toml"
    job.write_text(job_text(parity_checkpoint, {"sh010": plate}))
    done = batch(str(job), env=one_thread_env)
    assert done.returncode == 0, done.stderr
    return job


@pytest.fixture
def job(tmp_path, plate, parity_checkpoint) -> Path:
    """The reference's job, writing into this test's own folder."""
    path = tmp_path / "job.toml"
    path.write_text(job_text(parity_checkpoint, {"sh010": plate}))
    return path


def shot_out(job: Path) -> Path:
    return job.parent / "out" / "sh010"


@pytest.mark.slow
def test_a_job_killed_with_sigkill_resumes_to_the_same_bytes(job, reference, one_thread_env):
    process = start_batch(job, one_thread_env)
    wait_for_labels(shot_out(job), 3, process)
    process.kill()
    process.communicate()
    finished = labels(shot_out(job))
    assert 3 <= len(finished) < FRAMES
    assert not (shot_out(job) / "confidence.json").exists()
    written = {p: p.stat().st_mtime_ns for p in finished}
    (shot_out(job) / "labels" / ".00015.0badf00d.tmp.png").write_bytes(b"half a frame")  # as a kill mid-write leaves

    done = batch(str(job), env=one_thread_env)

    assert done.returncode == 0, done.stderr
    assert results(shot_out(job)) == results(shot_out(reference))  # byte-identical, no temporary files left
    assert {p: p.stat().st_mtime_ns for p in finished} == written  # finished frames were not rewritten


@pytest.mark.slow
def test_sigterm_finishes_the_current_frame_then_exits_143(job, reference, one_thread_env):
    process = start_batch(job, one_thread_env)
    wait_for_labels(shot_out(job), 3, process)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)

    assert process.returncode == 143, stderr
    assert stdout.splitlines()[-1] == "openjd_status: cancelled"
    finished = files(shot_out(job))
    assert len(labels(shot_out(job))) < FRAMES
    assert not any(Path(name).name.startswith(".") for name in finished)
    expected = files(shot_out(reference))
    assert json.loads(finished.pop("manifest.json"))["complete"] is False  # the folder says it is not finished
    for name, data in finished.items():  # every frame on disk is complete and final
        assert data == expected[name], name
    frames_on_disk = {Path(name).name for name in finished if name.startswith("labels/")}
    assert {Path(name).name for name in finished if name.startswith("mattes/")} == frames_on_disk

    assert batch(str(job), env=one_thread_env).returncode == 0
    assert results(shot_out(job)) == results(shot_out(reference))


def _zero_a_label_map(out: Path) -> str:
    (out / "labels" / "00002.png").write_bytes(b"")
    return "00002.png has 0 bytes"


def _truncate_a_matte(out: Path) -> str:
    matte = next((out / "mattes").rglob("00004.png"))
    matte.write_bytes(matte.read_bytes()[:100])
    return "00004.png has 100 bytes"


def _delete_the_table(out: Path) -> str:
    (out / "confidence.csv").unlink()
    return "confidence.csv is missing"


def _change_a_byte(out: Path) -> str:
    label = out / "labels" / "00001.png"
    data = bytearray(label.read_bytes())
    data[-20] ^= 1
    label.write_bytes(bytes(data))
    return "00001.png is not the file the finished run wrote"


@pytest.mark.slow
@pytest.mark.parametrize("damage", [_zero_a_label_map, _truncate_a_matte, _delete_the_table, _change_a_byte])
def test_a_finished_shot_whose_outputs_were_damaged_is_propagated_again(job, reference, one_thread_env, damage):
    shutil.copytree(shot_out(reference), shot_out(job))
    reason = damage(shot_out(job))

    done = batch(str(job), env=one_thread_env)

    assert done.returncode == 0, done.stderr
    assert reason in done.stdout and "already finished" not in done.stdout
    assert results(shot_out(job)) == results(shot_out(reference))


@pytest.mark.slow
def test_a_shot_whose_mask_changed_is_propagated_afresh_not_mixed(job, reference, plate, one_thread_env, tmp_path):
    shutil.copytree(shot_out(reference), shot_out(job))
    moved = tmp_path / "mask.png"  # the same shot with another keyframe mask: the old results must all go
    mask = cv2.imread(str(plate / "mask.png"), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(moved), np.roll(mask, 3, axis=1))
    job.write_text(job.read_text().replace((plate / "mask.png").as_posix(), moved.as_posix()))

    done = batch(str(job), env=one_thread_env)

    assert done.returncode == 0, done.stderr
    assert "its masks changed since the results" in done.stdout
    recorded = json.loads((shot_out(job) / "manifest.json").read_text())
    assert (
        recorded["complete"]
        and recorded["identity"]["masks"]
        != json.loads((shot_out(reference) / "manifest.json").read_text())["identity"]["masks"]
    )
    assert files(shot_out(job))["labels/00004.png"] != files(shot_out(reference))["labels/00004.png"]


@pytest.fixture
def restore_signal_handlers() -> Iterator[None]:
    """Leave pytest's own SIGTERM and SIGINT handlers as they were."""
    saved = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}
    yield
    for number, handler in saved.items():
        signal.signal(number, handler)


@pytest.mark.parametrize(("signal_number", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
@pytest.mark.usefixtures("restore_signal_handlers")
def test_the_first_signal_asks_to_stop_and_leaves_a_second_to_the_default_action(signal_number, code):
    stop = StopRequest()
    stop.install()
    assert not stop()
    os.kill(os.getpid(), signal_number)
    assert stop() and stop.exit_code == code
    assert signal.getsignal(signal_number) == signal.SIG_DFL


@pytest.fixture
def in_process(restore_signal_handlers) -> Iterator[Callable[..., int]]:
    """`maskprop batch ARGS` in this process (no interpreter and torch to start), on one thread as `one_thread_env`."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield lambda *args: main(["batch", *map(str, args)])
    torch.set_num_threads(threads)


def test_rerunning_a_finished_job_skips_it_without_loading_the_model(reference, in_process, capsys):
    assert in_process(reference) == 0
    stdout = capsys.readouterr().out
    assert "openjd_status: shot sh010 already finished, skipped" in stdout
    assert "openjd_progress: 100.0" in stdout
    assert "loading the model" not in stdout


@pytest.fixture
def two_shots(tmp_path, write_small_shot, parity_checkpoint) -> Path:
    for seed, name in enumerate(("a", "b")):
        write_small_shot(tmp_path / name, 3, seed=seed)
    path = tmp_path / "job.toml"
    path.write_text(job_text(parity_checkpoint, {"a": tmp_path / "a", "b": tmp_path / "b"}))
    return path


def test_progress_covers_the_whole_job_and_the_model_loads_once(two_shots, in_process, capsys):
    assert in_process(two_shots) == 0
    lines = capsys.readouterr().out.splitlines()
    progress = [float(line.split(": ")[1]) for line in lines if line.startswith("openjd_progress: ")]
    assert progress == pytest.approx([100 * n / 6 for n in range(1, 7)], abs=0.05)
    assert [line for line in lines if " frame " in line] == [
        *(f"openjd_status: shot a frame {n}/3" for n in (1, 2, 3)),
        *(f"openjd_status: shot b frame {n}/3" for n in (1, 2, 3)),
    ]
    assert lines.count("openjd_status: loading the model") == 1
    assert lines[-1] == "openjd_status: done"


def test_shot_runs_only_the_named_shots(two_shots, in_process, capsys):
    assert in_process(two_shots, "--shot", "b") == 0
    assert "openjd_status: 1 of 1 shots to propagate" in capsys.readouterr().out
    assert (two_shots.parent / "out" / "b" / "confidence.json").is_file()
    assert not (two_shots.parent / "out" / "a").exists()


def test_check_reads_everything_and_propagates_nothing(two_shots, in_process, capsys):
    assert in_process(two_shots, "--check") == 0
    assert capsys.readouterr().out.splitlines() == ["a: 3 frames, to propagate", "b: 3 frames, to propagate"]
    assert labels(two_shots.parent / "out" / "a") == []


def test_every_shot_is_checked_before_the_first_one_runs(two_shots, in_process, capsys):
    (two_shots.parent / "b" / "mask.png").unlink()
    assert in_process(two_shots) == 2
    assert "shot 'b': mask" in capsys.readouterr().err
    assert labels(two_shots.parent / "out" / "a") == []


GOOD = """\
[defaults]
max_size = 0

[[shot]]
name = "a"
frames = "a/frames"
mask = "a/mask.png"
out = "out/a"
"""
BAD_JOBS = [
    pytest.param("sots = 1\n" + GOOD, "unknown key 'sots' in the job file", id="unknown-top-level-key"),
    pytest.param(GOOD.replace("max_size", "max_sise"), "unknown key 'max_sise' in [defaults]", id="unknown-default"),
    pytest.param(GOOD + "mask_frames = 2\n", "unknown key 'mask_frames' in shot 'a'", id="unknown-shot-key"),
    pytest.param(GOOD + 'device = "cpu"\n', "'device' in shot 'a' is a setting of the whole job", id="process-key"),
    pytest.param(GOOD.replace('frames = "a/frames"\n', ""), "shot 'a' has no 'frames'", id="no-frames"),
    pytest.param(GOOD.replace('name = "a"\n', ""), "shot #1 has no 'name'", id="no-name"),
    pytest.param(GOOD.replace('"a"', '"a b"'), "must be a name without spaces or commas", id="bad-name"),
    pytest.param(GOOD + 'budget = "big"\n', "'budget' in shot 'a' must be a whole number above 0", id="wrong-type"),
    pytest.param(GOOD.replace("= 0", "= true"), "'max_size' in [defaults] must be a whole number", id="bool-for-int"),
    pytest.param(GOOD + 'direction = "up"\n', "must be one of forward, backward, both", id="bad-choice"),
    pytest.param(GOOD + "update_rate = 2\n", "must be a number from 0 to 1", id="out-of-range"),
    pytest.param(GOOD + "memory_every = 0\n", "'memory_every' in shot 'a' must be a whole number", id="zero"),
    pytest.param(GOOD + "adapt = -1\n", "'adapt' in shot 'a' must be a whole number, 0 or more", id="adapt"),
    pytest.param(GOOD + 'masks = { 0 = "m.png" }\n', "needs either 'masks'", id="mask-and-masks"),
    pytest.param(
        GOOD.replace('mask = "a/mask.png"', 'masks = { first = "a/mask.png" }'),
        "'first' in 'masks' of shot 'a' is not a frame index",
        id="masks-key",
    ),
    pytest.param("[defaults]\nmax_size = 0\n", "the job file has no 'shot'", id="no-shots"),
    pytest.param(GOOD.replace("[[shot]]", "[shot]"), "must be one or more [[shot]] tables", id="single-table"),
    pytest.param(GOOD + GOOD.split("\n\n")[1], "two shots are named 'a'", id="same-name"),
    pytest.param(
        GOOD + GOOD.split("\n\n")[1].replace('"a"', '"b"'),
        "shots 'a' and 'b' write to the same folder",
        id="same-out",
    ),
    pytest.param(GOOD + "[[shot\n", "is not valid TOML", id="not-toml"),
    pytest.param(GOOD.replace("max_size = 0", 'precision = "fp8"'), "precision", id="precision"),
    pytest.param(GOOD.replace('"a/frames"', '"a/nothing"'), "shot 'a': frames folder", id="missing-frames"),
    pytest.param(GOOD + "exposure = 40\n", "'exposure' in shot 'a' must be a number of stops", id="exposure"),
    pytest.param(GOOD + 'view = ""\n', "'view' in shot 'a' must be a non-empty string", id="empty-view"),
    pytest.param(GOOD + "exr_layer = 3\n", "'exr_layer' in shot 'a' must be a non-empty string", id="exr-layer"),
    pytest.param(GOOD + 'exr_layer = "Denoised"\n', "is not OpenEXR, so it has no layer 'Denoised'", id="no-exr"),
    pytest.param(GOOD + 'view = "AgX"\n', "the view AgX on sRGB needs an OpenColorIO config", id="no-config"),
    pytest.param(
        GOOD.replace("max_size = 0", 'ocio_config = "none.ocio"') + 'view = "AgX"\n',
        "none.ocio does not exist",
        id="missing-config",
    ),
]


@pytest.mark.parametrize(("text", "words"), BAD_JOBS)
def test_a_bad_job_is_one_clear_line_and_exit_code_2(tmp_path, write_small_shot, in_process, capsys, text, words):
    write_small_shot(tmp_path / "a", 2)
    (tmp_path / "job.toml").write_text(text)
    assert in_process(tmp_path / "job.toml") == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: ") and words in errors[0], errors


def test_an_unknown_shot_name_or_job_file_is_exit_code_2(two_shots, in_process, capsys):
    assert in_process(two_shots, "--shot", "a,zz") == 2
    assert "no shot named 'zz'; the job's shots are a, b" in capsys.readouterr().err
    assert in_process(two_shots.with_name("nothing.toml")) == 2
    assert "job file" in capsys.readouterr().err


def test_the_real_process_exits_2_with_one_error_line(tmp_path, engine_env):
    (tmp_path / "job.toml").write_text("shots = 1\n")
    done = batch(str(tmp_path / "job.toml"), env=engine_env)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: {tmp_path / 'job.toml'}: unknown key 'shots' in the job file; known keys: defaults, shot"
    ]


def test_every_propagation_and_view_option_can_be_set_in_a_job_file():
    assert set(OPTIONS) == set(DEFAULTS) | set(VIEW_DEFAULTS)


def test_a_job_names_its_view_and_its_own_config_relative_to_itself(tmp_path):
    config = FIXTURES / "ocio" / "config.ocio"
    shutil.copy(config, tmp_path / "studio.ocio")
    text = GOOD.replace("max_size = 0", 'ocio_config = "studio.ocio"\nview = "Dim"') + 'look = "Double"\n'
    (tmp_path / "job.toml").write_text(text)
    view = read_job(tmp_path / "job.toml", ocio_config="/elsewhere.ocio").shots[0].spec.view
    assert (view.view, view.look, view.config) == ("Dim", "Double", str(tmp_path / "studio.ocio"))
    (tmp_path / "job.toml").write_text(GOOD)
    assert read_job(tmp_path / "job.toml", ocio_config="/elsewhere.ocio").shots[0].spec.view.config == "/elsewhere.ocio"


def os_error(number: int) -> OSError:
    return OSError(number, os.strerror(number))


def from_os_error(number: int) -> InputError:
    error = InputError("frame plate.1001.exr cannot be read")
    error.__cause__ = os_error(number)
    return error


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (from_os_error(errno.EIO), 75),
        (from_os_error(errno.ESTALE), 75),
        (from_os_error(errno.ENOSPC), 75),
        (os_error(errno.ETIMEDOUT), 75),
        (from_os_error(errno.ENOENT), 2),
        (from_os_error(errno.EACCES), 2),
        (InputError("no such shot"), 2),
        (OutOfMemory("out of device memory"), 33),
    ],
)
def test_exit_codes_tell_a_farm_whether_to_retry(error, code, capsys):
    def work() -> int:
        raise error

    assert run_reporting_errors(work) == code
    assert capsys.readouterr().err.startswith("error: ")


def test_other_os_errors_are_bugs_and_keep_their_traceback():
    def work() -> int:
        raise os_error(errno.EBADF)

    with pytest.raises(OSError):
        run_reporting_errors(work)
