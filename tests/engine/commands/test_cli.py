"""The command line as a user runs it: a real subprocess, real exit codes."""

import argparse
import json
import logging
import subprocess
import sys
from pathlib import Path

from engine.cli import COMMANDS, build_parser
from protocol import PROTOCOL_VERSION

# Asks for every command's help and makes an argument error, in a fresh interpreter, and says which exit
# codes it got and which of the heavy libraries it loaded meanwhile.
HELP_AND_ERRORS = """
import contextlib, io, json, sys
from engine.cli import COMMANDS, build_parser

parser = build_parser()
argvs = [["--help"], *([name, "--help"] for name in COMMANDS)]
argvs += [["bench", name, "--help"] for name in ("model", "server", "soak")]
argvs += [["propagate", "--frames", "f", "--mask", "m", "--out", "o", "--budget", "0"], ["train"]]
codes = []
for argv in argvs:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            parser.parse_args(argv)
        except SystemExit as exit:
            codes.append(exit.code)
print(json.dumps({"codes": codes, "loaded": sorted(set(sys.modules) & {"torch", "numpy", "cv2"})}))
"""


def run_engine(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "engine", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)


def test_info_reports_the_engine_and_protocol_versions_as_json():
    done = run_engine("info", "--json")
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout)
    assert facts["protocol"] == PROTOCOL_VERSION
    assert facts["torch"].startswith("2.")


def test_version_flag_prints_the_package_version():
    done = run_engine("--version")
    assert done.returncode == 0
    assert done.stdout.startswith("maskprop ")


def test_an_unknown_command_is_a_usage_error_with_exit_code_2():
    done = run_engine("frobnicate")
    assert done.returncode == 2
    assert "invalid choice" in done.stderr


def test_help_and_argument_errors_load_neither_torch_nor_numpy_nor_opencv():
    done = subprocess.run([sys.executable, "-c", HELP_AND_ERRORS], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["codes"] == [0] * (len(COMMANDS) + 4) + [2, 2]
    assert result["loaded"] == []


def _arguments(parser: argparse.ArgumentParser, path: str = "maskprop"):
    """(command path, action) for every argument of `parser` and of its subcommands, at any depth."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _arguments(sub, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction | argparse._VersionAction):
            yield path, action


def test_every_option_says_what_it_does_and_what_it_defaults_to():
    for path, action in _arguments(build_parser()):
        name = f"{path} {'/'.join(action.option_strings) or action.dest}"
        assert action.help and action.help != argparse.SUPPRESS, f"{name} has no help"
        takes_a_value = action.nargs != 0
        if takes_a_value and not action.required:
            assert "default" in action.help, f"{name} does not say its default"


def test_verbose_and_quiet_before_or_after_the_command():
    parser = build_parser()
    shot = ["propagate", "--frames", "f", "--mask", "m", "--out", "o"]
    for flags, level in (([], logging.INFO), (["-v"], logging.DEBUG), (["-q"], logging.WARNING)):
        assert parser.parse_args([*flags, *shot]).log_level == level
        assert parser.parse_args([*shot, *flags]).log_level == level
    assert parser.parse_args(["-q", *shot, "-v"]).log_level == logging.DEBUG  # the one after the command wins


def _propagate_small_shot(folder: Path, write_small_shot, env: dict[str, str], flag: str) -> str:
    """stderr of `propagate` on a tiny shot with the shipped network, with `flag` (-v or -q) after the command."""
    write_small_shot(folder, 3)
    done = run_engine(
        *("propagate", "--frames", str(folder / "frames"), "--mask", str(folder / "mask.png")),
        *("--out", str(folder / "out"), "--device", "cpu", "--precision", "fp32", flag),
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_verbose_adds_debug_lines_to_the_progress(tmp_path, write_small_shot, one_thread_env):
    stderr = _propagate_small_shot(tmp_path, write_small_shot, one_thread_env, "-v")
    assert "debug: checkpoint " in stderr and "the network shipped with the engine" in stderr
    assert "propagate: 3/3 " in stderr
    assert "info: precision fp32 (as asked)" in stderr and "info: propagated 3 frames" in stderr


def test_quiet_leaves_out_progress_and_information(tmp_path, write_small_shot, one_thread_env):
    stderr = _propagate_small_shot(tmp_path, write_small_shot, one_thread_env, "-q")
    assert stderr == ""  # no progress, no precision line, no summary: only warnings and errors would show
    assert (tmp_path / "out" / "labels" / "00002.png").is_file()


def test_keygen_without_a_folder_writes_into_the_config_folder(tmp_path, engine_env):
    done = run_engine("keygen", "--name", "alice", env={**engine_env, "XDG_CONFIG_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    keys = tmp_path / "maskprop" / "keys"
    assert (keys / "alice.key").is_file() and (keys / "alice.key_secret").is_file()


def test_an_unknown_network_configuration_is_one_line_listing_the_known_ones(tmp_path):
    for args in (["bench", "model", "--model", "bogus"], ["train", str(tmp_path / "run"), "--model", "bogus"]):
        done = run_engine(*args)
        assert done.returncode == 2, done.stderr
        [line] = [line for line in done.stderr.splitlines() if "bogus" in line]
        assert "invalid choice: 'bogus'" in line and all(name in line for name in ("afb-urr-r50", "small", "lite0"))
    assert not (tmp_path / "run").exists()


def test_the_model_names_offered_are_the_configurations_there_are():
    from engine.choices import MODEL_NAMES
    from engine.model.config import CONFIGS

    assert tuple(CONFIGS) == MODEL_NAMES
