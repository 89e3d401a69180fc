"""Starting `engine serve` as a child: only its `serving on` line is read, whatever else reaches stdout first."""

from __future__ import annotations

import pytest

from engine.server.launch import ServerProcess, ServerStartError


def test_lines_printed_before_serving_on_are_skipped(parity_checkpoint, engine_env, tmp_path):
    # A library that prints on import (as Blender's does: "Using OCIO=...") runs before the server's own line.
    (tmp_path / "sitecustomize.py").write_text("print('Using OCIO=/elsewhere/config.ocio', flush=True)\n")
    environment = {**engine_env, "PYTHONPATH": str(tmp_path)}
    args = ["--bind", "tcp://127.0.0.1:0", "--checkpoint", str(parity_checkpoint), "--device", "cpu"]

    with ServerProcess(args, environment, tmp_path / "stderr.log") as server:
        assert server.endpoint.startswith("tcp://127.0.0.1:")
        assert server.alive


def test_a_server_that_exits_instead_is_reported_with_what_it_printed(engine_env, tmp_path):
    (tmp_path / "sitecustomize.py").write_text("print('a library said this', flush=True)\n")
    environment = {**engine_env, "PYTHONPATH": str(tmp_path)}

    with pytest.raises(ServerStartError, match="a library said this"):
        ServerProcess(["--checkpoint", str(tmp_path / "missing.pth")], environment, tmp_path / "stderr.log")
