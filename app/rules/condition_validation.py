"""Validate a rule's condition tree: groups and every condition type of the rule language, with JSON pointers."""

from __future__ import annotations

import math
from typing import Any

from app.rules.value_checks import (
    ValueChecks,
    as_datetime,
    comparable,
    kind_name,
)
from app.rules.values import is_number, normalize_id, parse_clock, parse_when
from app.rules.vocabulary import (
    ANY_SIZE,
    CONDITIONS,
    EVENT_TYPE_PATTERN,
    GROUP_OPERATORS,
    LINE_ITEM_FIELDS,
    MAX_COUNT,
    MAX_WITHIN_DAYS,
    PATH_PATTERN,
    TEXT_PATTERNS,
    WEEKDAYS,
    ConditionSpec,
)

MAX_DEPTH = 16


class ConditionValidator(ValueChecks):
    """Validates and normalizes condition trees (operators filled in from the language's defaults)."""

    def condition(self, node: Any, pointer: str, top: bool = False, depth: int = 1) -> dict[str, Any]:
        """Check one condition or group; return it normalized."""
        if not isinstance(node, dict):
            self.fail(pointer, "must be a condition object")
            return {}
        if top and "conditions" not in node:
            self.fail(pointer, 'must be a group: {"operator": "and"|"or"|"not", "conditions": [...]}')
            return {}
        if "conditions" in node or ("type" not in node and node.get("operator") in GROUP_OPERATORS):
            if depth > MAX_DEPTH:
                self.fail(pointer, f"groups nest too deeply (at most {MAX_DEPTH} levels)")
                return {}
            return self.group(node, pointer, depth)
        if "type" not in node:
            self.fail(f"{pointer}/type", "is required (or give a group with operator and conditions)")
            return {}
        spec = CONDITIONS.get(node["type"]) if isinstance(node["type"], str) else None
        if spec is None:
            self.fail(f"{pointer}/type", f"must be one of: {', '.join(CONDITIONS)}")
            return {}
        return self.leaf(node, pointer, spec)

    def group(self, node: dict, pointer: str, depth: int) -> dict[str, Any]:
        """Check an and/or/not group and its children."""
        self.keys(node, pointer, ("operator", "conditions"), ("operator", "conditions"))
        operator = node.get("operator")
        if "operator" in node:
            self.choice(operator, f"{pointer}/operator", GROUP_OPERATORS)
        children = node.get("conditions")
        if not isinstance(children, list):
            if "conditions" in node:
                self.fail(f"{pointer}/conditions", "must be a list of conditions")
            return {}
        if operator == "not" and len(children) != 1:
            self.fail(f"{pointer}/conditions", "a `not` group must have exactly one condition")
        elif not children:
            self.fail(f"{pointer}/conditions", "must not be empty")
        return {
            "operator": operator,
            "conditions": [
                self.condition(child, f"{pointer}/conditions/{index}", depth=depth + 1)
                for index, child in enumerate(children)
            ],
        }

    def leaf(self, node: dict, pointer: str, spec: ConditionSpec) -> dict[str, Any]:
        """Check one condition of a known type; fill in its default operator."""
        allowed = ("type", "operator", "value", *spec.required_keys, *spec.optional_keys)
        self.keys(node, pointer, allowed, spec.required_keys)
        out = dict(node)
        value = node.get("value")
        operator = node.get("operator")
        if operator is None:
            operator = spec.list_default if isinstance(value, list) else spec.scalar_default
            if operator is None:
                self.fail(f"{pointer}/operator", f"is required; one of: {', '.join(spec.operators)}")
                return out
        elif not self.choice(operator, f"{pointer}/operator", spec.operators):
            return out
        out["operator"] = operator
        if operator == "exists":
            if "value" in node:
                self.boolean(value, f"{pointer}/value")
            out["value"] = node.get("value", True)
        elif "value" not in node:
            self.fail(f"{pointer}/value", "is required")
        elif operator in ("in", "not_in"):
            if not isinstance(value, list) or not value:
                self.fail(f"{pointer}/value", f"must be a non-empty list for `{operator}`")
            else:
                for index, item in enumerate(value):
                    self.value(item, f"{pointer}/value/{index}", spec)
        elif operator == "between":
            if not isinstance(value, list) or len(value) != 2:
                self.fail(f"{pointer}/value", "must be a list of exactly two items: [low, high]")
            elif all([self.value(item, f"{pointer}/value/{index}", spec) for index, item in enumerate(value)]):
                self.ordered_pair(value, f"{pointer}/value", spec)
        else:
            self.value(value, f"{pointer}/value", spec)
        if spec.type == "attribute" and operator != "exists":
            self.attribute_value(out.get("value"), operator, f"{pointer}/value")
        self.extra_keys(node, pointer, spec)
        return out

    def attribute_value(self, value: Any, operator: str, pointer: str) -> None:
        """An attribute compares with one kind of value, and booleans only for equality or membership."""
        items = value if isinstance(value, list) else [value]
        kinds = {kind_name(item) for item in items}
        if len(kinds) > 1:
            self.fail(pointer, "items must all be of one kind (all strings, all numbers or all booleans)")
        elif kinds == {"boolean"} and operator not in ("==", "!=", "in", "not_in"):
            self.fail(pointer, f"a boolean cannot be compared with `{operator}`")

    def value(self, value: Any, pointer: str, spec: ConditionSpec) -> bool:
        """Accept one value of the condition type's kind."""
        kind = spec.value_kind
        if kind == "number":
            return self.number(value, pointer)
        if kind == "integer":
            return self.integer(value, pointer, 0, MAX_COUNT, stored_maximum=ANY_SIZE)
        if kind == "text":
            pattern = TEXT_PATTERNS.get(spec.type)
            hints = {
                "shipping_country": "a two-letter ISO country code",
                "currency": "a three-letter ISO currency code",
                "event_type": "an event type such as order_created",
            }
            pattern = EVENT_TYPE_PATTERN if spec.type == "event_type" else pattern
            return self.text(value, pointer, pattern, hints.get(spec.type, ""))
        if kind == "id":
            return self.expect(normalize_id(value) is not None, pointer, "must be a non-empty string or an integer id")
        if kind == "boolean":
            return self.boolean(value, pointer)
        if kind == "when":
            return self.when(value, pointer) is not None
        if kind == "weekday":
            return self.choice(value, pointer, WEEKDAYS)
        if kind == "clock":
            return self.expect(
                parse_clock(value) is not None, pointer, "must be a time of day as HH:MM (00:00 to 23:59)"
            )
        if isinstance(value, (dict, list)) or value is None or (isinstance(value, float) and not math.isfinite(value)):
            self.fail(pointer, "must be a string, number or boolean")
            return False
        return True

    def ordered_pair(self, pair: list, pointer: str, spec: ConditionSpec) -> None:
        """A `between` pair must be [low, high] of one kind (a clock window may wrap midnight)."""
        low, high = pair
        if spec.value_kind == "clock":
            return  # a start after the end wraps midnight
        if spec.value_kind == "when":
            low, high = parse_when(low), parse_when(high)
            if not comparable(low, high):
                return
            low, high = as_datetime(low), as_datetime(high)
        elif (
            isinstance(low, bool)
            or isinstance(high, bool)
            or type(low) is not type(high)
            and not (is_number(low) and is_number(high))
        ):
            self.fail(pointer, "low and high must be of the same kind")
            return
        if low > high:
            self.fail(pointer, "low must not be greater than high")

    def extra_keys(self, node: dict, pointer: str, spec: ConditionSpec) -> None:
        """Check the keys some condition types add (field, min_quantity, min_amount, event_type, ...)."""
        if "field" in node:
            self.choice(node["field"], f"{pointer}/field", LINE_ITEM_FIELDS)
        if "min_quantity" in node:
            self.integer(node["min_quantity"], f"{pointer}/min_quantity", 1, MAX_COUNT, stored_maximum=ANY_SIZE)
        if "min_amount" in node:
            self.number(node["min_amount"], f"{pointer}/min_amount", minimum=0)
        if "event_type" in node:
            self.text(node["event_type"], f"{pointer}/event_type", EVENT_TYPE_PATTERN, "an event type")
        if "within_days" in node:
            self.integer(node["within_days"], f"{pointer}/within_days", 1, MAX_WITHIN_DAYS)
        if "path" in node:
            self.text(
                node["path"],
                f"{pointer}/path",
                PATH_PATTERN,
                "a dotted path from event_data, e.g. event_data.note_attributes.0.value",
            )
