"""Checks that an engine answers, for the "Test Connection" button. No `bpy` here, so tests call it directly."""

from __future__ import annotations

from typing import NamedTuple

from ..vendored import protocol_module


class KeyFiles(NamedTuple):
    """CurveZMQ certificate files: the engine's `*.key` and this client's `*.key_secret`; both empty = no CURVE."""

    server_public: str = ""
    client_secret: str = ""


class ConnectionFailed(Exception):
    """A connection check failed; `message` is written for the artist and `code` is the protocol's error code."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def check_connection(address: str, keys: KeyFiles, timeout: float) -> str:
    """Say hello to the engine at `address` and describe it; raises `ConnectionFailed` when that fails.

    The protocol is imported here, not at module level, so that enabling the add-on does not load pyzmq.
    """
    client_module = protocol_module("client")
    errors = protocol_module("errors")
    try:
        curve = _curve_keys(keys)
        with client_module.EngineClient(
            address, timeout=timeout, client_name="maskprop-blender", curve=curve
        ) as client:
            engine = client.hello()
    except errors.ProtocolError as error:
        raise ConnectionFailed(_explain(address, error, timeout), str(error.code)) from None
    return (
        f"Connected to {address}: engine {engine.engine_version}, protocol {engine.protocol_version}, "
        f"model {engine.model.name} on {engine.device}"
    )


def _curve_keys(keys: KeyFiles) -> object | None:
    """The loaded CURVE keys, or None for a plain connection; half a pair is a mistake, not a plain connection."""
    if not keys.server_public and not keys.client_secret:
        return None
    errors = protocol_module("errors")
    if not keys.server_public or not keys.client_secret:
        raise errors.ProtocolError(
            errors.ErrorCode.INVALID_FIELD,
            "set both CURVE key files (engine public key and client secret key) or neither",
        )
    return protocol_module("curve").CurveKeys.from_files(keys.server_public, keys.client_secret)


def _explain(address: str, error: Exception, timeout: float) -> str:
    """A timeout says nothing on its own: name the usual causes, since a wrong CURVE key also looks like silence."""
    code = str(getattr(error, "code", ""))
    if code == "timeout":
        return (
            f"No answer from {address} within {timeout:g} s: is the engine running there, "
            "and do the CURVE keys match its own?"
        )
    return f"{address}: {error}"
