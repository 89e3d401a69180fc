"""The Flamenco job type, compiled by node against a stand-in of the Manager's job-compiler API."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from engine.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
JOB_TYPE = ROOT / "farm" / "flamenco" / "maskprop_batch.js"
HARNESS = Path(__file__).with_name("flamenco_harness.js")


def compile_job(settings: dict[str, str]) -> subprocess.CompletedProcess:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    job = json.dumps({"name": "roto ep01", "settings": settings})
    return subprocess.run([node, str(HARNESS), str(JOB_TYPE), job], capture_output=True, text=True, timeout=60)


def compiled_tasks(settings: dict[str, str]) -> list[dict]:
    done = compile_job(settings)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["tasks"]


SETTINGS = {"job_file": "/jobs/ep01.toml", "shots": "sh010  sh020,sh030\n", "python": "/opt/maskprop/bin/python"}


def test_one_roto_task_per_shot_group_runs_the_batch_command():
    tasks = compiled_tasks(SETTINGS)
    assert [(task["name"], task["type"]) for task in tasks] == [("roto-sh010", "roto"), ("roto-sh020,sh030", "roto")]
    for task, shots in zip(tasks, ("sh010", "sh020,sh030"), strict=True):
        [command] = task["commands"]
        assert command["name"] == "exec"
        assert command["parameters"] == {
            "exe": "/opt/maskprop/bin/python",
            "args": ["-m", "engine", "batch", "/jobs/ep01.toml", "--shot", shots],
        }
        assert task["dependencies"] == []


def test_the_commands_are_what_the_batch_command_line_accepts():
    for task in compiled_tasks({**SETTINGS, "checkpoint": "/weights/afburr.pth"}):
        args = task["commands"][0]["parameters"]["args"]
        assert args[:2] == ["-m", "engine"]
        parsed = build_parser().parse_args(args[2:])
        assert (parsed.command, parsed.job, parsed.checkpoint) == ("batch", "/jobs/ep01.toml", "/weights/afburr.pth")
        assert parsed.shot == [task["name"].removeprefix("roto-")]


def test_an_empty_checkpoint_setting_adds_no_flag():
    [task] = compiled_tasks({**SETTINGS, "shots": "sh010", "checkpoint": ""})
    assert "--checkpoint" not in task["commands"][0]["parameters"]["args"]


def test_the_settings_a_submitter_fills_in():
    done = compile_job(SETTINGS)
    settings = {s["key"]: s for s in json.loads(done.stdout)["jobType"]["settings"]}
    assert set(settings) == {"job_file", "shots", "python", "checkpoint"}
    assert settings["job_file"]["required"] and settings["shots"]["required"]
    assert settings["python"]["default"] == "python"
    assert settings["job_file"]["subtype"] == "file_path"


def test_a_job_without_shots_is_refused():
    done = compile_job({**SETTINGS, "shots": "  "})
    assert done.returncode == 1
    assert "no shots" in done.stderr
