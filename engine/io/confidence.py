"""The confidence table on disk: written as CSV (spreadsheets, farm logs) and JSON (the Blender import, batch
resume), and read back. The row and its JSON form are `protocol.confidence_table`'s, which the add-on shares.

CSV: a header line `frame,name,object,confidence,lost,area`, then one line per row; `lost` is `true`/`false`;
confidence is written with Python's shortest round-trip float repr, so a table reads back exactly.

Readers report a malformed file as an `InputError` naming the file and the line (CSV) or the field (JSON).
Both writes are atomic.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from pathlib import Path

from engine.io.atomic import write_text_atomic
from engine.io.errors import InputError, OutputError
from engine.io.images import read_file_bytes
from protocol.confidence_table import ConfidenceRow, ordered, parse_table_json, table_json

CSV_COLUMNS = ("frame", "name", "object", "confidence", "lost", "area")
_TRUE, _FALSE = ("true", "1"), ("false", "0")


def write_confidence(path: str | os.PathLike[str], rows: Iterable[ConfidenceRow]) -> Path:
    """Write the table as CSV or JSON, chosen by the file's extension (.csv, .json); atomic."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return write_text_atomic(path, confidence_csv(rows))
    if suffix == ".json":
        return write_text_atomic(path, table_json(rows))
    raise OutputError(f"a confidence table is written as .csv or .json, not {path}", path)


def read_confidence(path: str | os.PathLike[str]) -> list[ConfidenceRow]:
    """Read a table written by `write_confidence` (by extension), ordered by frame then object."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise InputError(f"confidence table {path} is neither .csv nor .json", path)
    data = read_file_bytes(path, "confidence table")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"confidence table {path} is not UTF-8 text", path) from error
    if suffix == ".csv":
        return _parse_csv(text, path)
    try:
        return parse_table_json(text, f"confidence table {path}")
    except ValueError as error:
        raise InputError(str(error), path) from error


def confidence_csv(rows: Iterable[ConfidenceRow]) -> str:
    """The CSV text of a table (see the module doc)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in ordered(rows):
        lost = "true" if row.lost else "false"
        writer.writerow((row.frame, row.name, row.object, repr(row.confidence), lost, row.area))
    return buffer.getvalue()


def _parse_csv(text: str, path: Path) -> list[ConfidenceRow]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None or tuple(column.strip() for column in header) != CSV_COLUMNS:
        raise InputError(f"confidence table {path} does not start with the header {','.join(CSV_COLUMNS)}", path)
    rows = []
    for fields in reader:
        if not fields:
            continue
        where = f"confidence table {path} line {reader.line_num}"
        if len(fields) != len(CSV_COLUMNS):
            raise InputError(f"{where}: {len(fields)} fields instead of {len(CSV_COLUMNS)}", path)
        frame, name, object_id, confidence, lost, area = (field.strip() for field in fields)
        try:
            rows.append(ConfidenceRow(int(frame), name, int(object_id), float(confidence), _boolean(lost), int(area)))
        except ValueError as error:
            raise InputError(f"{where}: {error}", path) from error
    try:
        return ordered(rows)
    except ValueError as error:
        raise InputError(f"confidence table {path}: {error}", path) from error


def _boolean(text: str) -> bool:
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise ValueError(f"lost must be true or false, not {text!r}")
