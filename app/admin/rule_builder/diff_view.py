"""Differences between two rule versions told in the builder's words: "Condition 2 (Order total): value 100 → 150",
not JSON pointers (app.rules.diff finds them; this names where they are)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from app.rules.diff import Change
from app.rules.labels import ACTION_LABELS, CONDITION_LABELS
from app.rules.values import is_ascii_digits

RULE_KEY_LABELS = {
    "name": "Name",
    "description": "Description",
    "status": "Status",
    "priority": "Priority",
    "stop_further_rules": "Stop further rules",
    "event_types": "Event types",
    "schedule": "Schedule",
    "limits": "Limits",
    "conditions": "Conditions",
    "actions": "Actions",
}


@dataclass(frozen=True)
class ChangeLine:
    """One change as the version history shows it."""

    op: str  # add | remove | replace
    where: str
    old: str
    new: str


def describe_changes(changes: list[Change], old: dict[str, Any], new: dict[str, Any]) -> list[ChangeLine]:
    """Each change with a readable place (named from the version that has it) and its values as compact JSON."""
    return [
        ChangeLine(
            change.op,
            place(new if change.op != "remove" else old, change.pointer),
            "" if change.op == "add" else _compact(change.old),
            "" if change.op == "remove" else _compact(change.new),
        )
        for change in changes
    ]


def place(definition: dict[str, Any], pointer: str) -> str:
    """Where a JSON pointer is, in words: "Conditions › group 2 (any of) › condition 1 (Order total) › value"."""
    parts = pointer.split("/")[1:]
    if not parts:
        return "Rule"
    words = [RULE_KEY_LABELS.get(parts[0], parts[0])]
    node: Any = definition.get(parts[0]) if isinstance(definition, dict) else None
    index = 1
    while index < len(parts):
        part = parts[index]
        if isinstance(node, dict) and part == "conditions" and index + 1 < len(parts):
            position = parts[index + 1]
            children = node.get("conditions")
            child = (
                children[int(position)]
                if isinstance(children, list) and is_ascii_digits(position) and int(position) < len(children)
                else None
            )
            words.append(_condition_word(child, int(position) + 1 if is_ascii_digits(position) else position))
            node, index = child, index + 2
            continue
        if parts[0] == "actions" and index == 1 and is_ascii_digits(part):
            action = node[int(part)] if isinstance(node, list) and int(part) < len(node) else None
            label = ACTION_LABELS.get(action.get("type"), "action") if isinstance(action, dict) else "action"
            words = [f"Action {int(part) + 1} ({label})"]
            node, index = action, index + 1
            continue
        words.append(part.replace("_", " "))
        node = (
            node.get(part)
            if isinstance(node, dict)
            else node[int(part)]
            if isinstance(node, list) and is_ascii_digits(part) and int(part) < len(node)
            else None
        )
        index += 1
    return " › ".join(words)


def _condition_word(node: Any, position: int | str) -> str:
    if isinstance(node, dict) and "conditions" in node:
        return f"group {position} ({node.get('operator')})"
    if isinstance(node, dict):
        return f"condition {position} ({CONDITION_LABELS.get(node.get('type'), node.get('type'))})"
    return f"condition {position}"


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
