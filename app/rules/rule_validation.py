"""Validate rule JSON and normalize it into a typed `Rule`; every problem is reported with its JSON pointer."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from app.rules.condition_validation import ConditionValidator
from app.rules.issues import RuleIssue, RuleValidationError
from app.rules.value_checks import (
    as_datetime,
    comparable,
    kind_name,
    text_issues,
)
from app.rules.vocabulary import (
    ACTIONS,
    ANY_SIZE,
    BASES,
    EVENT_TYPE_PATTERN,
    LIMIT_PERIODS,
    MAX_COUNT,
    MAX_FACTOR,
    MAX_POINTS,
    MAX_RATE,
    PRIORITY_RANGE,
    ROUNDINGS,
    RULE_STATUSES,
    STORED_MAX_POINTS,
    URL_PATTERN,
)

RULE_KEYS = (
    "name",
    "description",
    "status",
    "priority",
    "stop_further_rules",
    "event_types",
    "schedule",
    "limits",
    "conditions",
    "actions",
)
NAME_MAX_LENGTH = 255


@dataclass(frozen=True)
class Rule:
    """A validated rule; `definition` is its normalized JSON (defaults filled in), the form that is stored."""

    name: str
    description: str | None
    status: str
    priority: int
    stop_further_rules: bool
    event_types: tuple[str, ...]
    schedule: dict[str, str]
    limits: dict[str, Any]
    conditions: dict[str, Any] | None
    actions: tuple[dict[str, Any], ...]
    definition: dict[str, Any]


@dataclass(frozen=True)
class StoredRuleCheck:
    """A stored rule version against today's language: what keeps it from running (`refused`), or the numbers past
    today's bounds it runs with as saved (`past_bounds`)."""

    refused: tuple[RuleIssue, ...]
    past_bounds: tuple[RuleIssue, ...]

    @property
    def runs(self) -> bool:
        """Whether the version runs (as saved, when it has numbers past today's bounds)."""
        return not self.refused


def parse_rule(data: Any) -> Rule:
    """Return the validated, normalized Rule, or raise RuleValidationError listing every issue by JSON pointer."""
    return _parse(data, stored=False)


def parse_stored_rule(data: Any) -> Rule:
    """Return a stored rule version as it runs, or raise RuleValidationError listing what keeps it from running.

    A version saved while a bound was looser (or before it) runs as saved when its numbers past today's bounds are
    ones the engine handles safely (vocabulary, STORED_MAX_POINTS and ANY_SIZE); saving it again takes today's
    bounds (parse_rule).
    """
    return _parse(data, stored=True)


def check_stored_rule(data: Any) -> StoredRuleCheck:
    """Return whether a stored rule version runs, and why not or with which numbers past today's bounds."""
    validator = _RuleValidator(stored=True)
    validator.rule(data)
    if validator.issues:
        return StoredRuleCheck(tuple(validator.issues), ())
    return StoredRuleCheck((), tuple(validator.past_bounds))


def _parse(data: Any, *, stored: bool) -> Rule:
    validator = _RuleValidator(stored=stored)
    definition = validator.rule(data)
    if validator.issues:
        raise RuleValidationError(validator.issues)
    return _typed(definition)


def _typed(definition: dict[str, Any]) -> Rule:
    return Rule(
        name=definition["name"],
        description=definition.get("description"),
        status=definition["status"],
        priority=definition["priority"],
        stop_further_rules=definition["stop_further_rules"],
        event_types=tuple(definition["event_types"]),
        schedule=definition.get("schedule", {}),
        limits=definition.get("limits", {}),
        conditions=definition.get("conditions"),
        actions=tuple(definition["actions"]),
        definition=definition,
    )


def validate_rule(data: Any) -> list[RuleIssue]:
    """Return every issue in the rule (empty when it is valid)."""
    validator = _RuleValidator()
    validator.rule(data)
    return validator.issues


class _RuleValidator(ConditionValidator):
    def rule(self, data: Any) -> dict[str, Any]:
        """Check the whole rule; return it normalized (defaults filled in)."""
        if not isinstance(data, dict):
            self.fail("", f"a rule must be a JSON object, not {kind_name(data)}")
            return {}
        self.keys(data, "", RULE_KEYS, ("name", "actions"))
        out: dict[str, Any] = {}
        if "name" in data and self.text(data["name"], "/name"):
            out["name"] = data["name"].strip()
            if len(out["name"]) > NAME_MAX_LENGTH:
                self.fail("/name", f"must be at most {NAME_MAX_LENGTH} characters")
        if data.get("description") is not None:
            if isinstance(data["description"], str):
                out["description"] = data["description"]
            else:
                self.fail("/description", "must be a string")
        out["status"] = data.get("status", "active")
        self.choice(out["status"], "/status", RULE_STATUSES)
        out["priority"] = data.get("priority", 0)
        self.integer(out["priority"], "/priority", *PRIORITY_RANGE)
        out["stop_further_rules"] = data.get("stop_further_rules", False)
        self.boolean(out["stop_further_rules"], "/stop_further_rules")
        out["event_types"] = self.event_types(data.get("event_types", ["order_created"]))
        if "schedule" in data:
            out["schedule"] = self.schedule(data["schedule"])
        if "limits" in data:
            out["limits"] = self.limits(data["limits"])
        if "conditions" in data:
            out["conditions"] = self.condition(data["conditions"], "/conditions", top=True)
        if "actions" in data:
            out["actions"] = self.actions(data["actions"])
        self.issues.extend(text_issues(data))
        return out

    def event_types(self, value: Any) -> list[str]:
        """Check the event types the rule answers."""
        if not isinstance(value, list) or not value:
            self.fail("/event_types", "must be a non-empty list of event types")
            return []
        for index, item in enumerate(value):
            self.text(item, f"/event_types/{index}", EVENT_TYPE_PATTERN, "an event type such as order_created")
        if len(set(map(str, value))) != len(value):
            self.fail("/event_types", "must not repeat an event type")
        return list(value)

    def schedule(self, value: Any) -> dict[str, str]:
        """Check starts_at / ends_at and their order."""
        if not isinstance(value, dict):
            self.fail("/schedule", "must be an object with starts_at and/or ends_at")
            return {}
        self.keys(value, "/schedule", ("starts_at", "ends_at"))
        bounds = {key: self.when(value[key], f"/schedule/{key}") for key in ("starts_at", "ends_at") if key in value}
        start, end = bounds.get("starts_at"), bounds.get("ends_at")
        if start is not None and end is not None and comparable(start, end):
            # A date-only ends_at includes that whole (shop-local) day: the rule ends the next midnight. Compared by
            # date, not by adding the day, which 9999-12-31 does not have.
            if type(end) is dt.date:
                ends_after = as_datetime(start).date() <= end
            else:
                ends_after = as_datetime(start) < end
            if not ends_after:
                self.fail("/schedule/ends_at", "must be after starts_at")
        return {key: value[key] for key in ("starts_at", "ends_at") if key in value}

    def limits(self, value: Any) -> dict[str, Any]:
        """Check per-customer limits and the budget."""
        if not isinstance(value, dict):
            self.fail("/limits", "must be an object")
            return {}
        self.keys(value, "/limits", ("per_customer", "per_customer_period", "budget_points"))
        out = dict(value)
        if "per_customer" in value:
            self.integer(value["per_customer"], "/limits/per_customer", 1, MAX_COUNT, stored_maximum=ANY_SIZE)
            out.setdefault("per_customer_period", "lifetime")
        elif "per_customer_period" in value:
            self.fail("/limits/per_customer_period", "needs per_customer (how many times per period)")
        if "per_customer_period" in value:
            self.choice(value["per_customer_period"], "/limits/per_customer_period", LIMIT_PERIODS)
        if "budget_points" in value:
            self.integer(value["budget_points"], "/limits/budget_points", 1, MAX_POINTS, stored_maximum=ANY_SIZE)
        return out

    def actions(self, value: Any) -> list[dict[str, Any]]:
        """Check the action list."""
        if not isinstance(value, list) or not value:
            self.fail("/actions", "must be a non-empty list of actions")
            return []
        return [self.action(action, f"/actions/{index}") for index, action in enumerate(value)]

    def action(self, node: Any, pointer: str) -> dict[str, Any]:
        """Check one action; fill in its defaults."""
        if not isinstance(node, dict):
            self.fail(pointer, "must be an action object")
            return {}
        spec = ACTIONS.get(node.get("type")) if isinstance(node.get("type"), str) else None
        if spec is None:
            self.fail(f"{pointer}/type", f"must be one of: {', '.join(ACTIONS)}")
            return {}
        self.keys(node, pointer, ("type", *spec.required_keys, *spec.optional_keys), spec.required_keys)
        out = dict(node)
        if "amount" in node:
            self.integer(node["amount"], f"{pointer}/amount", 1, MAX_POINTS, stored_maximum=STORED_MAX_POINTS)
        if "max_points" in node:
            self.integer(node["max_points"], f"{pointer}/max_points", 1, MAX_POINTS, stored_maximum=ANY_SIZE)
        for key, maximum in (("rate", MAX_RATE), ("factor", MAX_FACTOR)):
            if key in node:
                self.number(node[key], f"{pointer}/{key}", positive=True, maximum=maximum, stored_maximum=ANY_SIZE)
        if "reason" in node and not isinstance(node["reason"], str):
            self.fail(f"{pointer}/reason", "must be a string")
        if spec.type == "points_per_currency":
            out.setdefault("basis", "subtotal")
            out.setdefault("rounding", "floor")
            self.choice(out["basis"], f"{pointer}/basis", BASES)
            self.choice(out["rounding"], f"{pointer}/rounding", ROUNDINGS)
        if "reward" in node:
            self.text(node["reward"], f"{pointer}/reward")
        if "url" in node:
            self.text(node["url"], f"{pointer}/url", URL_PATTERN, "an http(s) URL")
        if spec.type == "tag_customer":
            self.tag_lists(node, pointer)
        return out

    def tag_lists(self, node: dict, pointer: str) -> None:
        """A tag_customer action adds or removes at least one tag."""
        if not node.get("add") and not node.get("remove"):
            self.fail(pointer, "needs a non-empty `add` or `remove` list")
        for key in ("add", "remove"):
            if key not in node:
                continue
            if not isinstance(node[key], list):
                self.fail(f"{pointer}/{key}", "must be a list of tags")
                continue
            for index, tag in enumerate(node[key]):
                self.text(tag, f"{pointer}/{key}/{index}")
