"""`local_engine`: the add-on starts a real engine when asked, reuses it, stops it, and explains every failure.

The engine runs as the add-on would start it: this test environment's interpreter with `-m engine serve` and
the parity checkpoint. The reuse and restart rules are checked with a stand-in script that prints the ready
line, since they concern the process bookkeeping, not the engine.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from addon.core import connection, local_engine
from addon.core.local_engine import LocalEngineError, LocalEngineSpec
from protocol import messages as m
from protocol.client import EngineClient
from protocol.environment import engine_environment
from tests.protocol.scripted_engine import ScriptedEngine

REPO = Path(__file__).resolve().parents[2]
OCIO_CONFIG = REPO / "tests" / "fixtures" / "ocio" / "config.ocio"


@pytest.fixture(autouse=True)
def nothing_left_running() -> Iterator[None]:
    yield
    local_engine.stop()


def free_address() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{probe.getsockname()[1]}"


def script(folder: Path, body: str) -> str:
    """An executable shell script standing in for the interpreter; it gets `-m engine serve --bind ADDRESS ...`."""
    folder.mkdir(exist_ok=True)
    path = folder / "python"
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return str(path)


@pytest.mark.slow
def test_a_real_engine_starts_answers_is_reused_and_stops(parity_checkpoint, one_thread_env):
    address = free_address()
    spec = LocalEngineSpec(sys.executable, str(parity_checkpoint), address, ocio_config=str(OCIO_CONFIG))
    engine = local_engine.ensure(spec, one_thread_env)
    assert engine is not None and not local_engine.listening(address)
    assert engine.wait() == address
    assert local_engine.listening(address)
    described = connection.check_connection(address, connection.KeyFiles(), timeout=10.0)
    assert described.startswith(f"Connected to {address}")
    with EngineClient(address, timeout=10.0) as client:  # it was given the config: a view of it opens
        source = m.FrameSource(kind="stream", view=m.View(view="Dim"))
        shot = m.OpenSession(frame_count=1, width=8, height=8, objects=[m.ObjectSpec(1, "a")], source=source)
        client.close_session(client.open_session(shot).session)
    assert local_engine.ensure(spec, one_thread_env) is engine  # still running with these settings: reused
    local_engine.stop()
    assert engine.process.returncode == 0  # a clean SIGTERM shutdown
    assert not local_engine.listening(address)
    assert "serving" in engine.log_path.read_text()  # the server's own log lines went to the log file too


def test_an_engine_already_answering_is_used_and_nothing_starts():
    with ScriptedEngine() as running:
        assert local_engine.ensure(LocalEngineSpec("/nonexistent/python", "", running.endpoint)) is None


def test_a_missing_interpreter_is_named():
    spec = LocalEngineSpec("/nonexistent/python3", "", free_address())
    with pytest.raises(LocalEngineError, match="interpreter /nonexistent/python3 does not exist"):
        local_engine.ensure(spec)


def test_no_interpreter_at_all_says_where_to_set_it():
    with pytest.raises(LocalEngineError, match="Set the local engine's Python interpreter in the add-on's preferences"):
        local_engine.ensure(LocalEngineSpec("", "", free_address()))


def test_a_missing_checkpoint_is_named(tmp_path):
    spec = LocalEngineSpec(sys.executable, str(tmp_path / "weights.pth"), free_address())
    with pytest.raises(LocalEngineError, match=f"checkpoint {tmp_path / 'weights.pth'} does not exist"):
        local_engine.ensure(spec)


def test_a_program_that_is_not_python_fails_with_its_exit_code_and_log():
    engine = local_engine.ensure(LocalEngineSpec("/bin/false", "", free_address()))
    with pytest.raises(LocalEngineError) as caught:
        engine.wait()
    message = caught.value.message
    assert "(/bin/false) exited before it served with exit code 1" in message
    assert "is it a Python with the engine installed" in message
    assert f"Its log {engine.log_path} ends with:\n(the log is empty)" in message


def test_an_interpreter_without_the_engine_shows_the_end_of_its_log(tmp_path):
    python = script(tmp_path, 'echo "line one"\necho "No module named engine" >&2\nexit 3\n')
    engine = local_engine.ensure(LocalEngineSpec(python, "", free_address()))
    with pytest.raises(LocalEngineError) as caught:
        engine.wait()
    assert "exit code 3" in caught.value.message
    assert caught.value.message.endswith("line one\nNo module named engine")


@pytest.mark.slow
def test_the_real_engine_without_any_checkpoint_serves_the_shipped_network(one_thread_env):
    address = free_address()
    engine = local_engine.ensure(LocalEngineSpec(sys.executable, "", address), one_thread_env)
    assert engine.wait() == address
    described = connection.check_connection(address, connection.KeyFiles(), timeout=10.0)
    assert "model lite0 on cpu" in described


@pytest.mark.slow
def test_the_real_engine_whose_checkpoint_cannot_be_read_says_so(tmp_path, engine_env):
    broken = tmp_path / "weights.pth"
    broken.write_bytes(b"not a checkpoint")
    engine = local_engine.ensure(LocalEngineSpec(sys.executable, str(broken), free_address()), engine_env)
    with pytest.raises(LocalEngineError) as caught:
        engine.wait()
    assert "exit code 2" in caught.value.message
    assert "error:" in caught.value.message and "cannot be read" in caught.value.message


def test_an_engine_that_never_serves_is_stopped_after_the_timeout(tmp_path):
    python = script(tmp_path, "exec sleep 60\n")
    engine = local_engine.ensure(LocalEngineSpec(python, "", free_address()), start_timeout=0.5)
    with pytest.raises(LocalEngineError, match=r"did not serve within 0\.5 s, so it was stopped"):
        engine.wait()
    assert not engine.alive


def test_an_address_on_another_machine_is_refused():
    with pytest.raises(LocalEngineError, match=r"tcp://10\.1\.2\.3:5557 is not on this computer"):
        local_engine.ensure(LocalEngineSpec(sys.executable, "", "tcp://10.1.2.3:5557"))


def test_a_run_needing_another_plate_folder_restarts_the_engine_with_both(tmp_path):
    python = script(tmp_path, 'echo "serving on $5"\nexec sleep 60\n')  # $5 is the address after --bind
    spec = LocalEngineSpec(python, "", free_address(), frozenset({"/plates/a"}))
    first = local_engine.ensure(spec)
    assert first.wait() == spec.address
    assert local_engine.ensure(LocalEngineSpec(python, "", spec.address)) is first  # streamed frames need no folder
    second = local_engine.ensure(LocalEngineSpec(python, "", spec.address, frozenset({"/plates/b"})))
    assert second is not first and not first.alive
    assert second.spec.roots == {"/plates/a", "/plates/b"}
    assert second.process.args[-4:] == ["--allow-root", "/plates/a", "--allow-root", "/plates/b"]
    python_b = script(tmp_path / "b", 'echo "serving on $5"\nexec sleep 60\n')
    other = local_engine.ensure(LocalEngineSpec(python_b, "", spec.address))  # another interpreter: a new engine
    assert other is not second and not second.alive and other.spec.roots == frozenset()


def test_the_engine_stops_when_the_process_that_started_it_exits(tmp_path):
    python = script(tmp_path, 'echo "serving on $5"\nexec sleep 60\n')
    started = f"""
from addon.core import local_engine
engine = local_engine.ensure(local_engine.LocalEngineSpec({python!r}, "", {free_address()!r}))
engine.wait()
print(engine.process.pid)
"""  # and exits without stopping it: `atexit` must
    done = subprocess.run(
        [sys.executable, "-c", started], cwd=REPO, env=engine_environment(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    pid = int(done.stdout)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.parametrize(
    ("address", "local"),
    [
        ("tcp://127.0.0.1:5557", True),
        ("tcp://localhost:5557", True),
        ("tcp://[::1]:5557", True),
        ("ipc:///tmp/maskprop.sock", True),
        ("tcp://0.0.0.0:5557", False),
        ("tcp://192.168.1.20:5557", False),
    ],
)
def test_only_loopback_and_ipc_addresses_are_local(address, local):
    assert local_engine.is_local(address) is local
