"""Path mapping: the paths written inside a job file, moved onto this worker by the farm's rules.

A Windows artist's job file says `P:\\shots\\sh010\\plate.####.exr`; on a Linux worker that folder is
`/mnt/shots/sh010`. An Open Job Description runtime maps the template's PATH parameters itself and hands the
session's rules to the task as a JSON file (`{{Session.PathMappingRulesFile}}`), but the paths inside our job
file are ours to map. The rules are matched by openjd-sessions, the runtime's own implementation, so a path in
the job file lands where the same path given as a parameter would: drive letters and case-insensitive Windows
sources included.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Any

from engine.io import InputError
from engine.io.files import read_file_bytes

if TYPE_CHECKING:
    from openjd.sessions import PathMappingRule

VERSION = "pathmapping-1.0"

log = logging.getLogger(__name__)


class PathMapping:
    """The rules of one rules file, in the order the runtime tries them, and whether any path matched one.

    Remembering a match lets a job whose rules moved none of its paths say so: that is almost always a rule
    written for another root, and the job would otherwise fail later on a missing plate with no hint why.
    """

    def __init__(self, source: Path | None = None, rules: Sequence[PathMappingRule] = ()) -> None:
        self.source = source
        self.rules = tuple(rules)
        self.matched = False

    def map(self, path: str) -> str:
        """`path` moved by the first rule that matches it; a relative path is left as it is, since it already
        moves with the job file, whose own path the runtime maps."""
        if not _is_absolute(path):
            return path
        for rule in self.rules:
            changed, result = rule.apply(path=path)
            if changed:
                self.matched = True
                return result
        return path

    def warn_if_unused(self) -> None:
        if self.rules and not self.matched:
            log.warning("no path of the job matches a rule of the path mapping rules file %s", self.source)


def read_path_mapping(path: str | os.PathLike[str] | None) -> PathMapping:
    """The rules of a `pathmapping-1.0` file as openjd-sessions writes it; `None` or `{}` means no rules.

    Every problem is an `InputError` naming the file: a wrong rule must fail the task at once rather than send a
    night of frames to the wrong folder.
    """
    if path is None:
        return PathMapping()
    source = Path(path)
    document = _document(source)
    if not document:
        return PathMapping(source)
    if document.get("version") != VERSION:
        raise _error(source, f"its 'version' is {document.get('version')!r}, not {VERSION!r}")
    entries = document.get("path_mapping_rules")
    if not isinstance(entries, list):
        raise _error(source, f"'path_mapping_rules' must be a list of rules, not {entries!r}")
    rules = [_rule(source, number, entry) for number, entry in enumerate(entries, 1)]
    # As openjd-sessions' `Session.__init__`: the most specific source first, so `P:\shots\sh010` wins over
    # `P:\shots`; the sort is stable, so equally specific rules keep the file's order.
    return PathMapping(source, sorted(rules, key=lambda rule: -_components(rule)))


def _document(source: Path) -> dict[str, Any]:
    try:
        document = json.loads(read_file_bytes(source, "path mapping rules file"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _error(source, f"it is not JSON: {error}") from error
    if not isinstance(document, dict):
        raise _error(source, f"it must be a JSON object with 'version' and 'path_mapping_rules', not {document!r}")
    return document


def _rule(source: Path, number: int, entry: Any) -> PathMappingRule:
    """One rule, checked by openjd-sessions itself (its fields, its format), so the engine accepts exactly the
    rules the runtime does; only what it assumes (an object of strings) is checked here."""
    if not isinstance(entry, dict) or not all(isinstance(value, str) for value in entry.values()):
        raise _error(source, f"rule #{number} must be an object of strings, not {entry!r}")
    try:
        return _rule_class(source).from_dict(entry)
    except ValueError as error:
        raise _error(source, f"rule #{number} {entry!r} is not valid: {error}") from error


def _rule_class(source: Path) -> type[PathMappingRule]:
    """openjd-sessions is imported only for a job that has rules: it is the `farm` extra, not a dependency."""
    try:
        from openjd.sessions import PathMappingRule
    except ImportError as error:
        raise InputError(
            f"path mapping rules file {source}: applying rules needs openjd-sessions: pip install 'maskprop[farm]'",
            source,
        ) from error
    return PathMappingRule


def _components(rule: PathMappingRule) -> int:
    """How specific a rule's source is. A URI rule (`s3://bucket`, a string source) never matches a file path,
    so where it sorts changes nothing here."""
    source = rule.source_path
    return len(source.parts) if isinstance(source, PurePath) else 0


def _is_absolute(path: str) -> bool:
    """Absolute on either system: the worker may be of another kind than the machine that wrote the path."""
    return PurePosixPath(path).is_absolute() or PureWindowsPath(path).is_absolute()


def _error(source: Path, problem: str) -> InputError:
    return InputError(f"path mapping rules file {source}: {problem}", source)
