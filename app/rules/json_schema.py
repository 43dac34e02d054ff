"""The rule language as a JSON Schema (draft 2020-12), built from the same vocabulary the validator uses.

The admin builder serves `RULE_JSON_SCHEMA` to the browser (`schema_json()`); `parse_rule` additionally checks what
a schema cannot say well (ordered ranges, schedule order, ISO dates, text with a NUL or a lone surrogate, which a
browser's UTF-16 patterns cannot tell from text) and gives every error a JSON pointer.
"""

from __future__ import annotations

import json
from typing import Any

from app.rules.vocabulary import (
    ACTIONS,
    BASES,
    CONDITIONS,
    EVENT_TYPE_PATTERN,
    GROUP_OPERATORS,
    LIMIT_PERIODS,
    LINE_ITEM_FIELDS,
    MAX_COUNT,
    MAX_FACTOR,
    MAX_POINTS,
    MAX_RATE,
    MAX_WITHIN_DAYS,
    MISSING_NOTE,
    PATH_PATTERN,
    POINTS_NOTE,
    PRIORITY_RANGE,
    ROUNDINGS,
    RULE_STATUSES,
    TEXT_PATTERNS,
    URL_PATTERN,
    WEEKDAYS,
    ConditionSpec,
)

ISO_WHEN = {
    "type": "string",
    "pattern": r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$",
    "description": "ISO 8601 date or date-time; without an offset it is shop-local time.",
}
CLOCK = {"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d$", "description": "HH:MM, shop-local."}
TEXT = {"type": "string", "minLength": 1, "pattern": r"\S"}


def _base_value(spec: ConditionSpec) -> dict[str, Any]:
    kind = spec.value_kind
    if kind == "number":
        return {"type": "number"}
    if kind == "integer":
        return {"type": "integer", "minimum": 0, "maximum": MAX_COUNT}
    if kind == "text":
        pattern = EVENT_TYPE_PATTERN if spec.type == "event_type" else TEXT_PATTERNS.get(spec.type)
        return {"type": "string", "pattern": pattern.pattern} if pattern else dict(TEXT)
    if kind == "id":
        return {"anyOf": [TEXT, {"type": "integer"}]}
    if kind == "boolean":
        return {"type": "boolean"}
    if kind == "when":
        return ISO_WHEN
    if kind == "weekday":
        return {"enum": list(WEEKDAYS)}
    if kind == "clock":
        return CLOCK
    return {"type": ["string", "number", "boolean"]}


def _value_for(operator: str, base: dict[str, Any]) -> dict[str, Any]:
    if operator in ("in", "not_in"):
        return {"type": "array", "items": base, "minItems": 1}
    if operator == "between":
        return {
            "type": "array",
            "items": base,
            "minItems": 2,
            "maxItems": 2,
            "description": "[low, high], both included.",
        }
    if operator == "exists":
        return {"type": "boolean", "default": True}
    return base


def _condition_schema(spec: ConditionSpec) -> dict[str, Any]:
    base = _base_value(spec)
    properties: dict[str, Any] = {"type": {"const": spec.type}, "operator": {"enum": list(spec.operators)}, "value": {}}
    extra = {
        "field": {"enum": list(LINE_ITEM_FIELDS)},
        "min_quantity": {"type": "integer", "minimum": 1, "maximum": MAX_COUNT},
        "min_amount": {"type": "number", "minimum": 0},
        "event_type": {"type": "string", "pattern": EVENT_TYPE_PATTERN.pattern, "default": "order_created"},
        "within_days": {"type": "integer", "minimum": 1, "maximum": MAX_WITHIN_DAYS},
        "path": {"type": "string", "pattern": PATH_PATTERN.pattern},
    }
    for key in (*spec.required_keys, *spec.optional_keys):
        properties[key] = extra[key]
    branches = [
        {
            "if": {"required": ["operator"], "properties": {"operator": {"const": operator}}},
            "then": {"properties": {"value": _value_for(operator, base)}},
        }
        for operator in spec.operators
    ]
    defaults = [_value_for(spec.list_default, base)] if spec.list_default in spec.operators else []
    if spec.scalar_default in spec.operators:
        defaults.append(base)
    branches.append(
        {
            "if": {"not": {"required": ["operator"]}},
            "then": {"required": ["value"], "properties": {"value": {"anyOf": defaults}}}
            if defaults
            else {"required": ["operator"]},
        }
    )
    required = ["type", *spec.required_keys]
    if spec.value_required:
        branches.append(
            {
                "if": {"required": ["operator"], "properties": {"operator": {"not": {"const": "exists"}}}},
                "then": {"required": ["value"]},
            }
        )
    schema = {
        "type": "object",
        "description": f"{spec.description} {MISSING_NOTE}",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
        "allOf": branches,
    }
    if spec.type == "attribute":
        schema["allOf"].append(
            {
                "if": {"required": ["operator"], "properties": {"operator": {"const": "exists"}}},
                "then": {"properties": {"value": {"type": "boolean"}}},
            }
        )
    return schema


def _action_schema(type_: str) -> dict[str, Any]:
    spec = ACTIONS[type_]
    known = {
        "amount": {"type": "integer", "minimum": 1, "maximum": MAX_POINTS},
        "reason": {"type": "string"},
        "rate": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_RATE},
        "basis": {"enum": list(BASES), "default": "subtotal"},
        "rounding": {"enum": list(ROUNDINGS), "default": "floor"},
        "max_points": {"type": "integer", "minimum": 1, "maximum": MAX_POINTS},
        "factor": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_FACTOR},
        "reward": TEXT,
        "url": {"type": "string", "pattern": URL_PATTERN.pattern},
        "add": {"type": "array", "items": TEXT},
        "remove": {"type": "array", "items": TEXT},
    }
    properties = {"type": {"const": type_}} | {key: known[key] for key in (*spec.required_keys, *spec.optional_keys)}
    schema: dict[str, Any] = {
        "type": "object",
        "description": spec.description,
        "properties": properties,
        "required": ["type", *spec.required_keys],
        "additionalProperties": False,
    }
    if type_ == "tag_customer":
        schema["anyOf"] = [
            {"required": ["add"], "properties": {"add": {"minItems": 1}}},
            {"required": ["remove"], "properties": {"remove": {"minItems": 1}}},
        ]
    return schema


def build_rule_schema() -> dict[str, Any]:
    """Return the JSON Schema of one rule, as served to the admin builder."""
    defs: dict[str, Any] = {f"condition_{name}": _condition_schema(spec) for name, spec in CONDITIONS.items()}
    defs["group"] = {
        "type": "object",
        "description": "and / or / not over nested conditions; `not` has exactly one.",
        "properties": {
            "operator": {"enum": list(GROUP_OPERATORS)},
            "conditions": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/condition"}},
        },
        "required": ["operator", "conditions"],
        "additionalProperties": False,
        "if": {"properties": {"operator": {"const": "not"}}},
        "then": {"properties": {"conditions": {"maxItems": 1}}},
    }
    defs["condition"] = {
        "oneOf": [{"$ref": "#/$defs/group"}] + [{"$ref": f"#/$defs/condition_{name}"} for name in CONDITIONS]
    }
    defs["action"] = {"oneOf": [_action_schema(name) for name in ACTIONS], "description": POINTS_NOTE}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://loyalty.app/schemas/rule.json",
        "title": "Loyalty rule",
        "type": "object",
        "required": ["name", "actions"],
        "additionalProperties": False,
        "properties": {
            "name": {
                "type": "string",
                "minLength": 1,
                "maxLength": 255,
                "pattern": r"\S",
                "description": "Unique per shop.",
            },
            "description": {"type": ["string", "null"]},
            "status": {"enum": list(RULE_STATUSES), "default": "active"},
            "priority": {
                "type": "integer",
                "minimum": PRIORITY_RANGE[0],
                "maximum": PRIORITY_RANGE[1],
                "default": 0,
                "description": "Higher runs first; equal priorities run in name order.",
            },
            "stop_further_rules": {
                "type": "boolean",
                "default": False,
                "description": "When this rule fires, rules of lower priority do not run; "
                "rules of the same priority still do.",
            },
            "event_types": {
                "type": "array",
                "items": {"type": "string", "pattern": EVENT_TYPE_PATTERN.pattern},
                "minItems": 1,
                "uniqueItems": True,
                "default": ["order_created"],
            },
            "schedule": {
                "type": "object",
                "additionalProperties": False,
                "description": "starts_at inclusive; a date-time ends_at exclusive, a date ends_at "
                "includes that whole shop-local day.",
                "properties": {"starts_at": ISO_WHEN, "ends_at": ISO_WHEN},
            },
            "limits": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "per_customer": {"type": "integer", "minimum": 1, "maximum": MAX_COUNT},
                    "per_customer_period": {"enum": list(LIMIT_PERIODS), "default": "lifetime"},
                    "budget_points": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_POINTS,
                        "description": "Total points this rule may issue across "
                        "all customers; the last award is cut to "
                        "what remains.",
                    },
                },
                "dependentRequired": {"per_customer_period": ["per_customer"]},
            },
            "conditions": {"$ref": "#/$defs/group", "description": "Omitted: the rule always applies."},
            "actions": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/action"}},
        },
        "$defs": defs,
    }


RULE_JSON_SCHEMA: dict[str, Any] = build_rule_schema()


def schema_json() -> str:
    """Return RULE_JSON_SCHEMA as JSON text for the browser."""
    return json.dumps(RULE_JSON_SCHEMA, indent=2, sort_keys=True)
