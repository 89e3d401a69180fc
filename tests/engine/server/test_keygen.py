"""`keygen` never lets the secret key be read by anyone else, never writes through a planted link, never
overwrites a key, and leaves nothing behind when it fails."""

from __future__ import annotations

import argparse
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import zmq.auth
from zmq.utils import z85

from engine.commands import keygen

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes and symlinks")


def keygen_command(*args: str, environment: dict[str, str], umask: int | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "engine", "keygen", *args]
    start = None if umask is None else (lambda: os.umask(umask))
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=environment, preexec_fn=start)


def assert_refused(done: subprocess.CompletedProcess, named: Path) -> None:
    """Exit code 2 and exactly one line on stderr, an `error:` that names the file in the way."""
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and str(named) in lines[0], done.stderr
    assert done.stdout == ""


def run_in_process(folder: Path, name: str) -> int:
    return keygen.run(argparse.Namespace(dir=folder, name=name))


@posix_only
def test_the_files_are_created_with_their_final_modes_and_load_as_certificates(tmp_path, engine_env):
    done = keygen_command(str(tmp_path), "--name", "alice", environment=engine_env, umask=0)
    assert done.returncode == 0, done.stderr
    public, secret = tmp_path / "alice.key", tmp_path / "alice.key_secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE(public.stat().st_mode) == 0o644  # not the 666 a plain open gives under umask 0
    public_key, no_secret = zmq.auth.load_certificate(str(public))
    same_public_key, secret_key = zmq.auth.load_certificate(str(secret))
    assert no_secret is None and same_public_key == public_key
    assert len(public_key) == len(secret_key) == 40  # Z85 of 32 bytes
    assert z85.decode(public_key) == z85.decode(zmq.curve_public(secret_key))


def test_the_secret_is_created_exclusively_with_mode_600_never_wider(tmp_path, monkeypatch):
    real_open, opened = os.open, []

    def recording_open(path, flags, mode=0o777, *args, **kwargs):
        opened.append((Path(path).name, flags, mode))
        return real_open(path, flags, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", recording_open)
    assert run_in_process(tmp_path, "bob") == 0
    modes = {name: mode for name, flags, mode in opened if name.startswith("bob.")}
    assert modes == {"bob.key": 0o644, "bob.key_secret": 0o600}
    required = os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    assert all(flags & required == required for name, flags, mode in opened if name.startswith("bob."))


@posix_only
def test_a_planted_dangling_symlink_is_refused_and_its_target_never_created(tmp_path, engine_env):
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "evil.key_secret").symlink_to(keys / "victim")
    done = keygen_command(str(keys), "--name", "evil", environment=engine_env)
    assert_refused(done, keys / "evil.key_secret")
    assert not (keys / "victim").exists()
    assert sorted(path.name for path in keys.iterdir()) == ["evil.key_secret"]


@posix_only
def test_a_symlink_planted_after_the_check_is_still_refused_and_the_public_key_removed(tmp_path, monkeypatch, capsys):
    """Exclusive creation itself refuses the link, not only the look before it; the half-made pair is undone."""
    (tmp_path / "evil.key_secret").symlink_to(tmp_path / "victim")
    monkeypatch.setattr(os.path, "lexists", lambda path: False)
    assert run_in_process(tmp_path, "evil") == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("error:") and "evil.key_secret" in error
    assert not (tmp_path / "victim").exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["evil.key_secret"]


@pytest.mark.parametrize("which", ["alice.key", "alice.key_secret"])
def test_an_existing_key_file_is_not_overwritten_and_nothing_is_written(tmp_path, engine_env, which):
    existing = tmp_path / which
    existing.write_text("a key made earlier\n")
    done = keygen_command(str(tmp_path), "--name", "alice", environment=engine_env)
    assert_refused(done, existing)
    assert existing.read_text() == "a key made earlier\n"
    assert [path.name for path in tmp_path.iterdir()] == [which]


def test_a_folder_in_the_place_of_the_secret_key_is_refused(tmp_path, engine_env):
    (tmp_path / "alice.key_secret").mkdir()
    done = keygen_command(str(tmp_path), "--name", "alice", environment=engine_env)
    assert_refused(done, tmp_path / "alice.key_secret")
    assert [path.name for path in tmp_path.iterdir()] == ["alice.key_secret"]
    assert not any((tmp_path / "alice.key_secret").iterdir())


def test_a_failure_writing_the_secret_removes_the_public_key_written_before_it(tmp_path, monkeypatch, capsys):
    real_open = os.open

    def failing_open(path, flags, mode=0o777, *args, **kwargs):
        if Path(path).name == "carol.key_secret":
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", failing_open)
    assert run_in_process(tmp_path, "carol") == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("error: cannot write keys")
    assert list(tmp_path.iterdir()) == []
