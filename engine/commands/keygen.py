"""`maskprop keygen [DIR]`: a CurveZMQ key pair for the server or for one client.

It writes `NAME.key` (the public key, safe to hand out) and `NAME.key_secret` (both keys, readable by its owner
only) in the certificate format `zmq.auth.load_certificate` reads, and never overwrites a key that exists:
replacing a server key locks out every client that trusts it. Each file is created exclusively and without
following a symlink, the secret one with mode 600 from its first byte, so neither another user nor a link planted
in the folder ever sees the secret; a run that fails leaves neither file behind. Without DIR the keys go to
`keys/` in the user's config folder (`engine.user_config`), where a workstation keeps its client key.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from pathlib import Path

from engine.exit_codes import BAD_INPUT
from engine.user_config import keys_dir

PUBLIC_MODE = 0o644
SECRET_MODE = 0o600
# Exclusive creation refuses any name that exists, a dangling symlink included; no-follow is a second guard where
# the platform has it.
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
_PUBLIC_BANNER = """#   ****  Generated on {now} by maskprop keygen  ****
#   ZeroMQ CURVE Public Certificate
#   Exchange securely, or verify the contents of this file after exchange.

"""
_SECRET_BANNER = """#   ****  Generated on {now} by maskprop keygen  ****
#   ZeroMQ CURVE **Secret** Certificate
#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.

"""


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
    import zmq

    name: str = args.name
    if not name or name in (".", "..") or os.sep in name or (os.altsep and os.altsep in name):
        print(f"error: --name {name!r} must be a plain file name", file=sys.stderr)
        return BAD_INPUT
    folder: Path = args.dir
    public, secret = folder / f"{name}.key", folder / f"{name}.key_secret"
    existing = [str(path) for path in (public, secret) if os.path.lexists(path)]
    if existing:
        return _refuse_to_overwrite(existing)
    public_key, secret_key = (key.decode("ascii") for key in zmq.curve_keypair())
    now = datetime.datetime.now()
    files = [
        (public, PUBLIC_MODE, certificate(_PUBLIC_BANNER.format(now=now), public_key)),
        (secret, SECRET_MODE, certificate(_SECRET_BANNER.format(now=now), public_key, secret_key)),
    ]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_all_or_none(files)
    except FileExistsError as error:
        return _refuse_to_overwrite([str(error.filename)])
    except OSError as error:
        print(f"error: cannot write keys into {folder}: {error}", file=sys.stderr)
        return BAD_INPUT
    _print_next_steps(public, secret)
    return 0


def certificate(banner: str, public_key: str, secret_key: str | None = None) -> str:
    """A ZeroMQ certificate file's text, in the layout pyzmq writes and `zmq.auth.load_certificate` reads, so keys
    made before and after read the same."""
    lines = [banner + "metadata", "curve", f'    public-key = "{public_key}"']
    if secret_key is not None:
        lines.append(f'    secret-key = "{secret_key}"')
    return "\n".join(lines) + "\n"


def write_all_or_none(files: list[tuple[Path, int, str]]) -> None:
    """Create each `(path, mode, text)` with `create_new`; if one fails, remove those this call created before it
    raises, so a half-made key pair never stays behind to be mistaken for a whole one."""
    created: list[Path] = []
    try:
        for path, mode, text in files:
            create_new(path, mode, text, created)
    except BaseException:
        for path in created:
            path.unlink(missing_ok=True)
        raise


def create_new(path: Path, mode: int, text: str, created: list[Path]) -> None:
    """Write `text` to a file that must not exist yet, with `mode` from the start (never wider, the umask can only
    narrow it). `path` is appended to `created` as soon as it exists, so a failed write can be undone."""
    descriptor = os.open(path, _CREATE_FLAGS, mode)
    created.append(path)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)


def _print_next_steps(public: Path, secret: Path) -> None:
    print(f"public key: {public}")
    print(f"secret key: {secret} (keep it private)")
    print(
        "For the server: start it with --curve-secret-key " + str(secret) + " and give each client its public key"
        f" {public.name}.\nFor a client: copy {public.name} into the server's --curve-clients folder; the client"
        f" connects with its own {secret.name} and the server's public key."
    )


def _refuse_to_overwrite(paths: list[str]) -> int:
    print(f"error: refusing to overwrite {', '.join(paths)}; choose another --name or folder", file=sys.stderr)
    return BAD_INPUT
