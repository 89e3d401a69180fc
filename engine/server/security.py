"""Who may reach the server: loopback by default, CurveZMQ with authorised client keys for anything else.

A bind is *local* when only this host can connect: `ipc://` (file permissions decide), `inproc://`, or a
`tcp://` address in 127.0.0.0/8, `::1` or `localhost`. Any other bind (`0.0.0.0`, `*`, a LAN address, an
interface name, another transport) needs CURVE: the server's key pair and a folder of the public keys of the
clients it accepts, checked by pyzmq's ZAP authenticator in its own thread. A client whose key is not in the
folder fails the handshake, so none of its messages ever reaches the server.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from engine.errors import EngineError


class SecurityError(EngineError):
    """The server's security configuration is missing or unusable; it must not start."""


@dataclass(frozen=True, repr=False)
class CurveSetup:
    """The server's CURVE key pair and the folder of authorised client public keys."""

    public_key: bytes
    secret_key: bytes
    clients: Path

    def __repr__(self) -> str:  # never show the secret key in a log or a traceback
        return f"CurveSetup(public_key={self.public_key.decode('ascii', 'replace')!r}, clients={str(self.clients)!r})"


def is_local_endpoint(endpoint: str) -> bool:
    """Whether only this host can connect to a bind on `endpoint` (see the module doc)."""
    transport, _, address = endpoint.partition("://")
    if transport in ("ipc", "inproc"):
        return True
    if transport != "tcp":
        return False
    host = address.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # "*", an interface name or a host name: may be reachable from elsewhere
        return False


def load_curve(secret_key_file: str | Path | None, clients_dir: str | Path | None, endpoint: str) -> CurveSetup | None:
    """The CURVE setup the options ask for, or None for a plain local bind; refuses what would be unsafe."""
    if secret_key_file is None and clients_dir is None:
        if not is_local_endpoint(endpoint):
            raise SecurityError(
                f"refusing to bind {endpoint} without CurveZMQ: a non-loopback bind needs --curve-secret-key "
                f"(the server's .key_secret file) and --curve-clients (a folder of authorised client .key files); "
                f"`python -m engine keygen DIR` makes key pairs"
            )
        return None
    if secret_key_file is None or clients_dir is None:
        raise SecurityError("CURVE needs both --curve-secret-key and --curve-clients")
    public, secret = _read_key_pair(Path(secret_key_file))
    clients = Path(clients_dir)
    if not clients.is_dir():
        raise SecurityError(f"--curve-clients {clients} is not a folder")
    if not any(clients.glob("*.key")):
        raise SecurityError(f"--curve-clients {clients} holds no client public keys (*.key): nobody could connect")
    return CurveSetup(public, secret, clients)


def start_authenticator(context: zmq.Context, curve: CurveSetup) -> ThreadAuthenticator:
    """Run the ZAP handler that accepts exactly the client keys in `curve.clients`; stop it when serving ends."""
    authenticator = ThreadAuthenticator(context)
    authenticator.start()
    authenticator.configure_curve(domain="*", location=str(curve.clients))
    return authenticator


def make_curve_server(socket: zmq.Socket, curve: CurveSetup) -> None:
    """Turn `socket` into a CURVE server; must happen before it binds."""
    socket.curve_secretkey = curve.secret_key
    socket.curve_publickey = curve.public_key
    socket.curve_server = True


def _read_key_pair(path: Path) -> tuple[bytes, bytes]:
    try:
        public, secret = zmq.auth.load_certificate(str(path))
    except (OSError, ValueError) as error:
        raise SecurityError(f"cannot read the CURVE key file {path}: {error}") from None
    if secret is None:
        raise SecurityError(f"{path} holds no secret key: give the server's .key_secret file")
    return public, secret
