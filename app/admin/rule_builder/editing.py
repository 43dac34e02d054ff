"""The editor's structural edits on a draft rule: add, remove, move and wrap conditions, groups, actions and list
items; change a condition's or an action's type; reshape a value when its operator changes.

Each edit takes the draft as the form gave it (not yet valid) and returns a new draft. The blanks these edits add
hold the language's defaults where there is a sensible one and empty text where the merchant must choose, so the
validator points at exactly what is left to fill in.
"""

from __future__ import annotations

import copy
from typing import Any

from app.rules.issues import escape
from app.rules.values import is_ascii_digits
from app.rules.vocabulary import ACTIONS, CONDITIONS


class EditError(ValueError):
    """An edit that does not apply to this draft (an unknown edit, or a place the draft does not have)."""


BLANK_CONDITIONS: dict[str, dict[str, Any]] = {
    "order_total": {"operator": ">=", "value": ""},
    "order_subtotal": {"operator": ">=", "value": ""},
    "frequency": {"operator": "==", "value": 1},
    "customer_order_count": {"operator": ">=", "value": ""},
    "customer_lifetime_spend": {"operator": ">=", "value": ""},
    "customer_tag": {"operator": "in", "value": [""]},
    "customer_tier": {"operator": "in", "value": [""]},
    "line_item": {"field": "product_id", "operator": "in", "value": [""]},
    "discount_code": {"operator": "exists", "value": True},
    "source_name": {"operator": "==", "value": "web"},
    "shipping_country": {"operator": "==", "value": ""},
    "currency": {"operator": "==", "value": ""},
    "date": {"operator": "between", "value": ["", ""]},
    "day_of_week": {"operator": "in", "value": ["sat", "sun"]},
    "time_of_day": {"operator": "between", "value": ["09:00", "17:00"]},
    "referred_customer": {"operator": "==", "value": True},
    "event_type": {"operator": "==", "value": "order_created"},
    "attribute": {"path": "event_data.", "operator": "==", "value": ""},
}
BLANK_ACTIONS: dict[str, dict[str, Any]] = {
    "points": {"amount": ""},
    "points_per_currency": {"rate": 1, "basis": "subtotal", "rounding": "floor"},
    "multiply": {"factor": 2},
    "issue_reward": {"reward": ""},
    "tag_customer": {"add": [""]},
    "webhook": {"url": ""},
    "referral_advocate_points": {"amount": ""},
}
assert set(BLANK_CONDITIONS) == set(CONDITIONS) and set(BLANK_ACTIONS) == set(ACTIONS)


def blank_condition(kind: str = "order_total") -> dict[str, Any]:
    """A new condition of a type, to be filled in."""
    if kind not in BLANK_CONDITIONS:
        raise EditError(f"there is no condition type {kind!r}")
    return {"type": kind, **copy.deepcopy(BLANK_CONDITIONS[kind])}


def blank_action(kind: str = "points") -> dict[str, Any]:
    """A new action of a type, to be filled in."""
    if kind not in BLANK_ACTIONS:
        raise EditError(f"there is no action type {kind!r}")
    return {"type": kind, **copy.deepcopy(BLANK_ACTIONS[kind])}


def apply_edit(draft: dict[str, Any], edit: str) -> dict[str, Any]:
    """Apply one edit, written `<verb> <JSON pointer>` (as the editor's buttons send it), to a copy of the draft;
    `refresh` changes nothing (the editor re-renders, e.g. after the kind of a value changed)."""
    verb, _, pointer = edit.strip().partition(" ")
    handler = _EDITS.get(verb)
    if handler is None:
        raise EditError(f"unknown edit {verb!r}")
    if pointer and not pointer.startswith("/"):
        raise EditError(f"{pointer!r} is not a JSON pointer")
    result = copy.deepcopy(draft)
    handler(result, pointer)
    return result


def _parts(pointer: str) -> list[str]:
    return [part.replace("~1", "/").replace("~0", "~") for part in pointer.split("/")[1:]]


def _at(draft: Any, pointer: str) -> Any:
    node = draft
    for part in _parts(pointer):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and is_ascii_digits(part) and int(part) < len(node):
            node = node[int(part)]
        else:
            raise EditError(f"the rule has nothing at {pointer or '/'}")
    return node


def _parent(draft: Any, pointer: str) -> tuple[Any, str]:
    parts = _parts(pointer)
    if not parts:
        raise EditError("the whole rule cannot be moved or removed")
    _at(draft, pointer)  # the place itself must exist
    return _at(draft, _join(parts[:-1])), parts[-1]


def _join(parts: list[str]) -> str:
    return "".join("/" + escape(part) for part in parts)


def _list_at(draft: dict[str, Any], pointer: str) -> list[Any]:
    node = _at(draft, pointer)
    if not isinstance(node, list):
        raise EditError(f"{pointer or '/'} is not a list")
    return node


def _group_list(draft: dict[str, Any], pointer: str) -> list[Any]:
    group = _at(draft, pointer)
    if not isinstance(group, dict) or not isinstance(group.get("conditions"), list):
        raise EditError(f"{pointer or '/'} is not a group of conditions")
    return group["conditions"]


def _add_condition(draft: dict[str, Any], pointer: str) -> None:
    if pointer == "/conditions" and "conditions" not in draft:
        draft["conditions"] = {"operator": "and", "conditions": []}
    _group_list(draft, pointer).append(blank_condition())


def _add_group(draft: dict[str, Any], pointer: str) -> None:
    _group_list(draft, pointer).append({"operator": "or", "conditions": [blank_condition()]})


def _wrap_not(draft: dict[str, Any], pointer: str) -> None:
    parent, key = _parent(draft, pointer)
    index = int(key) if isinstance(parent, list) else key
    parent[index] = {"operator": "not", "conditions": [parent[index]]}


def _unwrap(draft: dict[str, Any], pointer: str) -> None:
    """Replace a group of one condition by that condition (undoes a `not` or a group of one)."""
    parent, key = _parent(draft, pointer)
    index = int(key) if isinstance(parent, list) else key
    group = parent[index]
    if not isinstance(group, dict) or len(group.get("conditions") or []) != 1:
        raise EditError(f"{pointer} is not a group of exactly one condition")
    parent[index] = group["conditions"][0]


def _remove(draft: dict[str, Any], pointer: str) -> None:
    if pointer == "/conditions":
        draft.pop("conditions", None)
        return
    parent, key = _parent(draft, pointer)
    if not isinstance(parent, list):
        raise EditError(f"{pointer} is not an item of a list")
    del parent[int(key)]


def _move(delta: int) -> Any:
    def move(draft: dict[str, Any], pointer: str) -> None:
        parent, key = _parent(draft, pointer)
        if not isinstance(parent, list):
            raise EditError(f"{pointer} is not an item of a list")
        index, target = int(key), int(key) + delta
        if 0 <= target < len(parent):
            parent[index], parent[target] = parent[target], parent[index]

    return move


def _add_action(draft: dict[str, Any], pointer: str) -> None:
    draft.setdefault("actions", [])
    _list_at(draft, "/actions").append(blank_action())


def _add_item(draft: dict[str, Any], pointer: str) -> None:
    _list_at(draft, pointer).append("")


def _add_list(draft: dict[str, Any], pointer: str) -> None:
    """Start an absent list (a tag action's `remove`, say) with one empty item."""
    parent, key = _parent_of_absent(draft, pointer)
    parent.setdefault(key, [""])


def _parent_of_absent(draft: dict[str, Any], pointer: str) -> tuple[dict[str, Any], str]:
    parts = _parts(pointer)
    if not parts:
        raise EditError("nothing to add at /")
    head = _join(parts[:-1])
    parent = _at(draft, head)
    if not isinstance(parent, dict):
        raise EditError(f"{head or '/'} is not an object")
    return parent, parts[-1]


def _retype(draft: dict[str, Any], pointer: str) -> None:
    """The merchant picked another type for a condition or action: it starts over as that type's blank."""
    node = _at(draft, pointer)
    if not isinstance(node, dict):
        raise EditError(f"{pointer} is not a condition or an action")
    parent, key = _parent(draft, pointer)
    fresh = blank_action(node.get("type")) if _parts(pointer)[0] == "actions" else blank_condition(node.get("type"))
    parent[int(key) if isinstance(parent, list) else key] = fresh


def _reshape(draft: dict[str, Any], pointer: str) -> None:
    """The merchant picked another operator: the value becomes a list, a pair, a flag or one value to match."""
    node = _at(draft, pointer)
    if not isinstance(node, dict):
        raise EditError(f"{pointer} is not a condition")
    operator, value = node.get("operator"), node.get("value")
    items = value if isinstance(value, list) else ([] if value in (None, "", True, False) else [value])
    if operator in ("in", "not_in"):
        node["value"] = items or [""]
    elif operator == "between":
        node["value"] = (items + ["", ""])[:2]
    elif operator == "exists":
        node["value"] = True
    else:
        node["value"] = items[0] if items else ""


_EDITS = {
    "refresh": lambda draft, pointer: None,
    "add-condition": _add_condition,
    "add-group": _add_group,
    "wrap-not": _wrap_not,
    "unwrap": _unwrap,
    "remove": _remove,
    "move-up": _move(-1),
    "move-down": _move(1),
    "add-action": _add_action,
    "add-item": _add_item,
    "add-list": _add_list,
    "retype": _retype,
    "reshape": _reshape,
}
