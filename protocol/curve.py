"""CurveZMQ key pairs as the client and the engine use them.

Keys are the Z85 text that `zmq.curve_keypair()` makes and `zmq.auth` stores in certificate files
(`NAME.key` holds the public key, `NAME.key_secret` both). A client needs the engine's public key and its
own pair; the engine needs its own pair and a folder of the public keys it accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq
import zmq.auth

from protocol.errors import ErrorCode, ProtocolError


@dataclass(frozen=True, repr=False)
class CurveKeys:
    """The keys a CURVE client connects with. `repr` hides the secret so logs never show it."""

    server_public: bytes
    client_public: bytes
    client_secret: bytes

    def __repr__(self) -> str:
        return f"CurveKeys(server_public={self.server_public.decode('ascii', 'replace')!r}, ...)"

    @classmethod
    def from_files(cls, server_public_file: str | Path, client_secret_file: str | Path) -> CurveKeys:
        """Load the engine's `*.key` and this client's `*.key_secret` certificate files."""
        server_public, _ = _load(server_public_file)
        client_public, client_secret = _load(client_secret_file)
        if client_secret is None:
            raise ProtocolError(
                ErrorCode.INVALID_FIELD, f"{client_secret_file} holds no secret key (use the .key_secret file)"
            )
        return cls(server_public, client_public, client_secret)

    def apply(self, socket: zmq.Socket[Any]) -> None:
        socket.curve_serverkey = self.server_public
        socket.curve_publickey = self.client_public
        socket.curve_secretkey = self.client_secret


def _load(path: str | Path) -> tuple[bytes, bytes | None]:
    try:
        return zmq.auth.load_certificate(str(path))
    except (OSError, ValueError) as error:
        raise ProtocolError(ErrorCode.NOT_FOUND, f"cannot read the CURVE key file {path}: {error}") from None
