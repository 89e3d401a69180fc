"""`bench soak`: many clients, one server, one client crashing mid-run. Checks as well as measures.

Each client is its own process (`engine.bench.soak_client`) with its own synthetic shot on disk, so sessions
that got each other's frames or mattes would show. First every shot is propagated through the server alone,
one after another: the solo digests. Then all clients propagate at once; when the first has taken a third of
its results it is killed with SIGKILL, as a crashing Blender would be, and started again at once. The soak
passes when every client that was not killed, and the restarted one, ends with mattes identical to its solo
run, and the dead client's session is freed by the server's client grace while the others keep running.

The server's resident memory is sampled all along. The end of the solo phase and the end of the soak (all
sessions closed both times, thousands of frames apart) tell whether serving leaks; at the small default frame
size the feature banks are small, so a leak per message or per session would stand out. How the bank itself
grows with clip length is `bench model --long-run`'s subject.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import cv2
import torch

from engine.bench.memory import current_rss_bytes
from engine.bench.synthetic import SyntheticClip, as_images, write_png_frames
from engine.logs import session_tag
from engine.model.parity_weights import save_parity_checkpoint
from engine.server.launch import ServerProcess
from protocol.environment import engine_environment

CLIENT_TIMEOUT = 3600.0  # seconds a client run may take before the soak gives up on it
EXPIRY_MESSAGE = "session expired"  # the server's log message when it frees a session
FREEING_MARGIN = 15.0  # seconds past the client grace that a dead client's session may take to be freed


@dataclass(frozen=True)
class SoakConfig:
    clients: int = 4
    frames: int = 500
    width: int = 64
    height: int = 48
    objects: int = 2
    kill_after: int | None = None  # results the victim takes before it is killed; None: a third of the frames
    client_grace: float = 30.0  # the server's --client-grace
    device: str = "auto"
    checkpoint: str | None = None  # None: the parity weights (serving does not need trained ones)
    max_size: int | None = 0  # the plate's own size: the soak is about serving, not the network's scale
    sample_every: float = 0.5  # seconds between readings of the server's memory

    @property
    def victim_results(self) -> int:
        return self.kill_after if self.kill_after is not None else max(1, self.frames // 3)


def run_soak(config: SoakConfig, progress: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Solo runs, then the soak; the report that `bench soak` prints and writes, with its `problems` (none: passed)."""
    if config.victim_results >= config.frames:
        raise ValueError(f"--kill-after must be below --frames ({config.frames})")
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as folder:
        work = Path(folder)
        shots = [_write_shot(work / f"shot-{k}", config, seed=k) for k in range(config.clients)]
        checkpoint = config.checkpoint or save_parity_checkpoint(work / "parity.pth")
        args = ["--bind", "tcp://127.0.0.1:0", "--checkpoint", str(checkpoint), "--device", config.device]
        args += ["--allow-root", str(work), "--max-sessions", str(config.clients + 1)]
        args += ["--client-grace", str(config.client_grace), "--log-format", "json"]
        server = ServerProcess(args, log_path=work / "server.log")
        try:
            with _MemorySampler(server.process.pid, config.sample_every) as memory:
                progress(f"{config.clients} solo runs, one after another")
                solo = [
                    _run_alone(server.endpoint, shot, work / f"solo-{k}.json", config) for k, shot in enumerate(shots)
                ]
                memory.phase("soak")
                progress(f"{config.clients} clients at once, client 0 killed after {config.victim_results} results")
                soak = _soak(server, shots, work, config)
                freed_after = _wait_until_freed(server, soak, config.client_grace)
                memory.phase("after")
                time.sleep(max(2.0, 4 * config.sample_every))  # idle readings once every session has gone
        finally:
            exit_code = server.stop()
    clients = [_client_row(k, run, solo[k]) for k, run in enumerate(soak["runs"])]
    report = {
        "benchmark": "soak",
        "config": asdict(config),
        "environment": {"device": config.device, "torch": torch.__version__, "cpus": os.cpu_count()},
        "solo": [{"client": k, "results": len(run["digests"]), "wall_s": run["wall_s"]} for k, run in enumerate(solo)],
        "soak": {"wall_s": soak["wall_s"], "clients": clients, "victim": soak["victim"]},
        "victim_session_freed_after_s": freed_after,
        "server_rss_mib": memory.summary(),
        "server_rss_samples": memory.samples,
        "server_exit_code": exit_code,
    }
    report["problems"] = _problems(report, solo, config)
    return report


def format_report(report: dict[str, Any]) -> str:
    config, soak, rss = report["config"], report["soak"], report["server_rss_mib"]
    victim = soak["victim"]
    lines = [
        f"engine soak, {config['clients']} clients x {config['frames']} frames, {config['width']}x{config['height']}, "
        f"{config['objects']} object(s), {report['environment']['device']}",
        "solo runs: " + ", ".join(f"{run['wall_s']:.1f} s" for run in report["solo"]),
        f"soak: {soak['wall_s']:.1f} s; client 0 killed after {victim['results_before_kill']} results, restarted, "
        f"its session freed {_seconds(report['victim_session_freed_after_s'])} after the kill",
        f"{'client':<16} {'results':>7} {'wall s':>8} {'frames/s':>9}  mattes",
    ]
    for row in soak["clients"]:
        same = "identical to solo" if row["identical_to_solo"] else f"DIFFER at frames {row['differing_frames'][:5]}"
        lines.append(
            f"{row['client']:<16} {row['results']:>7} {row['wall_s']:>8.1f} {row['frames_per_s']:>9.2f}  {same}"
        )
    lines.append(
        "server RSS MiB: "
        + ", ".join(
            f"{phase} {values['first']:.0f}-{values['max']:.0f} (end {values['last']:.0f})"
            for phase, values in rss.items()
        )
    )
    lines += [f"PROBLEM: {problem}" for problem in report["problems"]] or ["passed"]
    return "\n".join(lines)


# --- the phases ---------------------------------------------------------------------------------------------


def _write_shot(folder: Path, config: SoakConfig, seed: int) -> Path:
    """A synthetic shot of its own per client: frames/*.png and the keyframe's label map first.png."""
    frames, labels = as_images(SyntheticClip(config.height, config.width, config.objects, config.frames, seed))
    write_png_frames(frames, folder / "frames")
    cv2.imwrite(str(folder / "first.png"), labels)
    return folder


def _run_alone(endpoint: str, shot: Path, digests: Path, config: SoakConfig) -> dict[str, Any]:
    client = _Client(endpoint, shot, digests, config.max_size)
    client.wait()
    return client.outcome()


def _soak(server: ServerProcess, shots: list[Path], work: Path, config: SoakConfig) -> dict[str, Any]:
    started = time.monotonic()
    clients = [_Client(server.endpoint, shot, work / f"soak-{k}.json", config.max_size) for k, shot in enumerate(shots)]
    victim = clients[0]
    victim.wait_for_results(config.victim_results)
    victim.kill()
    killed_at = time.time()
    restarted = _Client(server.endpoint, shots[0], work / "soak-0-restarted.json", config.max_size)
    for client in [*clients[1:], restarted]:
        client.wait()
    return {
        "wall_s": time.monotonic() - started,
        "runs": [restarted.outcome(), *(client.outcome() for client in clients[1:])],
        "victim": {"results_before_kill": victim.results, "exit_code": victim.exit_code},
        "victim_session": victim.session,
        "killed_at": killed_at,
    }


def _client_row(index: int, run: dict[str, Any], solo: dict[str, Any]) -> dict[str, Any]:
    digests, expected = run["digests"], solo["digests"]
    differing = sorted(
        int(frame) for frame in expected.keys() | digests.keys() if digests.get(frame) != expected.get(frame)
    )
    return {
        "client": f"{index} (restarted)" if index == 0 else str(index),
        "exit_code": run["exit_code"],
        "results": len(digests),
        "wall_s": run["wall_s"],
        "frames_per_s": len(digests) / run["wall_s"] if run["wall_s"] > 0 else 0.0,
        "identical_to_solo": not differing and run["exit_code"] == 0,
        "differing_frames": differing,
    }


def _wait_until_freed(server: ServerProcess, soak: dict[str, Any], grace: float) -> float | None:
    """Seconds from the kill to the server freeing the victim's session; waits up to the grace and a margin."""
    deadline = soak["killed_at"] + grace + FREEING_MARGIN
    while True:
        freed_after = _freed_after(server.log(), soak["victim_session"], soak["killed_at"])
        if freed_after is not None or time.time() > deadline:
            return freed_after
        time.sleep(0.5)


def _freed_after(server_log: str, session: str | None, killed_at: float) -> float | None:
    """Seconds from the kill to the server's `session expired` line for `session` (None: not there)."""
    if session is None:
        return None
    tag = session_tag(session)
    for line in server_log.splitlines():
        entry = json.loads(line) if line.startswith("{") else {}
        if entry.get("message") == EXPIRY_MESSAGE and entry.get("session") == tag:
            logged = datetime.strptime(entry["time"], "%Y-%m-%d %H:%M:%S,%f").timestamp()  # the log's local time
            return logged - killed_at
    return None


def _problems(report: dict[str, Any], solo: list[dict[str, Any]], config: SoakConfig) -> list[str]:
    problems = [
        f"solo run of client {run['client']} gave {run['results']} results"
        for run in report["solo"]
        if run["results"] != config.frames
    ]
    if len({json.dumps(run["digests"], sort_keys=True) for run in solo}) < len(solo):
        problems.append("two clients' shots gave the same mattes, so a mix-up between sessions would not show")
    for row in report["soak"]["clients"]:
        if not row["identical_to_solo"] or row["results"] != config.frames:
            problems.append(
                f"client {row['client']}: exit code {row['exit_code']}, {row['results']} results, "
                f"differing frames {row['differing_frames'][:10]}"
            )
    if report["soak"]["victim"]["exit_code"] != -signal.SIGKILL:
        problems.append(f"client 0 ended with {report['soak']['victim']['exit_code']} before it could be killed")
    if report["victim_session_freed_after_s"] is None:
        problems.append("the killed client's session was never freed")
    if report["server_exit_code"] != 0:
        problems.append(f"the server exited with {report['server_exit_code']} on SIGTERM")
    return problems


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f} s"


# --- the parts ----------------------------------------------------------------------------------------------


class _Client:
    """A soak client process; a thread follows its stdout for its session id and its count of results."""

    def __init__(self, endpoint: str, shot: Path, digests: Path, max_size: int | None) -> None:
        command = [sys.executable, "-m", "engine.bench.soak_client", endpoint, str(shot), str(digests)]
        command += [] if max_size is None else ["--max-size", str(max_size)]
        self.digests_path = digests
        self.session: str | None = None
        self.results = 0
        self.started = time.monotonic()
        self.wall_s = 0.0
        self._changed = threading.Condition()
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=engine_environment()
        )
        self._stderr: list[str] = []
        threading.Thread(target=self._follow, args=(self.process.stdout,), daemon=True).start()
        threading.Thread(target=self._stderr.extend, args=(self.process.stderr,), daemon=True).start()

    @property
    def exit_code(self) -> int | None:
        return self.process.poll()

    def wait_for_results(self, count: int) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: self.results >= count or self.exit_code is not None, CLIENT_TIMEOUT):
                raise TimeoutError(f"a soak client took no {count} results in {CLIENT_TIMEOUT:.0f} s")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def wait(self) -> None:
        try:
            self.process.wait(CLIENT_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
        self.wall_s = time.monotonic() - self.started

    def outcome(self) -> dict[str, Any]:
        """Exit code, wall time and digests by frame (none if it failed; its stderr's end is then in `error`)."""
        done = self.exit_code == 0 and self.digests_path.exists()
        return {
            "exit_code": self.exit_code,
            "wall_s": self.wall_s,
            "digests": json.loads(self.digests_path.read_text()) if done else {},
            "error": "" if done else "".join(self._stderr)[-2000:],
        }

    def _follow(self, stdout: IO[str]) -> None:
        for line in stdout:
            word, _, value = line.strip().partition(" ")
            with self._changed:
                if word == "session":
                    self.session = value
                elif word == "result":
                    self.results = int(value)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()


class _MemorySampler:
    """Reads a process's resident memory every `every` seconds, in a thread, tagging readings with a phase."""

    def __init__(self, pid: int, every: float) -> None:
        self.pid, self.every = pid, every
        self.samples: list[dict[str, Any]] = []
        self._phase = "solo"
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> _MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def phase(self, name: str) -> None:
        self._phase = name

    def summary(self) -> dict[str, dict[str, float]]:
        """First, lowest, highest and last reading of each phase, in MiB."""
        phases: dict[str, list[float]] = {}
        for sample in self.samples:
            phases.setdefault(sample["phase"], []).append(sample["rss_mib"])
        return {
            phase: {"first": values[0], "min": min(values), "max": max(values), "last": values[-1]}
            for phase, values in phases.items()
        }

    def _sample(self) -> None:
        while True:
            rss = current_rss_bytes(self.pid)
            if rss is not None:
                elapsed = round(time.monotonic() - self._started, 2)
                self.samples.append({"t_s": elapsed, "phase": self._phase, "rss_mib": round(rss / 2**20, 1)})
            if self._stop.wait(self.every):
                return
