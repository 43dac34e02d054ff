"""Explanations: the trace of each condition with the fact it saw and whether it held, as data and as text."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class TraceNode:
    """One condition as evaluated: where it is in the rule, what it expected, what it saw, and whether it held."""

    pointer: str
    type: str  # a condition type, or "group" for and/or/not
    operator: str
    expected: Any
    seen: Any
    held: bool
    children: tuple[TraceNode, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Return the node as JSON-ready data (children nested)."""
        data: dict[str, Any] = {
            "pointer": self.pointer,
            "type": self.type,
            "operator": self.operator,
            "held": self.held,
        }
        if self.type != "group":
            data["expected"] = self.expected
            data["seen"] = self.seen
        if self.children:
            data["children"] = [child.to_json() for child in self.children]
        return data


def shown(value: Any) -> Any:
    """Return a fact as JSON-ready data: Decimal as text, sets as sorted lists, times in ISO 8601."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (frozenset, set)):
        return sorted(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if hasattr(value, "to_json"):
        return value.to_json()
    return value


def render_trace(nodes: list[TraceNode] | tuple[TraceNode, ...], indent: str = "  ") -> list[str]:
    """Return the trace as indented text lines, one per condition, marked held (✓) or not (✗)."""
    lines: list[str] = []
    for node in nodes:
        mark = "✓" if node.held else "✗"
        if node.type == "group":
            lines.append(f"{indent}{mark} {node.operator} ({node.pointer})")
        else:
            expected = json.dumps(node.expected, default=str)
            seen = "missing" if node.seen is None else json.dumps(node.seen, default=str)
            lines.append(f"{indent}{mark} {node.type} {node.operator} {expected}: saw {seen} ({node.pointer})")
        lines.extend(render_trace(node.children, indent + "  "))
    return lines
