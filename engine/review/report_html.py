"""The page around a report's table: its style, its column sorter and the links and pictures in its cells.

A report is opened from a farm's file share, mailed, or copied next to the shots, so it must be one file that
works from `file://` with nothing to fetch: the style and the sorter are inline, pictures are `data:` URIs, and
links are relative to the report's own folder so that a folder moved whole keeps working.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

STYLE = """
:root { color-scheme: light; --line: #d9dce1; --muted: #5f6670; }
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #1d2126; }
h1 { font-size: 20px; margin: 0 0 4px; }
.summary { color: var(--muted); margin: 0 0 16px; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid var(--line); padding: 6px 10px; text-align: left; vertical-align: middle; }
thead th { position: sticky; top: 0; background: #f4f5f7; white-space: nowrap; }
thead button { font: inherit; font-weight: 600; border: 0; background: none; padding: 0; cursor: pointer; }
thead th[aria-sort="ascending"] button::after { content: " \\25B2"; }
thead th[aria-sort="descending"] button::after { content: " \\25BC"; }
tbody tr:hover { background: #f8f9fb; }
tbody th { font-weight: 600; max-width: 16em; overflow-wrap: anywhere; }
.number { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.number small { white-space: normal; }
.files { white-space: nowrap; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600;
  color: #fff; white-space: nowrap; }
.finished { background: #2e7d32; }
.stopped { background: #b26a00; }
.not-started { background: #78808a; }
.failed { background: #c62828; }
.low { color: #c62828; font-weight: 600; }
small, .note { display: block; color: var(--muted); font-size: 12px; }
.note { max-width: 28em; overflow-wrap: anywhere; }
img { display: block; max-height: 72px; max-width: 128px; border: 1px solid var(--line); }
.absent { color: #a3a9b1; }
"""

# Sorts the body's rows by a column's `data-sort` keys when its header is clicked: numbers numerically, text
# alphabetically, blank keys last in either direction; a second click reverses. `aria-sort` holds the state.
SORTER = """
(() => {
  const table = document.querySelector("table");
  const headers = [...table.tHead.rows[0].cells];
  const key = (row, column) => row.cells[column].dataset.sort;
  function sortBy(column) {
    const header = headers[column];
    const ascending = header.getAttribute("aria-sort") !== "ascending";
    const numeric = header.dataset.type === "number";
    const rows = [...table.tBodies[0].rows];
    rows.sort((a, b) => {
      const x = key(a, column), y = key(b, column);
      if (x === "" || y === "") return (x === "") - (y === "");
      const order = numeric ? Number(x) - Number(y) : x.localeCompare(y);
      return ascending ? order : -order;
    });
    for (const other of headers) other.setAttribute("aria-sort", "none");
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    table.tBodies[0].append(...rows);
  }
  headers.forEach((header, column) => header.querySelector("button").addEventListener("click", () => sortBy(column)));
})();
"""

# Larger pictures are linked rather than embedded, so that a job of many shots keeps a report that opens at once.
EMBED_LIMIT = 1 << 20


def page(title: str, summary: str, head: str, rows: Sequence[str]) -> str:
    """The whole document; `title` and `summary` are plain text, `head` and `rows` are markup already escaped."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f'<h1>{html.escape(title)}</h1>\n<p class="summary">{html.escape(summary)}</p>\n'
        f"<table>\n<thead>\n<tr>{head}</tr>\n</thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>\n"
        f"<script>{SORTER}</script>\n</body>\n</html>\n"
    )


def header(label: str, kind: str, sort: str = "none") -> str:
    """A column's header: a button that sorts by it; `kind` is "number" or "text"."""
    button = f'<button type="button">{html.escape(label)}</button>'
    return f'<th scope="col" data-type="{kind}" aria-sort="{sort}">{button}</th>'


def cell(markup: str, sort: str | float | None, classes: str = "", tag: str = "td") -> str:
    """A table cell holding `markup`, sorted by `sort` (None: blank, sorted last)."""
    key = "" if sort is None else str(sort)
    kind = f' class="{classes}"' if classes else ""
    scope = ' scope="row"' if tag == "th" else ""
    return f'<{tag}{scope}{kind} data-sort="{html.escape(key)}">{markup}</{tag}>'


def link(target: Path, folder: Path, label: str) -> str:
    """A link to `target` relative to `folder`, the report's; a file URI where no relative path exists (another
    drive on Windows)."""
    try:
        href = quote(Path(os.path.relpath(target, folder)).as_posix())
    except ValueError:
        href = target.absolute().as_uri()
    return f'<a href="{html.escape(href)}">{html.escape(label)}</a>'


def png_image(data: bytes, alt: str) -> str:
    """A PNG embedded in the page as a `data:` URI, so the report stays one file."""
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return f'<img src="{uri}" alt="{html.escape(alt)}">'
