"""A structured diff between two rule definitions, located by JSON pointer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.rules.issues import escape


@dataclass(frozen=True)
class Change:
    """One difference: `op` is add, remove or replace; `old`/`new` are absent (None) for add/remove."""

    op: str
    pointer: str
    old: Any = None
    new: Any = None

    def to_json(self) -> dict[str, Any]:
        """Return the change as JSON-ready data (only the values that apply)."""
        data: dict[str, Any] = {"op": self.op, "pointer": self.pointer}
        if self.op != "add":
            data["old"] = self.old
        if self.op != "remove":
            data["new"] = self.new
        return data

    def __str__(self) -> str:
        if self.op == "add":
            return f"+ {self.pointer}: {self.new!r}"
        if self.op == "remove":
            return f"- {self.pointer}: {self.old!r}"
        return f"~ {self.pointer}: {self.old!r} -> {self.new!r}"


def diff_definitions(old: Any, new: Any, pointer: str = "") -> list[Change]:
    """Return the changes that turn `old` into `new`: objects by key, lists by index, other values whole."""
    if isinstance(old, dict) and isinstance(new, dict):
        changes: list[Change] = []
        for key in [*old, *(key for key in new if key not in old)]:
            path = f"{pointer}/{escape(key)}"
            if key not in new:
                changes.append(Change("remove", path, old=old[key]))
            elif key not in old:
                changes.append(Change("add", path, new=new[key]))
            else:
                changes.extend(diff_definitions(old[key], new[key], path))
        return changes
    if isinstance(old, list) and isinstance(new, list):
        changes = []
        for index in range(max(len(old), len(new))):
            path = f"{pointer}/{index}"
            if index >= len(new):
                changes.append(Change("remove", path, old=old[index]))
            elif index >= len(old):
                changes.append(Change("add", path, new=new[index]))
            else:
                changes.extend(diff_definitions(old[index], new[index], path))
        return changes
    if old == new and isinstance(old, bool) == isinstance(new, bool):
        return []
    return [Change("replace", pointer or "/", old=old, new=new)]
