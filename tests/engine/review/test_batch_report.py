"""`report.html` of a batch: gathered from real shot folders, rendered, and read back from a real browser."""

from __future__ import annotations

import errno
import html
import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from engine.choices import REVIEW_BELOW
from engine.cli import main
from engine.review.batch_report import REVIEW_FILES, ShotRow, duration, gather_rows, render_report, write_report
from engine.shots.batch import BatchOptions, run_job
from engine.shots.job_file import read_job
from engine.shots.stop_request import StopRequest
from protocol.confidence_table import parse_table_json

FRAMES = 6
HOSTILE_NAME = "<script>document.body.dataset.pwned=1</script>"
HOSTILE_ERROR = '<img src=x onerror="document.body.dataset.pwned=2"> & out of luck'
# Shot name -> output folder, relative to the job file; "sh 010" checks that links are URL-quoted.
SHOTS = {"done": "out/sh 010", "also": "out/sh015", "cut": "out/sh020", "todo": "out/sh030", HOSTILE_NAME: "out/sh040"}
FAILURES = {HOSTILE_NAME: HOSTILE_ERROR}
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary on PATH (Debian: apt-get install chromium)"
)


class StopAfter(StopRequest):
    """Asks the batch to stop after `steps` questions, as a farm's SIGTERM part-way through a shot does."""

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.left = steps

    def __call__(self) -> bool:
        self.left -= 1
        return self.left < 0


@pytest.fixture(scope="module")
def job(tmp_path_factory, write_small_shot, parity_checkpoint) -> Path:
    """A job of five shots after real batch runs: `done` finished with its review, `also` finished with a review
    missing its plot and movie, `cut` stopped part-way, `todo` and the hostile one never started."""
    folder = tmp_path_factory.mktemp("report")
    text = f'[defaults]\ncheckpoint = "{parity_checkpoint.as_posix()}"\nmax_size = 0\n'
    for seed, (name, out) in enumerate(SHOTS.items()):
        write_small_shot(folder / f"plate{seed}", FRAMES, seed=seed)
        text += f"\n[[shot]]\nname = {json.dumps(name)}\nframes = 'plate{seed}/frames'\nmask = 'plate{seed}/mask.png'\n"
        text += f"out = '{out}'\n"
    path = folder / "job.toml"
    path.write_text(text)
    jobfile = read_job(path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert run_job(jobfile, jobfile.select(["done", "also"]), StopRequest(), BatchOptions(show_progress=False)) == 0
        assert run_job(jobfile, jobfile.select(["cut"]), StopAfter(3), BatchOptions(show_progress=False)) != 0
    finally:
        torch.set_num_threads(threads)
    for partial in ("confidence.png", "preview.mp4"):  # a review that lost two of its files
        (folder / SHOTS["also"] / "review" / partial).unlink()
    return path


@pytest.fixture(scope="module")
def rows(job) -> dict[str, ShotRow]:
    return {row.name: row for row in gather_rows(read_job(job), FAILURES)}


def frame_confidences(out: Path) -> dict[str, float]:
    """Each frame's confidence read back from `confidence.json`: its least confident object's."""
    frames: dict[str, float] = {}
    for row in parse_table_json((out / "confidence.json").read_text(), "table"):
        frames[row.name] = min(frames.get(row.name, 1.0), row.confidence)
    return frames


def test_each_shot_has_the_status_its_folder_and_the_failures_give(job, rows):
    assert {name: row.status for name, row in rows.items()} == {
        "done": "finished",
        "also": "finished",
        "cut": "stopped",
        "todo": "not started",
        HOSTILE_NAME: "failed",
    }
    assert rows[HOSTILE_NAME].message == HOSTILE_ERROR
    assert [row.name for row in gather_rows(read_job(job))] == list(SHOTS)  # in the job's order


def test_a_finished_shot_shows_its_table_time_and_review_files(job, rows):
    row, out = rows["done"], job.parent / SHOTS["done"]
    frames = frame_confidences(out)
    assert (row.frames, row.objects) == (FRAMES, 2)
    assert row.seconds == json.loads((out / "run.json").read_text())["seconds"] > 0
    assert row.lowest == min(frames.values())
    assert frames[row.lowest_frame] == row.lowest
    assert row.to_review == tuple(name for name, value in frames.items() if value < REVIEW_BELOW)
    assert row.review == {key: out / "review" / name for key, name in REVIEW_FILES.items()}
    assert rows["also"].review == {"sheet": job.parent / SHOTS["also"] / "review" / "contact_sheet.png"}
    assert row.worst == out / "review" / "worst.png"


def test_a_stopped_shot_counts_its_written_frames_and_has_no_confidence_yet(rows):
    row = rows["cut"]
    assert 0 < row.frames < FRAMES
    assert row.objects == 2
    assert (row.seconds, row.lowest, row.to_review, row.worst) == (None, None, None, None)
    assert (rows["todo"].frames, rows["todo"].objects, rows["todo"].review) == (0, 0, {})


def test_an_unreadable_confidence_table_is_said_on_its_row(tmp_path, job):
    out = tmp_path / "out"
    shutil.copytree(job.parent / SHOTS["done"], out)
    (out / "confidence.json").write_text("{")
    (tmp_path / "job.toml").write_text("[[shot]]\nname = 'x'\nframes = 'f'\nmask = 'm.png'\nout = 'out'\n")
    row = gather_rows(read_job(tmp_path / "job.toml"))[0]
    assert (row.status, row.lowest) == ("finished", None)
    assert "is not valid JSON" in row.message


def test_the_page_escapes_what_it_read_and_embeds_the_worst_frame(job, rows):
    page = render_report(list(rows.values()), "<b>ep01</b>", job.parent)
    assert "<script>document" not in page and "<img src=x" not in page and "<b>ep01" not in page
    assert "&lt;script&gt;document.body.dataset.pwned=1&lt;/script&gt;" in page
    assert page.count("data:image/png;base64,") == 2  # done's and also's worst frames
    assert 'href="out/sh%20010/review/contact_sheet.png"' in page
    assert "http" not in page  # nothing to fetch


@pytest.mark.parametrize(
    ("seconds", "shown"), [(12.34, "12.3 s"), (59.96, "60.0 s"), (245, "4 min 05 s"), (7620, "2 h 07 min")]
)
def test_a_run_time_reads_as_a_person_says_it(seconds, shown):
    assert duration(seconds) == shown


class RenderedTable(HTMLParser):
    """The rows of a report's table as a browser left them: each cell's sort key and text, and the body's
    attributes (a script injected through a shot name would have set one)."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.headers: list[str] = []
        self.rows: dict[str, list[tuple[str, str]]] = {}
        self.body: dict[str, str | None] = {}
        self._cell: list[str] | None = None
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "body":
            self.body = values
        elif tag == "th" and "aria-sort" in values:
            self.headers.append(values["aria-sort"] or "")
        elif tag == "tr" and "data-shot" in values:
            self.rows[values["data-shot"] or ""] = []
        elif tag in ("td", "th") and "data-sort" in values:
            self._cell = [values["data-sort"] or "", ""]
        elif tag == "img" and self._cell is not None:
            self._cell[1] += f"[img {(values['src'] or '').split(',')[0]}]"

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell[1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            list(self.rows.values())[-1].append((self._cell[0], self._cell[1]))
            self._cell = None


def chromium(tmp_path: Path, *args: str) -> str:
    """stdout of headless Chromium with a profile of its own."""
    command = [
        CHROMIUM or "",
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    done = subprocess.run([*command, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def report(job, rows) -> Path:
    return write_report(job.parent / "with-failures.html", list(rows.values()), "ep01")  # not the command's file


@needs_chromium
def test_the_browser_shows_every_shot_with_its_folders_values_worst_first(tmp_path, report, rows):
    table = RenderedTable(chromium(tmp_path, "--dump-dom", report.as_uri()))
    assert "data-pwned" not in table.body  # neither the name nor the error ran
    finished = sorted((rows["done"], rows["also"]), key=lambda row: row.lowest or 0.0)
    assert list(table.rows)[:2] == [row.name for row in finished]  # the least confident shot first
    assert table.headers[5] == "ascending" and table.headers.count("none") == 8
    cells = {name: [text.strip() for _, text in row] for name, row in table.rows.items()}
    done = rows["done"]
    assert cells["done"][:5] == ["done", "finished", str(FRAMES), "2", duration(rows["done"].seconds)]
    assert cells["done"][5] == f"{done.lowest:.2f}frame {done.lowest_frame}"
    assert cells["done"][6].startswith(str(len(done.to_review or ())))
    assert cells["done"][7] == "[img data:image/png;base64]"
    assert cells["done"][8] == "sheet · plot · movie"
    assert cells["also"][8] == "sheet · no plot · no movie"
    assert cells["cut"][1:4] == ["stopped", str(rows["cut"].frames), "2"]
    assert cells["cut"][4:8] == ["", "", "", "none"]
    assert cells["todo"][1:3] == ["not started", "0"]
    assert cells[HOSTILE_NAME][:2] == [HOSTILE_NAME, "failed" + HOSTILE_ERROR]


# Loads the report in a frame, clicks every column's header twice, and writes each resulting order (the sort keys
# of every row) and every header's aria-sort into the page, for --dump-dom to hand back.
CLICKER = """<!DOCTYPE html><html><body><pre id="result"></pre><iframe id="report" src="{src}"></iframe><script>
document.getElementById("report").addEventListener("load", (event) => {{
  const page = event.target.contentDocument;
  const state = (column) => ({{
    column,
    keys: [...page.querySelectorAll("tbody tr")].map((row) => [...row.cells].map((c) => c.dataset.sort)),
    sort: [...page.querySelectorAll("thead th")].map((th) => th.getAttribute("aria-sort")),
  }});
  const states = [state(null)];
  page.querySelectorAll("thead button").forEach((button, column) => {{
    for (const _ of [1, 2]) {{ button.click(); states.push(state(column)); }}
  }});
  document.getElementById("result").textContent = JSON.stringify(states);
}});
</script></body></html>
"""


def _in_order(keys: list[str], numeric: bool, ascending: bool) -> bool:
    """Whether sort keys are in order, blanks last."""
    filled = [float(key) if numeric else key for key in keys if key != ""]
    blanks_last = keys[len(filled) :] == [""] * (len(keys) - len(filled))
    return blanks_last and filled == sorted(filled, reverse=not ascending)


@needs_chromium
def test_clicking_a_header_sorts_by_it_both_ways_in_the_browser(tmp_path, report):
    wrapper = tmp_path / "click.html"
    wrapper.write_text(CLICKER.format(src=report.as_uri()))
    dom = chromium(
        tmp_path, "--allow-file-access-from-files", "--virtual-time-budget=5000", "--dump-dom", wrapper.as_uri()
    )
    states = json.loads(html.unescape(dom.split('<pre id="result">')[1].split("</pre>")[0]))
    assert len(states) == 1 + 2 * 9
    for number, state in enumerate(states[1:]):
        column, ascending = state["column"], number % 2 == 0
        assert state["sort"] == [
            "ascending" if ascending and c == column else "descending" if c == column else "none" for c in range(9)
        ]
        keys = [row[column] for row in state["keys"]]
        if column == 0:  # names: the browser's collation, so only check that a second click reverses the first
            assert ascending or keys == [row[0] for row in reversed(states[number]["keys"])]
        else:
            assert _in_order(keys, numeric=True, ascending=ascending), (column, keys)
    assert sorted(map(str, states[-1]["keys"])) == sorted(map(str, states[0]["keys"]))  # the same rows throughout


@needs_chromium
def test_a_screenshot_of_the_report_is_a_page_not_a_blank(tmp_path, report):
    shot = tmp_path / "report.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1400,900", report.as_uri())
    image = cv2.imread(str(shot))
    assert image is not None and image.shape == (900, 1400, 3)
    assert image.std() > 10 and len(np.unique(image.reshape(-1, 3), axis=0)) > 50


def test_the_report_command_writes_beside_the_job_file_and_prints_its_path(job, capsys):
    assert main(["report", str(job)]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path == job.parent / "report.html"
    assert "<h1>job.toml: batch report</h1>" in path.read_text()
    assert not [p for p in job.parent.iterdir() if p.name.startswith(".report")]  # no temporary file left


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["missing.toml"], "job file missing.toml does not exist"),
        (["{job}", "--out", "{tmp}/no/such/folder/report.html"], "does not exist"),
    ],
)
def test_a_missing_job_file_or_output_folder_is_one_error_line_and_exit_2(job, tmp_path, capsys, arguments, words):
    argv = [value.format(job=job, tmp=tmp_path) for value in arguments]
    assert main(["report", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and words in err


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_folder_is_exit_2(job, tmp_path, capsys):
    folder = tmp_path / "locked"
    folder.mkdir(mode=0o555)
    assert main(["report", str(job), "--out", str(folder / "report.html")]) == 2
    assert "is not writable" in capsys.readouterr().err


def test_a_full_disk_is_exit_75_so_a_farm_retries(job, tmp_path, capsys, monkeypatch):
    def full(path: Path, data: bytes) -> Path:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("engine.io.atomic.replace_atomically", full)
    assert main(["report", str(job), "--out", str(tmp_path / "report.html")]) == 75
    assert "No space left on device" in capsys.readouterr().err
