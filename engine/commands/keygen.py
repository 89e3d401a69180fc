"""`maskprop keygen [DIR]`: a CurveZMQ key pair for the server or for one client.

It writes `NAME.key` (the public key, safe to hand out) and `NAME.key_secret` (both keys, readable by its owner
only) with `zmq.auth.create_certificates`, and never overwrites a key that exists: replacing a server key
locks out every client that trusts it. Without DIR the keys go to `keys/` in the user's config folder
(`engine.user_config`), where a workstation keeps its client key.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from engine.cli import EXIT_USAGE
from engine.user_config import keys_dir


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "dir",
        nargs="?",
        type=Path,
        default=keys_dir(),
        metavar="DIR",
        help="folder to write the key files into, created if missing (default: keys/ in the config folder, "
        "%(default)s)",
    )
    parser.add_argument(
        "--name", default="engine", help="file name stem: NAME.key and NAME.key_secret (default %(default)s)"
    )


def run(args: argparse.Namespace) -> int:
    import zmq.auth

    name: str = args.name
    if not name or name in (".", "..") or os.sep in name or (os.altsep and os.altsep in name):
        print(f"error: --name {name!r} must be a plain file name", file=sys.stderr)
        return EXIT_USAGE
    folder: Path = args.dir
    public, secret = folder / f"{name}.key", folder / f"{name}.key_secret"
    existing = [str(path) for path in (public, secret) if path.exists()]
    if existing:
        print(f"error: refusing to overwrite {', '.join(existing)}; choose another --name or folder", file=sys.stderr)
        return EXIT_USAGE
    try:
        folder.mkdir(parents=True, exist_ok=True)
        zmq.auth.create_certificates(str(folder), name)
        secret.chmod(0o600)
    except OSError as error:
        print(f"error: cannot write keys into {folder}: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"public key: {public}")
    print(f"secret key: {secret} (keep it private)")
    print(
        "For the server: start it with --curve-secret-key " + str(secret) + " and give each client its public key"
        f" {public.name}.\nFor a client: copy {public.name} into the server's --curve-clients folder; the client"
        f" connects with its own {secret.name} and the server's public key."
    )
    return 0
