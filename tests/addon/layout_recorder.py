"""Draw a panel without a window: a stand-in for `UILayout` that writes each row as text and checks what it names.

Only Blender's UI can make a `UILayout`, and the `bpy` module has none, so a panel's `draw` never runs in
tests otherwise. This records what `draw` asks for, in order, and notes every property that does not exist
on the data it is drawn from, every operator that is not registered and every unknown icon: the mistakes
that Blender would only print to its console while drawing.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import bpy

ICONS = {item.identifier for item in bpy.types.UILayout.bl_rna.functions["label"].parameters["icon"].enum_items}


class LayoutRecorder:
    """`row()`, `column()` and `box()` nest; `lines()` flattens them, a row's items joined by " | "."""

    def __init__(self, problems: list[str], kind: str = "column") -> None:
        self.kind = kind
        self.items: list[str | LayoutRecorder] = []
        self.problems = problems
        self.enabled = True

    def row(self, **_: Any) -> LayoutRecorder:
        return self._nest("row")

    def column(self, **_: Any) -> LayoutRecorder:
        return self._nest("column")

    def box(self) -> LayoutRecorder:
        return self._nest("box")

    def label(self, text: str = "", icon: str = "NONE") -> None:
        self._add(f"{self._icon(icon)}{text}")

    def prop(self, data: Any, name: str, text: str | None = None, **_: Any) -> None:
        found = data.bl_rna.properties.get(name)
        if found is None:
            self.problems.append(f"no property {name!r} on {data.bl_rna.identifier}")
        shown = text if text is not None else (found.name if found is not None else name)
        self._add(f"[{shown}]" + ("" if self.enabled else " (greyed out)"))

    def operator(self, idname: str, text: str | None = None, icon: str = "NONE") -> SimpleNamespace:
        group, _, name = idname.partition(".")
        operator = getattr(getattr(bpy.ops, group), name)
        try:
            label = operator.get_rna_type().name
        except KeyError:
            self.problems.append(f"no operator {idname}")
            label = idname
        self._add(f"<{self._icon(icon)}{label if text is None else text}>")
        return SimpleNamespace()  # takes the operator's properties, as Blender's OperatorProperties does

    def progress(self, factor: float, type: str, text: str) -> None:
        self._add(f"progress {factor:.0%}: {text}")

    def lines(self, indent: str = "") -> list[str]:
        if self.kind == "row":
            return [indent + " | ".join(str(item) for item in self.items)]
        inner = indent + ("  " if self.kind == "box" else "")
        out = []
        for item in self.items:
            out += item.lines(inner) if isinstance(item, LayoutRecorder) else [inner + item]
        return out

    def _nest(self, kind: str) -> LayoutRecorder:
        child = LayoutRecorder(self.problems, kind)
        self.items.append(child)
        return child

    def _add(self, item: str) -> None:
        self.items.append(item)

    def _icon(self, icon: str) -> str:
        if icon not in ICONS:
            self.problems.append(f"no icon {icon}")
        return "" if icon == "NONE" else f"({icon}) "


def draw(panel: type, context: bpy.types.Context) -> tuple[list[str], list[str]]:
    """The lines `panel.draw` lays out in `context`, and the problems it ran into."""
    problems: list[str] = []
    layout = LayoutRecorder(problems)
    panel.draw(SimpleNamespace(layout=layout), context)
    return layout.lines(), problems
