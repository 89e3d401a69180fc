"""Secure by default: no network bind without CurveZMQ, and with it only authorised client keys get in."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time

import pytest

from protocol.client import EngineClient
from protocol.curve import CurveKeys
from protocol.errors import ErrorCode, ProtocolError


def engine_command(*args: str, environment: dict[str, str]) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "engine", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=environment)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("host", ["0.0.0.0", "*", "[::]"])
def test_a_non_loopback_bind_without_keys_refuses_to_start(host, parity_checkpoint, engine_env):
    started = time.monotonic()
    done = engine_command(
        "serve", "--bind", f"tcp://{host}:{free_port()}", "--checkpoint", str(parity_checkpoint),
        environment=engine_env,
    )  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: refusing to bind"), done.stderr
    assert "--curve-secret-key" in lines[0]
    assert done.stdout == ""  # it never said "serving on"
    assert time.monotonic() - started < 30


@pytest.fixture(scope="module")
def keys(tmp_path_factory, engine_env):
    """Key pairs made with `keygen`: the server's, an authorised client's and a stranger's."""
    folder = tmp_path_factory.mktemp("keys")
    for name in ("server", "alice", "mallory"):
        done = engine_command("keygen", str(folder), "--name", name, environment=engine_env)
        assert done.returncode == 0, done.stderr
    clients = folder / "clients"
    clients.mkdir()
    shutil.copy(folder / "alice.key", clients)
    return folder


@pytest.fixture(scope="module")
def curve_engine(start_engine, keys):
    return start_engine("--curve-secret-key", str(keys / "server.key_secret"), "--curve-clients", str(keys / "clients"))


def test_an_authorised_client_key_is_served(curve_engine, keys):
    curve = CurveKeys.from_files(keys / "server.key", keys / "alice.key_secret")
    with EngineClient(curve_engine.endpoint, curve=curve, timeout=10.0) as client:
        assert client.hello().protocol_version.startswith("1.")
        assert client.ping() >= 0


def test_an_unauthorised_client_key_gets_nothing(curve_engine, keys):
    curve = CurveKeys.from_files(keys / "server.key", keys / "mallory.key_secret")
    client = EngineClient(curve_engine.endpoint, curve=curve, timeout=2.0)
    with client, pytest.raises(ProtocolError) as failed:
        client.hello()
    assert failed.value.code == ErrorCode.TIMEOUT


def test_a_client_without_curve_gets_nothing_from_a_curve_server(curve_engine):
    with EngineClient(curve_engine.endpoint, timeout=2.0) as client, pytest.raises(ProtocolError) as failed:
        client.hello()
    assert failed.value.code == ErrorCode.TIMEOUT


def test_keygen_writes_a_key_pair_and_refuses_to_overwrite_it(tmp_path, engine_env):
    done = engine_command("keygen", str(tmp_path / "new"), environment=engine_env)
    assert done.returncode == 0, done.stderr
    public, secret = tmp_path / "new" / "engine.key", tmp_path / "new" / "engine.key_secret"
    assert "--curve-clients" in done.stdout
    assert secret.stat().st_mode & 0o077 == 0
    before = secret.read_bytes()

    again = engine_command("keygen", str(tmp_path / "new"), environment=engine_env)
    assert again.returncode == 2
    assert again.stderr.startswith("error: refusing to overwrite")
    assert secret.read_bytes() == before
    assert public.is_file()


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (["--curve-clients", "."], "both"),
        (["--curve-secret-key", "missing.key_secret", "--curve-clients", "."], "cannot read"),
        (["--allow-root", "no-such-folder"], "not a folder"),
    ],
)
def test_bad_security_options_are_one_error_line_and_exit_code_2(options, words, parity_checkpoint, engine_env):
    done = engine_command(
        "serve", "--bind", "tcp://127.0.0.1:0", "--checkpoint", str(parity_checkpoint), *options,
        environment=engine_env,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("error:") and words in done.stderr and done.stderr.count("\n") == 1
