"""OpenJD path mapping of a job file's paths: the rules as openjd-sessions applies them, bad rules files, and a job
written with another machine's roots run for real by `maskprop batch` and by `openjd run`."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest

from engine.exit_codes import run_reporting_errors
from engine.io import InputError
from engine.shots.job_file import read_job
from engine.shots.path_mapping import VERSION, read_path_mapping
from tests.engine.shots.test_batch import batch
from tests.farm.test_openjd import TEMPLATE, openjd
from tests.paths import REPO

FRAMES = 3


def rules_json(*rules: tuple[str, str, Path]) -> str:
    """Rules as the OpenJD runtime writes them, from `(format, source, destination)` per rule."""
    entries = [
        {"source_path_format": kind, "source_path": source, "destination_path": str(destination)}
        for kind, source, destination in rules
    ]
    return json.dumps({"version": VERSION, "path_mapping_rules": entries})


def write_rules(path: Path, *rules: tuple[str, str, Path]) -> Path:
    path.write_text(rules_json(*rules))
    return path


@pytest.fixture
def rules(tmp_path) -> Path:
    """`P:\\shots` and `/fake/root` on this machine, in `tmp_path`."""
    return write_rules(
        tmp_path / "rules.json",
        ("WINDOWS", "P:\\shots", tmp_path / "shots"),
        ("POSIX", "/fake/root", tmp_path / "root"),
    )


@pytest.mark.parametrize(
    "written",
    ["P:\\shots\\sh010\\plate.####.exr", "p:\\SHOTS\\sh010\\plate.####.exr", "P:/shots/sh010/plate.####.exr"],
)
def test_windows_sources_match_drive_letters_in_any_case_with_either_separator(rules, tmp_path, written):
    assert read_path_mapping(rules).map(written) == str(tmp_path / "shots" / "sh010" / "plate.####.exr")


@pytest.mark.parametrize(
    ("written", "mapped"),
    [
        ("/fake/root/sh010/mask.png", "root/sh010/mask.png"),
        ("/fake/root", "root"),
        ("/fake/rootless/mask.png", None),  # whole components only
        ("/FAKE/root/mask.png", None),  # POSIX paths are case-sensitive
        ("Q:\\shots\\mask.png", None),
    ],
)
def test_posix_sources_match_whole_components_case_sensitively(rules, tmp_path, written, mapped):
    assert read_path_mapping(rules).map(written) == (written if mapped is None else str(tmp_path / mapped))


@pytest.mark.parametrize("order", [1, -1])
def test_the_most_specific_rule_wins_whatever_the_files_order(tmp_path, order):
    given = [("WINDOWS", "P:\\shots", tmp_path / "all"), ("WINDOWS", "P:\\shots\\sh010", tmp_path / "sh010")]
    mapping = read_path_mapping(write_rules(tmp_path / "rules.json", *given[::order]))
    assert mapping.map("P:\\shots\\sh010\\a.png") == str(tmp_path / "sh010" / "a.png")
    assert mapping.map("P:\\shots\\sh020\\a.png") == str(tmp_path / "all" / "sh020" / "a.png")


def test_relative_paths_are_left_alone_even_by_a_rule_that_would_match(tmp_path):
    mapping = read_path_mapping(write_rules(tmp_path / "rules.json", ("POSIX", "shots", tmp_path / "elsewhere")))
    assert mapping.map("shots/sh010/frames") == "shots/sh010/frames"
    assert not mapping.matched


def test_no_rules_need_no_openjd_sessions(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "openjd.sessions", None)  # as if the `farm` extra were not installed
    (tmp_path / "empty.json").write_text("{}")  # what the runtime writes for a session without rules
    for mapping in (read_path_mapping(None), read_path_mapping(tmp_path / "empty.json")):
        assert mapping.rules == () and mapping.map("P:\\shots\\a.png") == "P:\\shots\\a.png"


def test_rules_without_openjd_sessions_say_how_to_install_it(rules, monkeypatch):
    monkeypatch.setitem(sys.modules, "openjd.sessions", None)
    with pytest.raises(InputError, match=r"pip install 'maskprop\[farm\]'"):
        read_path_mapping(rules)


JOB = """\
[defaults]
checkpoint = '/fake/root/weights/parity.pth'
ocio_config = 'P:\\shots\\studio.ocio'

[[shot]]
name = "sh010"
frames = 'P:\\shots\\sh010\\plate.####.png'
mask = 'p:/Shots/sh010/mask.png'
out = '/fake/root/roto/sh010'

[[shot]]
name = "sh020"
frames = "sh020/frames"
masks = { 0 = '/fake/root/sh020/a.png', 4 = "sh020/b.png" }
out = "roto/sh020"
"""


def test_a_job_maps_every_path_as_written_then_resolves_relative_ones(rules, tmp_path):
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "job.toml").write_text(JOB)
    job = read_job(tmp_path / "job" / "job.toml", path_mapping_rules=rules)
    sh010, sh020 = (shot.spec for shot in job.shots)
    shots, root, here = tmp_path / "shots", tmp_path / "root", tmp_path / "job"
    assert job.checkpoint == str(root / "weights" / "parity.pth")
    assert sh010.view.config == sh020.view.config == str(shots / "studio.ocio")
    assert (sh010.frames, sh010.masks, sh010.out) == (
        str(shots / "sh010" / "plate.####.png"),
        {0: str(shots / "sh010" / "mask.png")},
        str(root / "roto" / "sh010"),
    )
    assert (sh020.frames, sh020.masks, sh020.out) == (
        str(here / "sh020" / "frames"),
        {0: str(root / "sh020" / "a.png"), 4: str(here / "sh020" / "b.png")},
        str(here / "roto" / "sh020"),
    )


def test_the_command_lines_checkpoint_and_config_are_mapped_too(rules, tmp_path):
    (tmp_path / "job.toml").write_text(JOB.split("\n\n", 1)[1])  # the shots alone, without [defaults]
    job = read_job(
        tmp_path / "job.toml", "/fake/root/cli.ocio", checkpoint="P:\\shots\\w.pth", path_mapping_rules=rules
    )
    assert job.checkpoint == str(tmp_path / "shots" / "w.pth")
    assert job.shots[0].spec.view.config == str(tmp_path / "root" / "cli.ocio")


def test_rules_that_map_none_of_the_jobs_paths_are_a_warning_naming_the_file(rules, tmp_path, caplog):
    other = write_rules(tmp_path / "other.json", ("WINDOWS", "Q:\\elsewhere", tmp_path))
    (tmp_path / "job.toml").write_text(JOB)
    with caplog.at_level(logging.WARNING, logger="engine"):
        read_job(tmp_path / "job.toml", path_mapping_rules=rules)
        assert caplog.records == []
        read_job(tmp_path / "job.toml", path_mapping_rules=other)
    assert [record.levelno for record in caplog.records] == [logging.WARNING]
    assert str(other) in caplog.records[0].getMessage()


def rule(**fields: object) -> str:
    given = {"source_path_format": "POSIX", "source_path": "/fake/root", "destination_path": "/tmp", **fields}
    return json.dumps({"version": VERSION, "path_mapping_rules": [{k: v for k, v in given.items() if v is not None}]})


BAD_RULES = [
    pytest.param(None, "does not exist", id="missing"),
    pytest.param("{'version': 1}", "is not JSON", id="not-json"),
    pytest.param('["pathmapping-1.0"]', "must be a JSON object", id="not-an-object"),
    pytest.param(rule().replace(VERSION, "pathmapping-2.0"), "'version' is 'pathmapping-2.0'", id="version"),
    pytest.param('{"path_mapping_rules": []}', "'version' is None", id="no-version"),
    pytest.param(json.dumps({"version": VERSION, "path_mapping_rules": {}}), "must be a list", id="rules-not-list"),
    pytest.param(rule(destination_path=None), "requires the following fields", id="missing-field"),
    pytest.param(rule(comment="x"), "Unsupported fields", id="extra-field"),
    pytest.param(rule(source_path_format="MACOS"), "'MACOS' is not a valid PathFormat", id="unknown-format"),
    pytest.param(rule(source_path=3), "rule #1 must be an object of strings", id="not-a-string"),
]


@pytest.mark.parametrize(("text", "words"), BAD_RULES)
def test_a_bad_rules_file_is_exit_code_2_and_one_line_naming_it(tmp_path, capsys, text, words):
    (tmp_path / "job.toml").write_text(JOB)
    rules = tmp_path / "rules.json"
    if text is not None:
        rules.write_text(text)

    def read() -> int:
        read_job(tmp_path / "job.toml", path_mapping_rules=rules)
        return 0

    assert run_reporting_errors(read) == 2  # how `batch` reports it
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 1 and errors[0].startswith(f"error: path mapping rules file {rules}") and words in errors[0]


@pytest.fixture
def fake_rooted_job(tmp_path, write_small_shot) -> Path:
    """A job file in `tmp_path/job` whose plate and mask are under `P:\\shots`, output under /fake/root and checkpoint
    under /fake/weights."""
    write_small_shot(tmp_path / "shots" / "sh010", FRAMES)
    text = (
        "[defaults]\ncheckpoint = '/fake/weights/parity.pth'\nmax_size = 0\n\n[[shot]]\nname = \"sh010\"\n"
        "frames = 'P:\\shots\\sh010\\frames'\nmask = 'P:\\shots\\sh010\\mask.png'\nout = '/fake/root/roto/sh010'\n"
    )
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "job.toml").write_text(text)
    return tmp_path / "job" / "job.toml"


def fake_roots(tmp_path: Path, checkpoint: Path) -> list[tuple[str, str, Path]]:
    return [
        ("WINDOWS", "P:\\shots", tmp_path / "shots"),
        ("POSIX", "/fake/root", tmp_path),
        ("POSIX", "/fake/weights", checkpoint.parent),
    ]


def assert_propagated(out: Path) -> None:
    assert len(list((out / "labels").glob("*.png"))) == FRAMES
    assert (out / "confidence.json").is_file()


def test_batch_runs_a_job_written_with_another_machines_roots(fake_rooted_job, parity_checkpoint, one_thread_env):
    tmp_path = fake_rooted_job.parent.parent
    rules = write_rules(tmp_path / "rules.json", *fake_roots(tmp_path, parity_checkpoint))
    fake_rooted_job.write_text(fake_rooted_job.read_text().replace("parity.pth", "nothing.pth"))
    override = "/fake/weights/parity.pth"  # a path of the submitter's machine too, so it is mapped as well
    done = batch(str(fake_rooted_job), "--path-mapping-rules", str(rules), "--checkpoint", override, env=one_thread_env)
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr
    assert_propagated(tmp_path / "roto" / "sh010")


@pytest.mark.slow  # a session with its engine: about 10 s on two busy cores
def test_the_farm_template_runs_a_job_written_with_another_machines_roots(
    fake_rooted_job, parity_checkpoint, one_thread_env
):
    """The runtime maps the template's PATH parameters itself and names its rules file to every command, and the
    engine maps the job file's paths with it: the check, the session's engine and the task all see this machine's
    folders."""
    tmp_path = fake_rooted_job.parent.parent
    parameters = {
        "JobFile": "/fake/root/job/job.toml",
        "InputFolder": "/fake/root/shots",  # openjd run makes a Windows path relative to its folder first
        "OutputFolder": "/fake/root/roto",
        "Shots": ["sh010"],
        "Python": sys.executable,
    }
    done = openjd(
        *("run", str(TEMPLATE), "--job-param", json.dumps(parameters)),
        *("--path-mapping-rules", rules_json(*fake_roots(tmp_path, parity_checkpoint))),
        env={**one_thread_env, "PYTHONPATH": str(REPO)},  # this checkout's engine, wherever an install points
        cwd=tmp_path,
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    assert "Session ended successfully" in log and "no model to load" in log
    assert_propagated(tmp_path / "roto" / "sh010")
