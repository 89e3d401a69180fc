"""Which files make up an image sequence: a folder's images in natural order, or a numbered file pattern.

Two ways to name a sequence:

- A folder: every image in it (`IMAGE_SUFFIXES`, any case), hidden files ignored, sorted naturally so that
  `frame2` comes before `frame10`. All images must share one format (`.jpg`/`.jpeg` and `.tif`/`.tiff` count
  as one): a folder holding both `.png` and `.jpg` is ambiguous (proxies next to plates?), so it is refused and
  the user is asked for a pattern. Names are the file stems (`00012.jpg` -> `00012`).
- A pattern in the file name: printf style (`plate.%04d.exr`, `plate.%d.png`) or hash style as in Blender
  (`plate.####.exr`: as many digits as hashes, zero-padded). A number must be written exactly as the pattern
  writes it (`%04d` matches `0012` and `12345`, not `12` or `00012`). The range is `first`..`last` when given,
  else the smallest to the largest number present; every number in the range must exist, so a missing frame
  in the middle of a shot is an error naming it, not a silent jump. Names are the numbers as written in the
  file names (`plate.0012.exr` -> `0012`), so outputs can be numbered like the plates.

A path that exists as given is never read as a pattern, so a real file or folder with a `#` in its name works.

An entry that looks like a frame (an image in a folder, a name the pattern matches) but is not a regular file
(a folder, a named pipe, a device, a broken link) is an error naming it. Skipping it would shift the index of
every later frame, so keyframe masks and outputs would no longer line up with the plates.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from engine.io.errors import InputError
from engine.io.files import require_regular_file
from engine.io.images import IMAGE_SUFFIXES

_PRINTF = re.compile(r"%(0\d+)?d")
_HASHES = re.compile(r"#+")
_SAME_FORMAT = {".jpeg": ".jpg", ".tiff": ".tif"}


@dataclass(frozen=True)
class FileSequence:
    """The files of an image sequence in order, with the names and numbers that outputs are labelled by."""

    files: tuple[Path, ...]
    names: tuple[str, ...]
    numbers: tuple[int, ...]


@dataclass(frozen=True)
class Pattern:
    """A numbered file name split around its frame number; `width` is the zero-padding (0: none)."""

    folder: Path
    prefix: str
    suffix: str
    width: int

    def format(self, number: int) -> str:
        """The frame number as the pattern writes it."""
        return f"{number:0{self.width}d}"

    def path(self, number: int) -> Path:
        return self.folder / f"{self.prefix}{self.format(number)}{self.suffix}"


def natural_key(name: str) -> tuple[tuple[str, int], ...]:
    """Sort key that orders digit runs by value: frame2 < frame10, case-insensitively."""
    parts = re.split(r"(\d+)", name)
    return tuple((text.lower(), 0) if i % 2 == 0 else ("", int(text)) for i, text in enumerate(parts))


def parse_pattern(path: str | os.PathLike[str]) -> Pattern | None:
    """The pattern in `path`'s file name, or None if it has no frame-number placeholder."""
    path = Path(path)
    name = path.name
    placeholders = [*_PRINTF.finditer(name), *_HASHES.finditer(name)]
    if not placeholders:
        return None
    if len(placeholders) > 1:
        raise InputError(f"pattern {path} has more than one frame-number placeholder", path)
    match = placeholders[0]
    text = match.group(0)
    width = len(text) if text.startswith("#") else int(match.group(1) or "0")
    return Pattern(path.parent, name[: match.start()], name[match.end() :], width)


def list_folder(folder: str | os.PathLike[str]) -> FileSequence:
    """Every image of `folder`, naturally sorted (see the module doc)."""
    folder = Path(folder)
    entries = _scan(folder)
    images = [name for name in entries if Path(name).suffix.lower() in IMAGE_SUFFIXES]
    _require_regular(folder, [name for name in images if not entries[name]])
    if not images:
        raise InputError(f"frames folder {folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})", folder)
    formats = sorted({_SAME_FORMAT.get(Path(name).suffix.lower(), Path(name).suffix.lower()) for name in images})
    if len(formats) > 1:
        raise InputError(
            f"frames folder {folder} mixes {' and '.join(formats)} images; give a pattern such as "
            f"{folder / ('frame.####' + formats[0])} to choose one",
            folder,
        )
    images.sort(key=lambda name: (natural_key(name), name))
    names = tuple(Path(name).stem for name in images)
    if len(set(names)) != len(names):
        raise InputError(f"frames folder {folder} holds two images with the same name", folder)
    return FileSequence(tuple(folder / name for name in images), names, tuple(range(len(images))))


def expand_pattern(pattern: Pattern, first: int | None = None, last: int | None = None) -> FileSequence:
    """The files of `pattern` from `first` to `last` (defaults: the smallest and largest present); see module doc."""
    shown = pattern.folder / f"{pattern.prefix}{'#' * max(pattern.width, 1)}{pattern.suffix}"
    if first is not None and last is not None and last < first:
        raise InputError(f"frame range {first}-{last} of {shown} is empty (last before first)", shown)
    found = _numbers_present(pattern)
    if not found:
        raise InputError(f"no files match {shown}", shown)
    first = min(found) if first is None else first
    last = max(found) if last is None else last
    numbers = range(first, last + 1)
    _require_regular(pattern.folder, [found[n][0] for n in numbers if n in found and not found[n][1]])
    missing = [number for number in numbers if number not in found]
    if len(missing) == len(numbers):
        raise InputError(f"no files of {shown} in the frame range {first}-{last}", shown)
    if missing:
        path = pattern.path(missing[0])
        more = f" and {len(missing) - 1} more of frames {first}-{last}" if len(missing) > 1 else ""
        raise InputError(f"frame {path} is missing{more}", path)
    return FileSequence(
        tuple(pattern.path(n) for n in numbers), tuple(pattern.format(n) for n in numbers), tuple(numbers)
    )


def _numbers_present(pattern: Pattern) -> dict[int, tuple[str, bool]]:
    """Each frame number the pattern matches in its folder -> (entry name, whether it is a regular file)."""
    regex = re.compile(re.escape(pattern.prefix) + r"(\d+)" + re.escape(pattern.suffix) + r"\Z")
    numbers = {}
    for name, regular in _scan(pattern.folder).items():
        match = regex.match(name)
        if match and pattern.format(int(match.group(1))) == match.group(1):
            numbers[int(match.group(1))] = (name, regular)
    return numbers


def _require_regular(folder: Path, names: list[str]) -> None:
    """Raise an InputError for the first of `names` (entries that look like frames) that is not a regular file."""
    for name in sorted(names, key=lambda name: (natural_key(name), name)):
        require_regular_file(folder / name, "frame")


def _scan(folder: Path) -> dict[str, bool]:
    """The visible entries of `folder` -> whether each is a regular file (or a link to one)."""
    try:
        with os.scandir(folder) as entries:
            return {entry.name: _is_regular(entry) for entry in entries if not entry.name.startswith(".")}
    except FileNotFoundError as error:
        raise InputError(f"frames folder {folder} does not exist", folder) from error
    except NotADirectoryError as error:
        raise InputError(f"{folder} is not a folder", folder) from error
    except PermissionError as error:
        raise InputError(f"frames folder {folder} is not readable (permission denied)", folder) from error
    except OSError as error:
        raise InputError(f"frames folder {folder} cannot be listed: {error.strerror or error}", folder) from error


def _is_regular(entry: os.DirEntry[str]) -> bool:
    """Whether a folder entry is a regular file; an entry that cannot be examined counts as not one."""
    try:
        return entry.is_file()
    except OSError:
        return False
