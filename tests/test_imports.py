"""The layers of docs/architecture.md, checked on the code: every import points down or sideways, never up,
and no modules import each other in a circle (directly or round a longer loop).

Imports are read with `ast`, so nothing is executed; imports inside functions and under `TYPE_CHECKING` count
too, since they are dependencies all the same. A module's layer is the entry of `LAYERS` with the longest
prefix of its name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.paths import REPO

ROOT = REPO
PACKAGES = ("protocol", "engine", "addon")

# Lowest first. A module may import modules of its own layer and of the layers below.
LAYERS: dict[str, int] = {
    "protocol": 0,  # the wire: knows nothing of the engine or of Blender
    "engine": 1,  # the package itself: its version
    "engine.errors": 1,
    "engine.choices": 1,  # the names and defaults users pick from; no torch, so --help is instant
    "engine.user_config": 1,
    "engine.checkpoint_choice": 1,  # which checkpoint a command uses; no torch, for thin farm clients
    "engine.logs": 1,  # structured log lines (text or JSON) for the server and the batch
    "engine.io": 2,  # files in and out
    "engine.compute": 2,  # device and precision
    "engine.exit_codes": 2,
    "engine.model": 3,  # the network and its weights
    "engine.propagation": 4,  # a shot's masks carried through its frames, in memory
    "engine.learning": 4,  # clips, augmentations and the loss; fine-tuning on a shot's keyframes
    "engine.shots": 5,  # shots on disk, job files, batches
    "engine.evaluation": 6,  # DAVIS datasets, J and F, the benchmark
    "engine.review": 5,  # what people look at after a run: pictures of a shot, the report of a batch
    "engine.train": 7,
    "engine.server": 8,
    "engine.bench": 8,
    "engine.commands": 9,  # argument parsing, calling down
    "engine.cli": 9,
    "engine.__main__": 9,
    "addon": 10,  # Blender: talks to the engine through the protocol only
}
# Which top-level packages each may import at all: the add-on ships without the engine.
MAY_IMPORT = {"protocol": {"protocol"}, "engine": {"engine", "protocol"}, "addon": {"addon", "protocol"}}


def module_files() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules `name` imports (`from package import module` names the module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {_project_module(alias.name, modules) for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in modules else _project_module(base, modules))
    return found - {None, name}


def _project_module(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def layer_of(name: str) -> int:
    prefix = max((key for key in LAYERS if name == key or name.startswith(key + ".")), key=len)
    return LAYERS[prefix]


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def test_every_module_has_a_layer(graph):
    for name in graph:
        layer_of(name)  # raises for a module outside every entry


def test_imports_point_down_or_sideways_only(graph):
    upward = sorted(
        f"{name} (layer {layer_of(name)}) imports {target} (layer {layer_of(target)})"
        for name, targets in graph.items()
        for target in targets
        if layer_of(target) > layer_of(name)
    )
    assert upward == []


def test_packages_import_only_what_ships_with_them(graph):
    crossing = sorted(
        f"{name} imports {target}"
        for name, targets in graph.items()
        for target in targets
        if target.split(".")[0] not in MAY_IMPORT[name.split(".")[0]]
    )
    assert crossing == []


def test_the_add_ons_core_never_imports_blender():
    """addon/core/ runs in any Python: no `bpy` import in it, at module level or inside a function."""
    found = []
    for path in sorted((ROOT / "addon" / "core").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            found += [f"{path.name} imports {name}" for name in names if name.split(".")[0] == "bpy"]
    assert found == []


def test_no_two_public_classes_share_a_name():
    """A class name says what one thing is: `Job` in three places said nothing."""
    places: dict[str, list[str]] = {}
    for name, path in module_files().items():
        for node in ast.parse(path.read_text(), str(path)).body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                places.setdefault(node.name, []).append(name)
    assert {name: where for name, where in places.items() if len(where) > 1} == {}


def test_no_import_cycles(graph):
    assert strongly_connected(graph) == []


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """The circles: Tarjan's components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return circles


def test_the_checks_catch_a_cycle_and_an_upward_import():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert layer_of("engine.io.view") < layer_of("engine.model.afburr") < layer_of("engine.commands.serve")
