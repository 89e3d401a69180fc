"""The command line as a user runs it: a real subprocess, real exit codes."""

import json
import subprocess
import sys

from protocol import PROTOCOL_VERSION


def run_engine(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True, timeout=120)


def test_info_reports_the_engine_and_protocol_versions_as_json():
    done = run_engine("info", "--json")
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout)
    assert facts["protocol"] == PROTOCOL_VERSION
    assert facts["torch"].startswith("2.")


def test_version_flag_prints_the_package_version():
    done = run_engine("--version")
    assert done.returncode == 0
    assert done.stdout.startswith("maskprop ")


def test_an_unknown_command_is_a_usage_error_with_exit_code_2():
    done = run_engine("frobnicate")
    assert done.returncode == 2
    assert "invalid choice" in done.stderr
