"""Which binds count as local (no CURVE needed) and which need keys."""

from __future__ import annotations

import pytest
import zmq.auth

from engine.server.security import SecurityError, is_local_endpoint, load_curve


@pytest.mark.parametrize(
    "endpoint",
    ["tcp://127.0.0.1:5557", "tcp://127.1.2.3:0", "tcp://localhost:5557", "tcp://[::1]:5557", "ipc:///tmp/engine"],
)
def test_loopback_and_ipc_binds_are_local(endpoint):
    assert is_local_endpoint(endpoint)


@pytest.mark.parametrize(
    "endpoint",
    ["tcp://0.0.0.0:5557", "tcp://*:5557", "tcp://[::]:5557", "tcp://192.168.1.20:5557", "tcp://eth0:5557",
     "tcp://render-box:5557", "ws://127.0.0.1:5557", "pgm://127.0.0.1;239.192.1.1:5555"],
)  # fmt: skip
def test_every_other_bind_is_not_local(endpoint):
    assert not is_local_endpoint(endpoint)


def test_a_local_bind_needs_no_keys_and_a_network_bind_is_refused_without_them():
    assert load_curve(None, None, "tcp://127.0.0.1:5557") is None
    with pytest.raises(SecurityError, match=r"refusing to bind tcp://0\.0\.0\.0:5557"):
        load_curve(None, None, "tcp://0.0.0.0:5557")


def test_curve_needs_both_options_and_at_least_one_client_key(tmp_path):
    with pytest.raises(SecurityError, match="both"):
        load_curve(tmp_path / "server.key_secret", None, "tcp://127.0.0.1:0")
    zmq.auth.create_certificates(str(tmp_path), "server")
    (tmp_path / "clients").mkdir()
    with pytest.raises(SecurityError, match="no client public keys"):
        load_curve(tmp_path / "server.key_secret", tmp_path / "clients", "tcp://0.0.0.0:0")
    with pytest.raises(SecurityError, match="no secret key"):
        load_curve(tmp_path / "server.key", tmp_path / "clients", "tcp://0.0.0.0:0")
    zmq.auth.create_certificates(str(tmp_path / "clients"), "alice")
    curve = load_curve(tmp_path / "server.key_secret", tmp_path / "clients", "tcp://0.0.0.0:0")
    assert curve is not None and curve.secret_key.decode() not in repr(curve)
