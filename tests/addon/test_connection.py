"""`check_connection`, the logic behind the "Test Connection" button, against a scripted engine and against nothing."""

from __future__ import annotations

import time

import pytest
import zmq
import zmq.auth

from addon import vendored
from addon.core import connection
from tests.protocol.scripted_engine import ScriptedEngine

NOBODY = "tcp://127.0.0.1:9"  # the discard port: nothing answers there


def test_an_answering_engine_is_described():
    with ScriptedEngine() as engine:
        message = connection.check_connection(engine.endpoint, connection.KeyFiles(), timeout=2.0)
    assert message.startswith(f"Connected to {engine.endpoint}")
    assert "engine 0.0-test" in message
    assert "model scripted on cpu" in message


def test_silence_times_out_cleanly_and_names_the_likely_causes():
    start = time.monotonic()
    with pytest.raises(connection.ConnectionFailed) as caught:
        connection.check_connection(NOBODY, connection.KeyFiles(), timeout=0.3)
    assert caught.value.code == "timeout"
    assert "No answer from tcp://127.0.0.1:9 within 0.3 s" in caught.value.message
    assert time.monotonic() - start < 2.0


def test_an_engine_of_another_major_version_is_reported():
    with ScriptedEngine(tag=b"maskprop/2") as engine, pytest.raises(connection.ConnectionFailed) as caught:
        connection.check_connection(engine.endpoint, connection.KeyFiles(), timeout=2.0)
    assert caught.value.code == "version_mismatch"


def test_half_a_key_pair_is_refused(tmp_path):
    with pytest.raises(connection.ConnectionFailed) as caught:
        connection.check_connection(NOBODY, connection.KeyFiles(server_public=str(tmp_path / "engine.key")), 0.3)
    assert caught.value.code == "invalid_field"


def test_a_missing_key_file_is_reported(tmp_path):
    keys = connection.KeyFiles(str(tmp_path / "engine.key"), str(tmp_path / "client.key_secret"))
    with pytest.raises(connection.ConnectionFailed) as caught:
        connection.check_connection(NOBODY, keys, 0.3)
    assert caught.value.code == "not_found"


def test_an_engine_with_curve_is_reached_with_the_matching_keys(tmp_path):
    engine_public, engine_secret = zmq.auth.create_certificates(tmp_path, "engine")
    _, client_secret = zmq.auth.create_certificates(tmp_path, "client")
    server_public, server_secret = zmq.auth.load_certificate(engine_secret)
    with ScriptedEngine(curve_secret_key=server_secret, curve_public_key=server_public) as engine:
        message = connection.check_connection(engine.endpoint, connection.KeyFiles(engine_public, client_secret), 2.0)
    assert message.startswith("Connected")


def test_in_the_repository_the_top_level_protocol_package_is_used():
    assert vendored.protocol_module("client").__name__ == "protocol.client"
