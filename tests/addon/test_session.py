"""`PropagationRun`, the work behind the Propagate operator, driven as the modal timer drives it: poll, sleep, poll.

Runs against a real engine subprocess with the parity weights, on a tiny two-object shot; the failures that
need no engine use nothing (nobody listens) or a scripted engine of another protocol version.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import OpenEXR
import pytest

from addon.core.session import (
    Engine,
    FrameFiles,
    FrameStream,
    PropagationRun,
    RunFailed,
    RunProgress,
    RunSettings,
    Shot,
)
from engine.io.view import DisplayView
from engine.server.launch import ServerProcess
from tests.protocol.scripted_engine import ScriptedEngine

FRAMES = 12
NOBODY = "tcp://127.0.0.1:9"  # the discard port: nothing answers there
POLL_BOUND = 0.2  # seconds: one poll() must leave Blender's UI responsive
RUN_TIMEOUT = 120.0


@dataclass(frozen=True)
class Plate:
    """The tiny shot on disk (`folder/frames`) and in memory, with the mask of frame 0."""

    folder: Path
    frames: list[np.ndarray]
    labels: np.ndarray

    def shot(self, frames: FrameFiles | FrameStream | None = None, frame_count: int = FRAMES) -> Shot:
        height, width = self.labels.shape
        source = frames or FrameStream(read=lambda index: self.frames[index])
        return Shot(frame_count, width, height, [(1, "red"), (2, "blue")], source, name="test shot")


@pytest.fixture(scope="module")
def plate(tmp_path_factory, write_small_shot, read_small_shot) -> Plate:
    folder = tmp_path_factory.mktemp("plate")
    write_small_shot(folder, FRAMES)
    return Plate(folder, *read_small_shot(folder))


@pytest.fixture(scope="module")
def engine(start_engine, one_thread_env, plate) -> ServerProcess:
    """One engine for the module, allowed to read the plate's folder."""
    return start_engine("--allow-root", str(plate.folder), env=one_thread_env)


def make_run(address: str, shot: Shot, labels: np.ndarray, sink: list, timeout: float = 20.0) -> PropagationRun:
    """A forward run over the whole shot at native size, from the mask of frame 0."""
    settings = RunSettings(first=0, last=shot.frame_count - 1, direction="forward", max_size=0)
    return PropagationRun(Engine(address, timeout=timeout), shot, {0: labels}, settings, sink.append)


def poll_until_finished(run: PropagationRun, *, cancel_after: int | None = None) -> RunProgress:
    """Poll every 20 ms as the modal timer would, timing each call; optionally cancel once results arrive."""
    end = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < end:
        start = time.monotonic()
        progress = run.poll()
        assert time.monotonic() - start < POLL_BOUND
        if progress.finished:
            return progress
        if cancel_after is not None and progress.done >= cancel_after:
            run.cancel()
            cancel_after = None
        time.sleep(0.02)
    raise AssertionError(f"the run did not finish in {RUN_TIMEOUT} s: {progress}")


def run_to_end(run: PropagationRun, *, cancel_after: int | None = None) -> RunProgress:
    """Start `run`, poll it to its end as the modal timer would, and close it whatever happens."""
    run.start()
    try:
        return poll_until_finished(run, cancel_after=cancel_after)
    finally:
        run.close()


def test_a_streamed_run_delivers_one_result_per_frame(engine, plate):
    results: list = []
    run = make_run(engine.endpoint, plate.shot(), plate.labels, results)
    progress = run_to_end(run)
    assert progress.status == "done", progress.message
    assert (progress.done, progress.total) == (FRAMES, FRAMES)
    assert sorted(result.frame for result in results) == list(range(FRAMES))
    assert {result.mattes.dtype for result in results} == {np.dtype(np.uint16)}
    assert results[-1].mattes.shape == (2, *plate.labels.shape)
    assert not run.is_open


def test_a_run_that_learns_the_shot_first_says_so_then_delivers_every_frame(engine, plate):
    results: list = []
    settings = RunSettings(first=0, last=FRAMES - 1, direction="forward", max_size=0, adapt=20)
    engine_client = Engine(engine.endpoint, timeout=20.0)
    run = PropagationRun(engine_client, plate.shot(), {0: plate.labels}, settings, results.append)
    run.start()
    messages = []
    try:
        end = time.monotonic() + RUN_TIMEOUT
        while not (progress := run.poll()).finished and time.monotonic() < end:
            messages.append(progress.message)
            time.sleep(0.02)
    finally:
        run.close()
    assert progress.status == "done", progress.message
    assert sorted(result.frame for result in results) == list(range(FRAMES))
    learning = [text for text in messages if text.startswith("Learning the shot: step ")]
    assert learning and all(text.endswith(" s left") and " of 20, " in text for text in learning)
    assert messages.index(learning[-1]) < max(i for i, text in enumerate(messages) if text.startswith("Propagating"))


def test_a_run_from_files_the_engine_reads(engine, plate):
    results: list = []
    shot = plate.shot(FrameFiles(str(plate.folder / "frames" / "#####.png")), frame_count=6)
    run = make_run(engine.endpoint, shot, plate.labels, results)
    progress = run_to_end(run)
    assert progress.status == "done", progress.message
    assert [result.frame for result in results] == list(range(6))


def test_no_engine_is_a_clear_message_and_leaves_nothing_open(plate):
    run = make_run(NOBODY, plate.shot(), plate.labels, [], timeout=0.3)
    with pytest.raises(RunFailed) as caught:
        run.start()
    assert caught.value.code == "timeout"
    assert caught.value.message.startswith(f"No engine answers at {NOBODY}: start one with `python -m engine serve`")
    assert not run.is_open
    assert run.poll() == RunProgress(0, 0, "failed", caught.value.message)


def _ticks_until(run: PropagationRun, finished_or: Callable[[RunProgress], bool], limit: float) -> list[RunProgress]:
    """Poll as the modal timer does until `finished_or(progress)` or the run finishes; every call under 50 ms."""
    seen, end = [], time.monotonic() + limit
    while time.monotonic() < end:
        start = time.monotonic()
        progress = run.poll()
        assert time.monotonic() - start < 0.05, "a timer tick waited for the engine"
        seen.append(progress)
        if progress.finished or finished_or(progress):
            return seen
        time.sleep(0.02)
    raise AssertionError(f"nothing happened in {limit} s: {seen[-1]}")


def test_a_slow_engine_never_holds_the_timer_and_the_panel_says_connecting(plate):
    results: list = []
    with ScriptedEngine(hello_delay=5.0) as scripted:
        run = make_run(scripted.endpoint, plate.shot(), plate.labels, results, timeout=10.0)
        started = time.monotonic()
        run.begin()
        assert time.monotonic() - started < 0.05
        seen = _ticks_until(run, lambda progress: progress.status == "running", limit=15.0)
        try:
            final = poll_until_finished(run)
        finally:
            run.close()
    connecting = [p for p in seen if p.status == "connecting"]
    assert len(connecting) > 50  # about 5 s of ticks, each returning at once
    assert connecting[0].message == f"Connecting to the engine at {scripted.endpoint}"
    assert final.status == "done", final.message
    assert len(results) == FRAMES


def test_an_engine_that_never_answers_ends_in_a_clear_error_without_holding_the_timer(plate):
    with ScriptedEngine(silent=True) as scripted:
        run = make_run(scripted.endpoint, plate.shot(), plate.labels, [], timeout=1.0)
        run.begin()
        seen = _ticks_until(run, lambda progress: False, limit=10.0)
    assert seen[0].status == "connecting"
    assert seen[-1].status == "failed"
    assert seen[-1].message.startswith(f"No engine answers at {scripted.endpoint}")
    assert run.failure is not None and run.failure.code == "timeout"
    assert not run.is_open


def test_a_busy_engine_is_asked_again_after_its_retry_after(plate):
    results: list = []
    with ScriptedEngine(busy_answers=2, retry_after=0.4) as scripted:
        run = make_run(scripted.endpoint, plate.shot(), plate.labels, results, timeout=5.0)
        run.begin()
        seen = _ticks_until(run, lambda progress: progress.status == "running", limit=10.0)
        try:
            final = poll_until_finished(run)
        finally:
            run.close()
    waits = {p.message for p in seen if "busy" in p.message}
    assert waits == {"The engine is busy (all session slots are taken); asking again in 0.4 s"}
    assert scripted.types_received().count("open_session") == 3
    assert final.status == "done", final.message


def test_cancel_while_waiting_for_a_busy_engine_stops_at_once_and_leaves_nothing_open(plate):
    with ScriptedEngine(busy_answers=100, retry_after=30.0) as scripted:
        run = make_run(scripted.endpoint, plate.shot(), plate.labels, [], timeout=5.0)
        run.begin()
        _ticks_until(run, lambda progress: "busy" in progress.message, limit=10.0)
        run.cancel()
        seen = _ticks_until(run, lambda progress: False, limit=2.0)
    assert seen[-1].status == "cancelled"
    assert not run.is_open
    assert "propagate" not in scripted.types_received()


def test_closing_while_connecting_returns_at_once(plate):
    with ScriptedEngine(hello_delay=3.0) as scripted:
        run = make_run(scripted.endpoint, plate.shot(), plate.labels, [], timeout=10.0)
        run.begin()
        started = time.monotonic()
        run.close()
        assert time.monotonic() - started < 0.05
        assert run.poll().status == "cancelled"
        time.sleep(3.5)  # the worker finishes the handshake, then closes what it opened instead of handing it over
        assert not run.is_open
        assert "propagate" not in scripted.types_received()


def test_an_engine_of_another_protocol_version_is_refused_cleanly(plate):
    with ScriptedEngine(tag=b"maskprop/2") as scripted:
        run = make_run(scripted.endpoint, plate.shot(), plate.labels, [], timeout=2.0)
        with pytest.raises(RunFailed) as caught:
            run.start()
    assert caught.value.code == "version_mismatch"
    assert "speaks another protocol version" in caught.value.message
    assert not run.is_open


def test_cancel_halfway_stops_cleanly_and_the_engine_takes_the_next_run(engine, plate):
    results: list = []
    run = make_run(engine.endpoint, plate.shot(), plate.labels, results)
    progress = run_to_end(run, cancel_after=1)
    assert progress.status == "cancelled", progress.message
    assert 1 <= len(results) < FRAMES
    assert progress.message == f"Cancelled after {len(results)} frames"
    assert not run.is_open
    run.close()

    again: list = []
    next_run = make_run(engine.endpoint, plate.shot(frame_count=6), plate.labels, again)
    assert run_to_end(next_run).status == "done"
    assert len(again) == 6


def test_a_failing_sink_fails_the_run_without_raising(engine, plate):
    def full_disk(result) -> None:
        raise OSError("No space left on device")

    settings = RunSettings(first=0, last=5, direction="forward", max_size=0)
    run = PropagationRun(Engine(engine.endpoint, timeout=20.0), plate.shot(), {0: plate.labels}, settings, full_disk)
    progress = run_to_end(run)
    assert progress.status == "failed"
    assert progress.message == "Could not store the result of frame 0: No space left on device"


def test_an_engine_lost_mid_run_fails_the_run_without_raising(plate):
    results: list = []
    with ScriptedEngine(vanish_after=2) as scripted:
        run = make_run(scripted.endpoint, plate.shot(frame_count=6), plate.labels, results, timeout=2.0)
        run.start()
        try:
            progress = poll_until_finished(run)
        finally:
            start = time.monotonic()
            run.close()
    assert progress.status == "failed"
    assert progress.message.startswith(f"Lost the engine at {scripted.endpoint}")
    assert len(results) == 2
    assert time.monotonic() - start < 1.0  # a lost engine is not asked to close its session


def test_scene_linear_frames_stream_as_float16_and_the_engine_makes_them_display_srgb(engine, plate):
    """The float images of an EXR clip go as "linear"; the engine's conversion gives back the display frames."""
    srgb: list = []
    run_to_end(make_run(engine.endpoint, plate.shot(), plate.labels, srgb))
    linear: list = []
    as_linear = FrameStream(lambda index: _srgb_to_linear(plate.frames[index]), colorspace="linear")
    progress = run_to_end(make_run(engine.endpoint, plate.shot(as_linear), plate.labels, linear))
    assert progress.status == "done", progress.message
    for ours, theirs in zip(sorted(linear, key=_frame), sorted(srgb, key=_frame), strict=True):
        difference = np.abs(ours.mattes.astype(np.int64) - theirs.mattes.astype(np.int64))
        assert difference.mean() < 0.01 * 65535


def _frame(result: object) -> int:
    return result.frame


def _srgb_to_linear(image: np.ndarray) -> np.ndarray:
    """The inverse of the sRGB transfer function, as Blender decodes a display image into scene-linear floats."""
    values = image.astype(np.float64) / 255
    linear = np.where(values <= 0.04045, values / 12.92, ((values + 0.055) / 1.055) ** 2.4)
    return linear.astype(np.float16)


CONFIG = Path(__file__).resolve().parents[1] / "fixtures" / "ocio" / "config.ocio"
DIM = {"view": "Dim", "look": "None", "display": "sRGB", "exposure": 0.0, "gamma": 1.0}


@pytest.fixture(scope="module")
def engine_with_config(start_engine, one_thread_env) -> ServerProcess:
    """An engine given the small OpenColorIO config of tests/fixtures/ocio (views Standard and Dim)."""
    return start_engine("--ocio-config", str(CONFIG), env=one_thread_env)


def test_the_scenes_view_reaches_the_engine_which_shows_the_network_those_pixels(engine_with_config, plate):
    """Linear frames sent with the view "Dim" propagate exactly as the Dim display pixels sent as bytes do."""
    dim = DisplayView(config=str(CONFIG), view="Dim")
    linear_frames = [_srgb_to_linear(frame) for frame in plate.frames]
    as_linear = FrameStream(lambda index: linear_frames[index], colorspace="linear")
    as_displayed = FrameStream(lambda index: dim.encode(linear_frames[index]))
    runs = {}
    for name, frames, view in (("linear", as_linear, DIM), ("bytes", as_displayed, {}), ("standard", as_linear, {})):
        results: list = []
        progress = run_to_end(
            make_run(engine_with_config.endpoint, replace(plate.shot(frames), view=view), plate.labels, results)
        )
        assert progress.status == "done", progress.message
        runs[name] = np.stack([result.mattes for result in sorted(results, key=_frame)])
    np.testing.assert_array_equal(runs["linear"], runs["bytes"])
    assert not np.array_equal(runs["linear"], runs["standard"])


def test_a_view_the_engine_cannot_apply_fails_the_run_with_the_engines_reason(engine, plate):
    results: list = []
    run = make_run(engine.endpoint, replace(plate.shot(), view={**DIM, "view": "AgX"}), plate.labels, results)
    with pytest.raises(RunFailed, match="needs an OpenColorIO config"):
        run.start()
    assert results == [] and not run.is_open


def test_a_run_reads_the_exr_layer_the_artist_named(engine, plate):
    """The engine reads the named layer of MultiLayer files; one the files lack fails the run, naming those present."""
    folder = plate.folder / "layers"
    folder.mkdir(exist_ok=True)
    for index, frame in enumerate(plate.frames):
        linear = _srgb_to_linear(frame).astype(np.float32)
        planes = {name: np.ascontiguousarray(linear[:, :, i]) for i, name in enumerate("RGB")}
        channels = {f"ViewLayer.Denoised.{name}": plane for name, plane in planes.items()}
        channels.update({f"ViewLayer.Combined.{name}": np.zeros_like(plane) for name, plane in planes.items()})
        with OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION}, channels) as exr:
            exr.write(str(folder / f"plate.{index + 1:04d}.exr"))
    results: list = []
    named = FrameFiles(str(folder / "plate.####.exr"), first_number=1, exr_layer="Denoised")
    progress = run_to_end(make_run(engine.endpoint, plate.shot(named), plate.labels, results))
    assert progress.status == "done", progress.message
    assert len(results) == FRAMES
    missing = FrameFiles(str(folder / "plate.####.exr"), first_number=1, exr_layer="Shadow")
    with pytest.raises(RunFailed, match=r"no layer 'Shadow'; its layers: ViewLayer\.Combined, ViewLayer\.Denoised"):
        make_run(engine.endpoint, plate.shot(missing), plate.labels, []).start()
