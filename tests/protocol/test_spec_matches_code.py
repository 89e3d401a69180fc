"""`docs/protocol.md` states what `protocol/` implements: version, message types, fields, limits, error codes.

The specification uses fixed heading conventions that this test reads:
- a message type's section starts with a heading `#### Message type: `name``, and holds the lines
  `- Sent by: client|engine` and `- Reply: `reply_type`` (or `- Reply: none ...`);
- a nested record's section starts with `#### Record: `Name``;
- every field appears in its section's content dict as a quoted key, `"field":`;
- the limits and error-code tables have one row per item, starting `| `name` |`.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from pathlib import Path

import pytest

from protocol import messages
from protocol.errors import RETRYABLE, ErrorCode
from protocol.limits import DEFAULT_LIMITS, Limits
from protocol.version import PROTOCOL_VERSION, TAG
from protocol.wire import Header

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")
SECTION_TITLE = re.compile(r"^(Message type|Record): `([A-Za-z_]+)`$")


def _doc() -> str:
    return DOC_PATH.read_text(encoding="utf-8")


def _headings(text: str) -> list[tuple[int, int, str]]:
    """(line number, level, title) of every Markdown heading outside fenced code blocks."""
    found, fenced = [], False
    for number, line in enumerate(text.splitlines()):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        match = HEADING.match(line)
        if match and not fenced:
            found.append((number, len(match.group(1)), match.group(2)))
    return found


def _sections(text: str, kind: str) -> dict[str, str]:
    """Name -> text of each `Message type:` or `Record:` section; it runs to the next heading of its level."""
    lines = text.splitlines()
    headings = _headings(text)
    sections: dict[str, str] = {}
    for position, (start, level, title) in enumerate(headings):
        match = SECTION_TITLE.match(title)
        if not match or match.group(1) != kind:
            continue
        end = next((line for line, other, _ in headings[position + 1 :] if other <= level), len(lines))
        name = match.group(2)
        assert name not in sections, f"two sections for {kind} `{name}`"
        sections[name] = "\n".join(lines[start + 1 : end])
    return sections


def _heading_section(text: str, title: str) -> str:
    """The text under the heading whose title ends with `title`, up to the next heading of its level."""
    lines = text.splitlines()
    headings = _headings(text)
    for position, (start, level, heading) in enumerate(headings):
        if heading.endswith(title):
            end = next((line for line, other, _ in headings[position + 1 :] if other <= level), len(lines))
            return "\n".join(lines[start + 1 : end])
    raise AssertionError(f"no heading ending with {title!r}")


def _table_rows(text: str) -> dict[str, list[str]]:
    """First cell (a `code` span) -> the remaining cells, for every Markdown table row that starts with one."""
    rows = {}
    for line in text.splitlines():
        match = re.match(r"^\|\s*`([^`]+)`\s*\|(.*)\|\s*$", line)
        if match:
            rows.setdefault(match.group(1), [cell.strip() for cell in match.group(2).split("|")])
    return rows


def _nested_dataclasses(hint: typing.Any) -> set[type]:
    """The dataclasses a field's type hint mentions (through Annotated, `| None` and list)."""
    if dataclasses.is_dataclass(hint):
        return {hint}
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return _nested_dataclasses(typing.get_args(hint)[0])
    if origin in (list, typing.Union, types.UnionType):
        return set().union(*(_nested_dataclasses(arg) for arg in typing.get_args(hint)))
    return set()


def _records() -> dict[str, type]:
    """Every dataclass nested in a message body that is not itself a message body, by class name."""
    bodies = {kind.body for kind in messages.CATALOGUE.values()}
    seen: set[type] = set()
    todo = list(bodies)
    while todo:
        cls = todo.pop()
        for hint in typing.get_type_hints(cls, include_extras=True).values():
            for nested in _nested_dataclasses(hint) - seen:
                seen.add(nested)
                todo.append(nested)
    return {cls.__name__: cls for cls in seen - bodies}


def _missing_fields(cls: type, section: str) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if not re.search(rf'"{re.escape(f.name)}"\s*:', section)]


# --- (a) the version ------------------------------------------------------------------------------------


def test_stated_version_is_the_code_version() -> None:
    text = _doc()
    match = re.search(r"specifies protocol version `([0-9]+\.[0-9]+)`", text)
    assert match, "the document must state `This document specifies protocol version `X.Y`.`"
    assert match.group(1) == PROTOCOL_VERSION


def test_tag_and_newest_changelog_entry_match_the_version() -> None:
    text = _doc()
    assert f'b"{TAG.decode("ascii")}"' in text  # the tag, written b"maskprop/1"
    changelog = _heading_section(text, "Changelog")
    entries = [title for _, _, title in _headings(changelog)]
    assert entries, "the changelog has no version headings"
    assert entries[0] == PROTOCOL_VERSION


# --- (b) message types ----------------------------------------------------------------------------------


def test_every_message_type_has_a_section_and_no_section_is_unknown() -> None:
    documented = set(_sections(_doc(), "Message type"))
    catalogue = set(messages.CATALOGUE)
    assert sorted(catalogue - documented) == [], "message types without a section in docs/protocol.md"
    assert sorted(documented - catalogue) == [], "sections for message types that are not in the catalogue"


@pytest.mark.parametrize("msg_type", sorted(messages.CATALOGUE))
def test_section_states_sender_and_reply(msg_type: str) -> None:
    kind = messages.CATALOGUE[msg_type]
    section = _sections(_doc(), "Message type").get(msg_type)
    if section is None:
        pytest.fail(f"no section for {msg_type}")
    sender = re.search(r"^- Sent by: (client|engine)\b", section, re.MULTILINE)
    reply = re.search(r"^- Reply: (?:`([a-z_]+)`|none\b)", section, re.MULTILINE)
    assert sender and sender.group(1) == kind.sender, f"{msg_type}: the section must say `- Sent by: {kind.sender}`"
    assert reply, f"{msg_type}: the section must have a `- Reply:` line"
    assert reply.group(1) == kind.reply, f"{msg_type}: the reply is {kind.reply!r}"


# --- (c) fields -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("msg_type", sorted(messages.CATALOGUE))
def test_every_body_field_is_in_its_section(msg_type: str) -> None:
    section = _sections(_doc(), "Message type").get(msg_type)
    if section is None:
        pytest.fail(f"no section for {msg_type}")
    assert _missing_fields(messages.CATALOGUE[msg_type].body, section) == []


def test_every_nested_record_has_a_section_with_its_fields() -> None:
    documented = _sections(_doc(), "Record")
    records = _records()
    assert sorted(set(records) - set(documented)) == [], "records without a `Record:` section"
    assert sorted(set(documented) - set(records)) == [], "`Record:` sections for records the code lacks"
    missing = {name: _missing_fields(cls, documented[name]) for name, cls in records.items()}
    assert {name: fields for name, fields in missing.items() if fields} == {}


def test_every_header_field_is_documented() -> None:
    section = _heading_section(_doc(), "The header")
    assert _missing_fields(Header, section) == []


# --- (d) error codes and limits -------------------------------------------------------------------------


def test_every_error_code_is_in_the_table_with_its_retryability() -> None:
    text = _doc()
    rows = _table_rows(_heading_section(text, "Error codes"))
    for code in ErrorCode:
        assert f"`{code.value}`" in text
        assert code.value in rows, f"no row for error code {code.value} in the error-code table"
        stated = rows[code.value][0].strip("* ").lower()
        assert stated == ("yes" if code in RETRYABLE else "no"), f"{code.value}: retryable is {code in RETRYABLE}"
    unknown = set(rows) - {code.value for code in ErrorCode}
    assert unknown == set(), "the error-code table names codes the code lacks"


def test_every_limit_is_in_the_table_with_its_default() -> None:
    rows = _table_rows(_heading_section(_doc(), "Limits"))
    for field in dataclasses.fields(Limits):
        assert field.name in rows, f"no row for limit {field.name}"
        stated = re.match(r"[\d,_]+", rows[field.name][0])
        assert stated, f"{field.name}: the default column must start with a number"
        assert int(re.sub(r"[,_]", "", stated.group())) == getattr(DEFAULT_LIMITS, field.name), field.name
