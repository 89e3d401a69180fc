"""The confidence table: CSV and JSON round trips, the documented JSON layout, and malformed tables."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.io import ConfidenceRow, InputError, OutputError, read_confidence, write_confidence
from engine.io.confidence import confidence_csv
from protocol.confidence_table import table_json

ROWS = [
    ConfidenceRow(frame=1, name="00001", object=2, confidence=0.25, lost=True, area=0),
    ConfidenceRow(frame=0, name="00000", object=1, confidence=0.93, lost=False, area=1234),
    ConfidenceRow(frame=1, name="00001", object=1, confidence=1 / 3, lost=False, area=1200),
    ConfidenceRow(frame=0, name="00000", object=2, confidence=1.0, lost=False, area=77),
]
ORDERED = sorted(ROWS, key=lambda row: (row.frame, row.object))


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_round_trip_is_exact_and_ordered(tmp_path, suffix):
    path = write_confidence(tmp_path / f"confidence{suffix}", ROWS)
    assert read_confidence(path) == ORDERED
    assert sorted(os.listdir(tmp_path)) == [f"confidence{suffix}"]


def test_csv_layout():
    assert confidence_csv(ROWS).splitlines() == [
        "frame,name,object,confidence,lost,area",
        "0,00000,1,0.93,false,1234",
        "0,00000,2,1.0,false,77",
        "1,00001,1,0.3333333333333333,false,1200",
        "1,00001,2,0.25,true,0",
    ]


def test_json_layout_is_the_documented_one():
    text = table_json(ROWS)
    assert text.count("\n") == 4  # header line, one line per frame, closing line
    assert json.loads(text) == {
        "format": "maskprop-confidence",
        "version": 1,
        "frames": [
            {
                "frame": 0,
                "name": "00000",
                "objects": [
                    {"id": 1, "confidence": 0.93, "lost": False, "area": 1234},
                    {"id": 2, "confidence": 1.0, "lost": False, "area": 77},
                ],
            },
            {
                "frame": 1,
                "name": "00001",
                "objects": [
                    {"id": 1, "confidence": 1 / 3, "lost": False, "area": 1200},
                    {"id": 2, "confidence": 0.25, "lost": True, "area": 0},
                ],
            },
        ],
    }


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_empty_table(tmp_path, suffix):
    assert read_confidence(write_confidence(tmp_path / f"c{suffix}", [])) == []


def test_numpy_values_become_plain_python():
    row = ConfidenceRow(np.int64(3), "0003", np.uint8(2), np.float32(0.5), np.bool_(True), np.int32(10))
    assert (type(row.frame), type(row.object), type(row.confidence), type(row.lost), type(row.area)) == (
        int,
        int,
        float,
        bool,
        int,
    )
    assert json.loads(table_json([row]))["frames"][0]["objects"][0]["lost"] is True


def test_readers_accept_other_whitespace_and_a_bom(tmp_path):
    document = json.loads(table_json(ROWS))
    (tmp_path / "pretty.json").write_text(json.dumps(document, indent=4))
    assert read_confidence(tmp_path / "pretty.json") == ORDERED
    (tmp_path / "excel.csv").write_bytes(b"\xef\xbb\xbf" + confidence_csv(ROWS).replace("\n", "\r\n").encode())
    assert read_confidence(tmp_path / "excel.csv") == ORDERED


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 10_000),
            st.integers(1, 255),
            st.floats(0.0, 1.0),
            st.booleans(),
            st.integers(0, 8192 * 8192),
        ),
        unique_by=lambda t: (t[0], t[1]),
        max_size=20,
    )
)
def test_any_table_round_trips_through_both_formats(values):
    # A temporary folder per example: hypothesis runs many examples inside one test call.
    rows = [ConfidenceRow(f, f"{f:05d}", o, c, lost, a) for f, o, c, lost, a in values]
    expected = sorted(rows, key=lambda row: (row.frame, row.object))
    with tempfile.TemporaryDirectory() as folder:
        for suffix in (".csv", ".json"):
            path = write_confidence(Path(folder) / f"c{suffix}", rows)
            assert read_confidence(path) == expected


# --- bad rows and bad files --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"confidence": 1.5},
        {"confidence": float("nan")},
        {"confidence": True},
        {"confidence": "0.5"},
        {"object": 0},
        {"object": 256},
        {"frame": -1},
        {"frame": 1.0},
        {"area": -3},
        {"lost": "false"},
        {"name": ""},
    ],
)
def test_invalid_rows_are_refused(fields):
    values = {"frame": 0, "name": "00000", "object": 1, "confidence": 0.5, "lost": False, "area": 1} | fields
    with pytest.raises(ValueError):
        ConfidenceRow(**values)


def test_duplicate_rows_and_inconsistent_names_are_refused():
    with pytest.raises(ValueError, match="appears twice"):
        confidence_csv([ROWS[0], ROWS[0]])
    renamed = ConfidenceRow(frame=1, name="other", object=1, confidence=0.5, lost=False, area=1)
    with pytest.raises(ValueError, match="two names"):
        table_json([ROWS[0], renamed])


def test_unknown_extension(tmp_path):
    with pytest.raises(OutputError, match=r"\.csv or \.json"):
        write_confidence(tmp_path / "c.txt", ROWS)
    (tmp_path / "c.txt").write_text("x")
    with pytest.raises(InputError, match=r"neither \.csv nor \.json"):
        read_confidence(tmp_path / "c.txt")


GOOD_CSV = confidence_csv(ROWS)
GOOD_JSON = table_json(ROWS)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("c.csv", "", "does not start with the header"),
        ("c.csv", "frame,object\n0,1\n", "does not start with the header"),
        ("c.csv", GOOD_CSV + "2,00002,1,0.5,maybe,3\n", r"line 6: lost must be true or false"),
        ("c.csv", GOOD_CSV + "2,00002,1,high,false,3\n", "line 6: could not convert"),
        ("c.csv", GOOD_CSV + "2,00002,1\n", "line 6: 3 fields instead of 6"),
        ("c.csv", GOOD_CSV + "0,00000,1,0.5,false,3\n", "object 1 appears twice in frame 0"),
        ("c.json", GOOD_JSON[: len(GOOD_JSON) // 2], "not valid JSON"),
        ("c.json", "[]", "not a maskprop-confidence document"),
        ("c.json", GOOD_JSON.replace('"version": 1', '"version": 9'), "version 9"),
        ("c.json", '{"format": "maskprop-confidence", "version": 1, "frames": {}}', "'frames' is not a list"),
        ("c.json", '{"format": "maskprop-confidence", "version": 1, "frames": [3]}', r"frames\[0\] is not an object"),
        ("c.json", GOOD_JSON.replace('"area": 77', '"area": -77'), r"frames\[0\]\.objects\[1\]: area must be"),
        ("c.json", GOOD_JSON.replace('"lost": true', '"lost": 1'), r"objects\[1\]: lost must be a boolean"),
        ("c.json", GOOD_JSON.replace('"name": "00001"', '"name": 5'), "name must be a non-empty string"),
    ],
)
def test_malformed_tables(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError, match=message) as error:
        read_confidence(path)
    assert str(path) in str(error.value)
    assert "\n" not in str(error.value)


def test_missing_and_binary_tables(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_confidence(tmp_path / "missing.json")
    (tmp_path / "binary.csv").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InputError, match="not UTF-8"):
        read_confidence(tmp_path / "binary.csv")
