"""Build the Blender extension: one installable zip per platform, in dist/.

Each zip holds the add-on (addon/), a copy of the protocol package as its subpackage `protocol` (absolute
`protocol.*` imports rewritten to relative ones, see docs/addon.md), the pyzmq and msgpack wheels of that
platform for the Python of every Blender the zip supports (3.11 for Blender 4.2 to 5.0, 3.13 for 5.1 to 5.3),
and a manifest that lists them and bounds the Blender versions to those. Wheels are downloaded once with pip and
cached in build/wheels/.

    python build_addon.py                          # every platform
    python build_addon.py --platform linux-x64     # one platform
    python build_addon.py --offline                # cached wheels only, no network
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent
ADDON = ROOT / "addon"
PROTOCOL = ROOT / "protocol"

# Pinned so every zip carries the same code; each has cp311 and cp313 (or abi3) wheels for every platform below.
PINS = (("pyzmq", "27.3.0"), ("msgpack", "1.2.4"))
# The Python each Blender line embeds (its release notes). A line not listed runs a Python we ship no wheels for.
BLENDER_PYTHONS = {
    (4, 2): "3.11",
    (4, 3): "3.11",
    (4, 4): "3.11",
    (4, 5): "3.11",
    (5, 0): "3.11",
    (5, 1): "3.13",
    (5, 2): "3.13",
    (5, 3): "3.13",
}


@dataclasses.dataclass(frozen=True)
class Platform:
    """A Blender platform: the pip tag that finds its wheels and the first Blender line the zip does not support."""

    pip_tag: str
    # Exclusive, as Blender reads `blender_version_max`. 5.4 may move to a Python whose wheels are not in the zip
    # (msgpack's are built per Python version), so a zip never claims a Blender it was not built for.
    blender_max: tuple[int, int] = (5, 4)


PLATFORMS = {
    "linux-x64": Platform("manylinux_2_28_x86_64"),
    "windows-x64": Platform("win_amd64"),
    "macos-arm64": Platform("macosx_11_0_arm64"),
    # Blender 5.0 dropped Intel Macs: 4.2 to 4.5 LTS still run there, on Python 3.11.
    "macos-x64": Platform("macosx_10_15_x86_64", blender_max=(5, 0)),
}

_PROTOCOL_IMPORT = re.compile(r"^(\s*)from protocol(\.[\w.]+)? import ", re.MULTILINE)
_ABSOLUTE_PROTOCOL = re.compile(r"^\s*(from|import) protocol\b", re.MULTILINE)


class BuildError(Exception):
    """A failure the person building can act on; main() prints it as one line."""


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    platforms = [args.platform] if args.platform else list(PLATFORMS)
    try:
        for platform in platforms:
            print(build(platform, cache=args.cache, dist=args.dist, offline=args.offline))
    except BuildError as error:
        print(f"build_addon: {error}", file=sys.stderr)
        return 2
    return 0


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--platform", choices=sorted(PLATFORMS), help="build only this platform's zip")
    parser.add_argument("--offline", action="store_true", help="use only cached wheels; never run pip download")
    parser.add_argument("--cache", type=Path, default=ROOT / "build" / "wheels", help="wheel cache folder")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder for the zips")
    return parser.parse_args(argv)


def build(platform: str, *, cache: Path, dist: Path, offline: bool) -> Path:
    """Write the zip for one Blender platform and return its path."""
    manifest_text = (ADDON / "blender_manifest.toml").read_text(encoding="utf-8")
    manifest = tomllib.loads(manifest_text)
    pythons = pythons_for(platform, manifest["blender_version_min"])
    wheels = [wheel for python in pythons for wheel in wheels_for(platform, python, cache=cache, offline=offline)]
    dist.mkdir(parents=True, exist_ok=True)
    target = dist / f"{manifest['id']}-{manifest['version']}-{platform.replace('-', '_')}.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("blender_manifest.toml", platform_manifest(manifest_text, platform, [w.name for w in wheels]))
        for path, name in _addon_files():
            archive.write(path, name)
        for path, name in _files(PROTOCOL, "protocol"):
            archive.writestr(name, vendor_source(path.read_text(encoding="utf-8"), path))
        for wheel in wheels:
            archive.write(wheel, f"wheels/{wheel.name}")
    return target


def supported_lines(platform: str, blender_min: str) -> list[tuple[int, int]]:
    """The Blender lines (major, minor) a zip for ``platform`` installs on: from the manifest's minimum up to the
    platform's exclusive maximum."""
    low = tuple(int(part) for part in blender_min.split(".")[:2])
    return [line for line in BLENDER_PYTHONS if low <= line < PLATFORMS[platform].blender_max]


def pythons_for(platform: str, blender_min: str) -> list[str]:
    """The Pythons whose wheels the zip for ``platform`` carries: those of the Blenders it supports, in order."""
    return sorted({BLENDER_PYTHONS[line] for line in supported_lines(platform, blender_min)})


def wheels_for(platform: str, python: str, *, cache: Path, offline: bool) -> list[Path]:
    """The pinned wheels for one platform and Python, downloaded into the cache unless already there."""
    folder = cache / platform / f"py{python}"
    wheels = _cached(folder)
    if wheels is None and offline:
        raise BuildError(f"no cached wheels for {platform}, Python {python} in {folder}; build once without --offline")
    if wheels is None:
        _download(folder, PLATFORMS[platform].pip_tag, python)
        wheels = _cached(folder)
    if wheels is None:
        raise BuildError(f"pip download left no {' and '.join(n for n, _ in PINS)} wheels in {folder}")
    return wheels


def _cached(folder: Path) -> list[Path] | None:
    """One wheel per pin from `folder`, or None if any is missing."""
    wheels = []
    for name, version in PINS:
        found = sorted(folder.glob(f"{name}-{version}-*.whl"))
        if not found:
            return None
        wheels.append(found[0])
    return wheels


def _download(folder: Path, pip_platform: str, python: str) -> None:
    command = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--only-binary=:all:"]
    command += ["--no-deps", "--python-version", python, "--platform", pip_platform, "-d", str(folder)]
    command += [f"{name}=={version}" for name, version in PINS]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        reason = next((line for line in lines if line.startswith("ERROR")), lines[-1] if lines else "no output")
        raise BuildError(f"pip download for {pip_platform}, Python {python} failed: {reason}")


def platform_manifest(source: str, platform: str, wheel_names: Sequence[str]) -> str:
    """The source manifest with `blender_version_max`, `platforms` and `wheels` added as top-level keys, before
    the first table."""
    if {"blender_version_max", "platforms", "wheels"} & tomllib.loads(source).keys():
        raise BuildError(
            "addon/blender_manifest.toml must not set blender_version_max, platforms or wheels; the build writes them"
        )
    lines = source.splitlines(keepends=True)
    first_table = next((i for i, line in enumerate(lines) if line.lstrip().startswith("[")), len(lines))
    wheels = "".join(f'    "./wheels/{name}",\n' for name in wheel_names)
    major, minor = PLATFORMS[platform].blender_max
    generated = f'blender_version_max = "{major}.{minor}.0"\nplatforms = ["{platform}"]\nwheels = [\n{wheels}]\n\n'
    return "".join(lines[:first_table]) + generated + "".join(lines[first_table:])


def vendor_source(text: str, path: Path) -> str:
    """A protocol module with its `from protocol... import` lines made relative, so it works as a subpackage."""
    rewritten = _PROTOCOL_IMPORT.sub(lambda match: f"{match[1]}from .{(match[2] or '')[1:]} import ", text)
    if _ABSOLUTE_PROTOCOL.search(rewritten):
        raise BuildError(f"{path}: the build cannot make this protocol import relative; use 'from protocol.x import'")
    return rewritten


def _addon_files() -> Iterator[tuple[Path, str]]:
    """The add-on's files, except its manifest, which the build replaces."""
    return ((path, name) for path, name in _files(ADDON, "") if name != "blender_manifest.toml")


def _files(folder: Path, prefix: str) -> Iterator[tuple[Path, str]]:
    """Files under `folder` with their names in the zip, leaving out caches and hidden files."""
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and not any(part.startswith(".") or part == "__pycache__" for part in relative.parts):
            yield path, "/".join((prefix, *relative.parts)) if prefix else relative.as_posix()


if __name__ == "__main__":
    sys.exit(main())
