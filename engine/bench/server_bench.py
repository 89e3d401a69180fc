"""`bench server`: what serving costs: throughput and per-frame latency through the socket versus in-process.

The same synthetic clip is propagated forward from its first frame (a) in this process, by a `Propagator` on
a list of frames, and (b) through a real server started as a child process, by 1 and 4 concurrent clients,
each with its own session, with frames streamed by the client or read by the server from PNG files. Latency is
the time between consecutive results a client receives (the first is measured from the propagate request);
throughput is results per second of wall time over all clients. Each mode runs a short warm-up first, so
one-time costs (allocator, kernel selection) are left out.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.bench.synthetic import SyntheticClip, as_images, write_png_frames
from engine.model.loader import load_network
from engine.model.parity_weights import save_parity_checkpoint
from engine.propagation.propagator import Propagator, Settings
from engine.server.launch import ServerProcess
from protocol import messages as m
from protocol.client import EngineClient
from protocol.stream import PropagateJob

SOURCES = ("stream", "files")
WARMUP_FRAMES = 4  # frames propagated before measuring, in each process


@dataclass(frozen=True)
class ServerBenchConfig:
    width: int = 427
    height: int = 240
    frames: int = 12
    objects: int = 2
    clients: tuple[int, ...] = (1, 4)
    sources: tuple[str, ...] = SOURCES
    device: str = "auto"
    checkpoint: str | None = None  # None: the parity weights (timing does not need trained ones)
    max_size: int | None = None  # None: the network's own
    window: int = 4


def run_server_bench(config: ServerBenchConfig, progress: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Run every mode; returns the report that `bench server` prints and writes as JSON."""
    with tempfile.TemporaryDirectory(prefix="bench-server-") as folder:
        work = Path(folder)
        clip = _clip(config)
        frame_folder = write_png_frames(clip.frames, work / "frames")
        checkpoint = config.checkpoint or save_parity_checkpoint(work / "parity.pth")
        progress("in-process")
        in_process = _in_process(config, clip, checkpoint)
        runs = []
        args = ["--bind", "tcp://127.0.0.1:0", "--checkpoint", str(checkpoint), "--device", config.device]
        args += ["--allow-root", str(work), "--max-sessions", str(max(config.clients) + 1)]
        with ServerProcess(args, log_path=work / "server.log") as server:
            _through_socket(server.endpoint, config, clip, frame_folder, 1, "stream", warmup=True)
            for source in config.sources:
                for clients in config.clients:
                    progress(f"socket, {source} frames, {clients} client(s)")
                    runs.append(_through_socket(server.endpoint, config, clip, frame_folder, clients, source))
    return {
        "benchmark": "server",
        "config": asdict(config),
        "environment": {"device": str(in_process.pop("device")), "torch": torch.__version__, "cpus": os.cpu_count()},
        "in_process": in_process,
        "runs": runs,
    }


def format_report(report: dict[str, Any]) -> str:
    config = report["config"]
    lines = [
        f"engine server, {config['width']}x{config['height']}, {config['objects']} object(s), {config['frames']} "
        f"frames per client, {report['environment']['device']}",
        f"{'mode':<11} {'source':<7} {'clients':>7} {'results':>7} {'frames/s':>9} "
        f"{'mean ms':>8} {'median ms':>9} {'p95 ms':>8}",
    ]
    rows = [{"mode": "in-process", "source": "memory", "clients": 1, **report["in_process"]}]
    rows += [{"mode": "socket", **run} for run in report["runs"]]
    for row in rows:
        latency = row["latency_ms"]
        lines.append(
            f"{row['mode']:<11} {row['source']:<7} {row['clients']:>7} {row['results']:>7} "
            f"{row['frames_per_s']:>9.2f} {latency['mean']:>8.1f} {latency['median']:>9.1f} {latency['p95']:>8.1f}"
        )
    return "\n".join(lines)


def take_all(jobs: Mapping[str, PropagateJob], timeout: float) -> dict[str, list[float]]:
    """Take results from every job in turn until all are done; each job's result arrival times (monotonic)."""
    arrivals: dict[str, list[float]] = {name: [] for name in jobs}
    end = time.monotonic() + timeout
    while not all(job.done for job in jobs.values()):
        if time.monotonic() > end:
            raise TimeoutError(f"propagates not done after {timeout:.0f} s")
        for name, job in jobs.items():
            if not job.done:
                arrivals[name] += [time.monotonic()] * len(job.take())
        time.sleep(0.002)
    return arrivals


# --- the modes ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Clip:
    frames: list[np.ndarray]  # HxWx3 uint8
    labels: np.ndarray  # frame 0's label map


def _in_process(config: ServerBenchConfig, clip: _Clip, checkpoint: str | Path) -> dict[str, Any]:
    model = load_network(checkpoint, config.device)
    ids = list(range(1, config.objects + 1))
    propagator = Propagator(model, clip.frames, ids, Settings(max_size=config.max_size))
    list(propagator.run({0: clip.labels}, 0, WARMUP_FRAMES - 1, "forward"))
    started = time.monotonic()
    arrivals = [time.monotonic() for _ in propagator.run({0: clip.labels}, 0, config.frames - 1, "forward")]
    return {**_statistics({"in-process": arrivals}, started), "device": next(model.parameters()).device}


def _through_socket(
    endpoint: str,
    config: ServerBenchConfig,
    clip: _Clip,
    frame_folder: Path,
    count: int,
    source: str,
    warmup: bool = False,
) -> dict[str, Any]:
    last = WARMUP_FRAMES - 1 if warmup else config.frames - 1
    frame_source = m.FrameSource(kind="files", path=str(frame_folder)) if source == "files" else m.FrameSource("stream")
    shot = m.OpenSession(
        frame_count=config.frames,
        width=config.width,
        height=config.height,
        objects=[m.ObjectSpec(id=i, name=f"object {i}") for i in range(1, config.objects + 1)],
        source=frame_source,
    )
    request = m.Propagate(
        first=0,
        last=last,
        direction="forward",
        options=m.PropagateOptions(max_size=config.max_size),
        outputs=m.Outputs(matte_dtype="uint8"),
        window=config.window,
    )
    connections = [EngineClient(endpoint, timeout=60.0) for _ in range(count)]
    try:
        sessions = [c.open_session(shot).session for c in connections]
        for connection, session in zip(connections, sessions, strict=True):
            connection.keyframe(session, m.Keyframe(frame=0, labels=clip.labels))
        started = time.monotonic()
        jobs = {
            f"client {k}": c.propagate(s, request, frames=clip.frames.__getitem__)
            for k, (c, s) in enumerate(zip(connections, sessions, strict=True))
        }
        arrivals = take_all(jobs, timeout=600.0)
        for connection, session in zip(connections, sessions, strict=True):
            connection.close_session(session)
    finally:
        for connection in connections:
            connection.close()
    return {"source": source, "clients": count, **_statistics(arrivals, started)}


def _statistics(arrivals: Mapping[str, list[float]], started: float) -> dict[str, Any]:
    """Results, wall time, throughput, and latency (gaps between a client's consecutive results) in ms."""
    gaps = [(b - a) * 1e3 for times in arrivals.values() for a, b in zip([started, *times[:-1]], times, strict=True)]
    results = sum(len(times) for times in arrivals.values())
    wall = max((times[-1] for times in arrivals.values() if times), default=started) - started
    return {
        "results": results,
        "wall_s": wall,
        "frames_per_s": results / wall if wall > 0 else 0.0,
        "latency_ms": {
            "mean": statistics.fmean(gaps) if gaps else 0.0,
            "median": statistics.median(gaps) if gaps else 0.0,
            "p95": float(np.percentile(gaps, 95)) if gaps else 0.0,
        },
    }


# --- inputs -------------------------------------------------------------------------------------------------


def _clip(config: ServerBenchConfig) -> _Clip:
    return _Clip(*as_images(SyntheticClip(config.height, config.width, config.objects, config.frames)))
