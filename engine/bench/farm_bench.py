"""`bench farm`: the OpenJD template run by `openjd run` on a few shots, with its shared engine and without.

What a pipeline TD asks of a farm template is how long a job takes and how much of each task is overhead.
The benchmark writes a job file over the first shots of a DAVIS-layout folder (the first frame's annotation
as the keyframe), then runs the shipped template twice in one local OpenJD session each: as shipped (one engine
per session, tasks that send their shot to it) and with its engine environment taken out (each task loads
torch and the network itself, as the template did before). It reads each action's wall time from `openjd
run`'s log, so the figures are the runtime's own, and checks that both runs wrote the same label maps.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import engine

TEMPLATE = Path(engine.__file__).parents[1] / "farm" / "openjd" / "maskprop-batch.yaml"
# An action's lines in `openjd run`'s log: "0:00:04.327521\t--------- Running Task", its command's start and end.
_SECTION = re.compile(r"^(\d+):(\d\d):(\d\d\.\d+)\t--------- (Entering Environment|Running Task|Exiting Environment)")
_EXITED = re.compile(r"^(\d+):(\d\d):(\d\d\.\d+)\tProcess pid \d+ exited with code")


@dataclass(frozen=True)
class FarmBenchConfig:
    data: str  # a DAVIS-layout folder: JPEGImages/<shot>/ and Annotations/<shot>/
    shots: int = 4
    frames: int = 0  # frames per shot (0: every frame)
    python: str = sys.executable


def run_farm_bench(config: FarmBenchConfig) -> dict[str, Any]:
    """Both variants, one after the other, in fresh folders; the report `bench farm` prints and writes."""
    names = _shot_names(Path(config.data), config.shots)
    runs = {}
    with tempfile.TemporaryDirectory(prefix="maskprop-farm-bench-") as scratch:
        for variant in ("shared engine", "engine per task"):
            folder = Path(scratch) / variant.replace(" ", "-")
            runs[variant] = _run_variant(folder, names, config, shared=variant == "shared engine")
    problems = [] if runs["shared engine"]["labels"] == runs["engine per task"]["labels"] else ["label maps differ"]
    problems += [f"{variant}: openjd exited {run['exit_code']}" for variant, run in runs.items() if run["exit_code"]]
    for run in runs.values():
        del run["labels"]
    return {
        "benchmark": "farm",
        "config": dataclasses.asdict(config),
        "shots": names,
        "runs": runs,
        "problems": problems,
    }


def format_report(report: dict[str, Any]) -> str:
    lines = [f"openjd run of {len(report['shots'])} shots ({', '.join(report['shots'])})"]
    lines.append(f"{'variant':<16} {'total s':>8} {'enter s':>8} {'tasks s':>28} {'mean task s':>12}")
    for variant, run in report["runs"].items():
        tasks = " ".join(f"{seconds:.1f}" for seconds in run["task_s"])
        mean = sum(run["task_s"]) / len(run["task_s"]) if run["task_s"] else 0.0
        lines.append(f"{variant:<16} {run['total_s']:>8.1f} {run['enter_s']:>8.1f} {tasks:>28} {mean:>12.2f}")
    lines += [f"problem: {problem}" for problem in report["problems"]]
    return "\n".join(lines)


def _shot_names(data: Path, count: int) -> list[str]:
    names = sorted(path.name for path in (data / "JPEGImages").iterdir() if path.is_dir())
    if len(names) < count:
        raise ValueError(f"{data} has {len(names)} shots in JPEGImages/, fewer than the {count} asked for")
    return names[:count]


def _run_variant(folder: Path, names: list[str], config: FarmBenchConfig, shared: bool) -> dict[str, Any]:
    folder.mkdir(parents=True)
    job = _write_job(folder, Path(config.data).absolute(), names, config.frames)
    template = TEMPLATE if shared else _without_engine(folder)
    parameters = {
        "JobFile": str(job),
        "InputFolder": str(Path(config.data).absolute()),
        "OutputFolder": str(folder / "out"),
        "Shots": names,
        "Python": config.python,
    }
    command = [config.python, "-m", "openjd", "run", str(template), "--job-param", json.dumps(parameters)]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, cwd=folder)
    total = time.monotonic() - started
    actions = _action_seconds(done.stdout)
    return {
        "exit_code": done.returncode,
        "total_s": total,
        "enter_s": sum(seconds for kind, seconds in actions if kind == "Entering Environment"),
        "task_s": [seconds for kind, seconds in actions if kind == "Running Task"],
        "exit_s": sum(seconds for kind, seconds in actions if kind == "Exiting Environment"),
        "labels": _digest(folder / "out"),
    }


def _write_job(folder: Path, data: Path, names: list[str], frames: int) -> Path:
    text = ""
    for name in names:
        mask = sorted((data / "Annotations" / name).glob("*.png"))[0]
        text += f'[[shot]]\nname = "{name}"\nframes = "{(data / "JPEGImages" / name).as_posix()}"\n'
        text += f'mask = "{mask.as_posix()}"\nout = "out/{name}"\n' + (f"last = {frames - 1}\n" if frames else "")
        text += "\n"
    path = folder / "job.toml"
    path.write_text(text)
    return path


def _without_engine(folder: Path) -> Path:
    """The shipped template less its engine environment and the tasks' `--engine`: each task loads the network."""
    text = TEMPLATE.read_text()
    start, end = text.index("  - name: Engine\n"), text.index("steps:\n")
    text = text[:start] + text[end:]
    text = re.sub(r', "--engine", "\{\{Session\.WorkingDirectory\}\}/maskprop-engine"', "", text)
    path = folder / "template-engine-per-task.yaml"
    path.write_text(text)
    return path


def _action_seconds(log: str) -> list[tuple[str, float]]:
    """(section kind, seconds from its header to its command's exit) for each action of the session's log."""
    actions: list[tuple[str, float]] = []
    current: tuple[str, float] | None = None
    for line in log.splitlines():
        if section := _SECTION.match(line):
            current = (section.group(4), _seconds(section))
        elif (exited := _EXITED.match(line)) and current is not None:
            actions.append((current[0], _seconds(exited) - current[1]))
            current = None
    return actions


def _seconds(match: re.Match[str]) -> float:
    return int(match.group(1)) * 3600 + int(match.group(2)) * 60 + float(match.group(3))


def _digest(out: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(out.rglob("labels/*.png")):
        digest.update(path.relative_to(out).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()
