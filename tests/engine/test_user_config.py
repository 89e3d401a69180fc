"""The config folder: the platform's place, and the `~/.config` file earlier versions read everywhere."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from engine import user_config
from engine.checkpoint_choice import resolve_checkpoint


@pytest.fixture
def elsewhere(tmp_path, monkeypatch) -> Path:
    """A platform whose config folder is not ~/.config (macOS, Windows); returns its maskprop folder."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    platform = tmp_path / "Application Support"
    monkeypatch.setattr(user_config.platformdirs, "user_config_path", lambda app, appauthor: platform / app)
    return platform / "maskprop"


def _write_config(path: Path, checkpoint: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'checkpoint = "{checkpoint}"\n')


@pytest.mark.skipif(sys.platform != "linux", reason="the Linux layout")
def test_on_linux_it_is_xdg_config_home_or_dot_config(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert user_config.config_path() == tmp_path / "xdg" / "maskprop" / "config.toml"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert user_config.config_path() == tmp_path / "home" / ".config" / "maskprop" / "config.toml"
    assert user_config.keys_dir() == tmp_path / "home" / ".config" / "maskprop" / "keys"


def test_the_platforms_file_is_read_when_it_exists(elsewhere, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="engine")
    _write_config(elsewhere / "config.toml", tmp_path / "new.pth")
    _write_config(tmp_path / "home" / ".config" / "maskprop" / "config.toml", tmp_path / "old.pth")
    assert user_config.config_path() == elsewhere / "config.toml"
    assert caplog.records == []


def test_without_it_the_earlier_file_is_read_with_a_note_saying_where_it_belongs(elsewhere, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="engine")
    earlier = tmp_path / "home" / ".config" / "maskprop" / "config.toml"
    checkpoint = tmp_path / "old.pth"
    checkpoint.write_bytes(b"")
    _write_config(earlier, checkpoint)
    assert resolve_checkpoint(None, {}) == checkpoint
    [note] = caplog.records
    assert note.levelno == logging.INFO
    assert str(earlier) in note.getMessage() and str(elsewhere / "config.toml") in note.getMessage()


def test_with_neither_file_the_platforms_place_is_named(elsewhere):
    assert user_config.config_path() == elsewhere / "config.toml"
    assert user_config.keys_dir() == elsewhere / "keys"
