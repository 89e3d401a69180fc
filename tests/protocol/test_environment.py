"""Engines start with an environment we chose: the parent's variables, minus those a host program set for itself."""

from __future__ import annotations

import os

from protocol.environment import engine_environment


def test_the_host_colour_configuration_is_left_out_and_everything_else_kept():
    parent = {"OCIO": "/blender/datafiles/colormanagement/config.ocio", "PATH": "/usr/bin", "MASKPROP_X": "1"}

    assert engine_environment(parent) == {"PATH": "/usr/bin", "MASKPROP_X": "1"}
    assert "OCIO" in parent  # the parent's mapping is not changed


def test_by_default_it_is_a_copy_of_this_process_environment(monkeypatch):
    monkeypatch.setenv("OCIO", "/somewhere/config.ocio")

    environment = engine_environment()

    assert "OCIO" not in environment
    assert environment["PATH"] == os.environ["PATH"]
    environment["PATH"] = "changed"
    assert os.environ["PATH"] != "changed"
