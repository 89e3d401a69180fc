"""`maskprop serve`: the engine as a ZeroMQ service that the Blender add-on and other clients talk to.

Everything that can be wrong with the command line (an unsafe bind, unreadable keys, a root that is not a
folder, no checkpoint) is checked before the model is loaded, and answered with one `error:` line and exit
code 2. Once the socket is bound and the worker runs, the command prints `serving on ENDPOINT` on stdout (the
actual endpoint: a `:0` or `:*` port is resolved) and logs to stderr. SIGTERM or SIGINT stops it cleanly,
with exit code 0.
"""

from __future__ import annotations

import argparse
import os
import signal
from typing import TYPE_CHECKING

from engine.commands import precision_option, propagation_options, view_options
from engine.exit_codes import run_reporting_errors

if TYPE_CHECKING:
    import torch

    from engine.model.afburr import AFBURR
    from engine.server.config import EngineFacts, ServerConfig
    from engine.server.security import CurveSetup
    from engine.server.server import Server


def configure(parser: argparse.ArgumentParser) -> None:
    from engine.server.config import DEFAULT_BIND, ServerConfig

    defaults = ServerConfig  # its class attributes: the defaults, without building one
    parser.add_argument(
        "--bind",
        default=DEFAULT_BIND,
        help=f"ZeroMQ endpoint to serve on: tcp://HOST:PORT or ipc:///path (default {DEFAULT_BIND}); "
        "a port of 0 picks a free one. Anything but loopback or ipc needs the CURVE options",
    )
    parser.add_argument("--checkpoint", help=propagation_options.CHECKPOINT_HELP)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default %(default)s)")
    precision_option.add_arguments(parser)
    view_options.add_config_argument(parser)
    parser.add_argument(
        "--allow-root",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder whose files clients may name as frame sources (repeatable; default: none, clients stream "
        "their frames)",
    )
    parser.add_argument(
        "--curve-secret-key",
        metavar="FILE",
        help="the server's CURVE key pair (NAME.key_secret) (default: none, no encryption; loopback and ipc only)",
    )
    parser.add_argument(
        "--curve-clients",
        metavar="DIR",
        help="folder of the authorised clients' public keys (*.key) (default: none; needed with --curve-secret-key)",
    )
    parser.add_argument(
        "--max-sessions",
        type=propagation_options.positive,
        default=defaults.max_sessions,
        help=f"sessions open at once (default {defaults.max_sessions})",
    )
    parser.add_argument(
        "--max-sessions-per-client",
        type=propagation_options.positive,
        default=defaults.max_sessions_per_client,
        help=f"sessions one client (one CurveZMQ key, or one connection) may hold at once "
        f"(default {defaults.max_sessions_per_client})",
    )
    parser.add_argument(
        "--client-grace",
        type=_seconds,
        default=defaults.client_grace,
        help=f"seconds without anything from a client, pings included, before its sessions close "
        f"(default {defaults.client_grace:g})",
    )
    parser.add_argument(
        "--idle-timeout",
        type=_seconds,
        default=defaults.idle_timeout,
        help=f"seconds without a message before a session is closed (default {defaults.idle_timeout:g})",
    )
    parser.add_argument(
        "--exit-when-unused",
        type=_seconds,
        metavar="SECONDS",
        help="stop after this many seconds with no session open and no message (default: serve until stopped)",
    )
    parser.add_argument(
        "--max-buffer-mb",
        type=propagation_options.positive,
        default=defaults.max_buffer_bytes // 2**20,
        help=f"host memory for keyframes, streamed frames and results in flight "
        f"(default {defaults.max_buffer_bytes // 2**20})",
    )
    parser.add_argument(
        "--frame-window",
        type=propagation_options.positive,
        default=defaults.frame_window,
        help=f"streamed frames requested ahead of the network, 2 to 256 (default {defaults.frame_window})",
    )
    parser.add_argument(
        "--log-format", choices=("text", "json"), default="text", help="stderr log lines (default %(default)s)"
    )


def run(args: argparse.Namespace) -> int:
    return run_reporting_errors(lambda: _serve(args))


def _serve(args: argparse.Namespace) -> int:
    from engine.checkpoint_choice import resolve_checkpoint
    from engine.compute.device import select_device
    from engine.compute.precision import choose_for_device
    from engine.logs import configure_logging
    from engine.model.loader import load_network
    from engine.server.config import EngineFacts, ServerConfig
    from engine.server.security import load_curve

    configure_logging(args.log_format)
    allow_roots = tuple(_folders(args.allow_root))
    curve = load_curve(args.curve_secret_key, args.curve_clients, args.bind)
    ocio_config = _ocio_config(args.ocio_config)
    choice = choose_for_device(args.precision, args.strict_precision, select_device(args.device))
    config = ServerConfig(
        bind=args.bind,
        allow_roots=allow_roots,
        max_sessions=args.max_sessions,
        max_sessions_per_client=args.max_sessions_per_client,
        client_grace=args.client_grace,
        idle_timeout=args.idle_timeout,
        exit_when_unused=args.exit_when_unused,
        max_buffer_bytes=args.max_buffer_mb * 2**20,
        frame_window=args.frame_window,
        precision=choice.precision,
        ocio_config=ocio_config,
    )
    checkpoint = resolve_checkpoint(args.checkpoint)
    model = load_network(checkpoint, args.device)
    device = next(model.parameters()).device
    facts = EngineFacts(
        checkpoint=checkpoint.name,
        model=model.config.name,
        parameters=sum(p.numel() for p in model.parameters()),
        device=_describe(device),
    )
    server = _bind(config, model, facts, curve)
    signal.signal(signal.SIGTERM, server.stop)
    signal.signal(signal.SIGINT, server.stop)
    server.serve(on_ready=lambda endpoint: print(f"serving on {endpoint}", flush=True))
    return 0


def _bind(config: ServerConfig, model: AFBURR, facts: EngineFacts, curve: CurveSetup | None) -> Server:
    import zmq

    from engine.server.server import Server

    try:
        return Server(config, model, facts, curve)
    except zmq.ZMQError as error:
        raise ValueError(f"cannot serve on {config.bind}: {error}") from None


def _folders(paths: list[str]) -> list[str]:
    for path in paths:
        if not os.path.isdir(path):
            raise ValueError(f"--allow-root {path} is not a folder")
    return paths


def _describe(device: torch.device) -> str:
    import torch

    if device.type != "cuda":
        return device.type
    return f"{device} ({torch.cuda.get_device_name(device)})"


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return value


def _ocio_config(path: str) -> str:
    """The config, read once at start so a wrong path fails here, not at a client's first session."""
    if path:
        from engine.io.view import load_config

        load_config(path)
    return path
