"""The trace of a condition tree: each condition, the fact it saw and whether it held; compiled, as data, as text."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from app.rules.condition_leaves import compile_leaf
from app.rules.event_context import EventContext

# Whether a group held, from whether each of its children did (a `not` group has exactly one).
COMBINE: dict[str, Callable[[list[bool]], bool]] = {"and": all, "or": any, "not": lambda held: not held[0]}


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


Trace = Callable[[EventContext], TraceNode]


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


def compile_trace(node: dict[str, Any], pointer: str) -> Trace:
    """Return a function that explains a normalized condition tree for an event; it agrees with the generated check."""
    if "conditions" in node:
        return _compile_group(node, pointer)
    getter, test, reads_missing = compile_leaf(node)
    kind, operator, expected = node["type"], node["operator"], node.get("value")

    def trace(ctx: EventContext) -> TraceNode:
        value = getter(ctx)
        held = test(value) if reads_missing else value is not None and test(value)
        return TraceNode(pointer, kind, operator, expected, shown(value), bool(held), ())

    return trace


def _compile_group(node: dict[str, Any], pointer: str) -> Trace:
    traces = tuple(
        compile_trace(child, f"{pointer}/conditions/{index}") for index, child in enumerate(node["conditions"])
    )
    operator = node["operator"]
    combine = COMBINE[operator]

    def trace(ctx: EventContext) -> TraceNode:
        children = tuple(child(ctx) for child in traces)
        return TraceNode(pointer, "group", operator, None, None, combine([child.held for child in children]), children)

    return trace
