"""The training logs survive a run killed while it resumes: the rewrite that drops stale rows is atomic."""

from __future__ import annotations

import csv

import pytest

from engine.train.log import CsvLog, read_log

COLUMNS = ["step", "loss"]


def test_resuming_drops_the_rows_after_the_checkpoint(tmp_path):
    path = tmp_path / "loss.csv"
    log = CsvLog(path, COLUMNS)
    for step in range(1, 5):
        log.write({"step": step, "loss": 1 / step})
    CsvLog(path, COLUMNS, resume_after=2).write({"step": 3, "loss": 0.1})
    assert [row["step"] for row in read_log(path)] == ["1", "2", "3"]


def test_a_run_killed_while_it_resumes_leaves_the_old_log_whole(tmp_path, monkeypatch):
    path = tmp_path / "loss.csv"
    log = CsvLog(path, COLUMNS)
    for step in range(1, 5):
        log.write({"step": step, "loss": 1 / step})
    before = path.read_bytes()

    def killed(self, rows):
        raise KeyboardInterrupt

    monkeypatch.setattr(csv.DictWriter, "writerows", killed)
    with pytest.raises(KeyboardInterrupt):
        CsvLog(path, COLUMNS, resume_after=2)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["loss.csv"]
