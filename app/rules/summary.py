"""A rule in plain language ("Customers earn 500 points when an order is placed and the order total is at least
$100, at most once a day"), generated from the rule itself so it can never disagree with what runs."""

from __future__ import annotations

from typing import Any

from app.rules import parse_stored_rule
from app.rules.labels import CONDITION_LABELS, LINE_ITEM_FIELD_LABELS, PERIOD_LABELS

CURRENCY_SIGNS = {"USD": "$", "CAD": "CA$", "AUD": "A$", "EUR": "€", "GBP": "£", "JPY": "¥"}
COMPARED = {
    "==": "is",
    "!=": "is not",
    ">": "is more than",
    ">=": "is at least",
    "<": "is less than",
    "<=": "is at most",
}
DAY_NAMES = {
    "mon": "Monday",
    "tue": "Tuesday",
    "wed": "Wednesday",
    "thu": "Thursday",
    "fri": "Friday",
    "sat": "Saturday",
    "sun": "Sunday",
}
ROUNDING = {"floor": "rounded down", "round": "rounded", "ceil": "rounded up"}
TIMES = {1: "once", 2: "twice"}


def summarize(definition: Any, currency: str, points_name: str = "points") -> str | None:
    """The rule as one sentence, or None when it is not a valid rule (its problems say why); points are called
    `points_name` (the shop's own word on its storefront, "Stars"). A stored rule with numbers past today's bounds
    that runs as saved (parse_stored_rule) is told as it runs."""
    try:
        rule = parse_stored_rule(definition)
    except ValueError:
        return None
    words = _Words(currency, points_name)
    when = " or ".join(_event(kind) for kind in rule.event_types)
    conditions = words.condition(rule.conditions) if rule.conditions else None
    sentence = f"Customers {_join([words.action(action) for action in rule.actions], 'and')} when {when}"
    if conditions:
        sentence += f" and {conditions}"
    sentence += "".join(f", {part}" for part in (*_limits(rule.limits, points_name), *_schedule(rule.schedule)))
    if rule.stop_further_rules:
        sentence += "; lower-priority rules are then skipped"
    prefix = "" if rule.status == "active" else f"({rule.status.capitalize()}) "
    return f"{prefix}{sentence}."


def _event(kind: str) -> str:
    return "an order is placed" if kind == "order_created" else f"a {kind.replace('_', ' ')} event arrives"


def _join(parts: list[str], word: str) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return f"{', '.join(parts[:-1])} {word} {parts[-1]}"


def _ordinal(n: int) -> str:
    if n == 1:
        return "first"
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _limits(limits: dict[str, Any], points: str) -> list[str]:
    parts = []
    if "per_customer" in limits:
        times = TIMES.get(limits["per_customer"], f"{limits['per_customer']} times")
        parts.append(f"at most {times} {PERIOD_LABELS[limits['per_customer_period']]} per customer")
    if "budget_points" in limits:
        parts.append(f"until {limits['budget_points']:,} {points} have been issued in all")
    return parts


def _schedule(schedule: dict[str, str]) -> list[str]:
    parts = []
    if "starts_at" in schedule:
        parts.append(f"from {schedule['starts_at']}")
    if "ends_at" in schedule:
        parts.append(f"until {schedule['ends_at']}")
    return parts


class _Words:
    def __init__(self, currency: str, points: str) -> None:
        self.currency = currency
        self.points = points

    def money(self, value: Any) -> str:
        sign = CURRENCY_SIGNS.get(self.currency)
        return f"{sign}{value}" if sign else f"{value} {self.currency}"

    def values(self, values: Any, word: str = "or", show: Any = str) -> str:
        items = values if isinstance(values, list) else [values]
        return _join([show(item) for item in items], word)

    def compared(self, operator: str, value: Any, show: Any = str) -> str:
        if operator == "between":
            return f"is between {show(value[0])} and {show(value[1])}"
        if operator == "in":
            return f"is {self.values(value, 'or', show)}"
        if operator == "not_in":
            return f"is neither {self.values(value, 'nor', show)}"
        return f"{COMPARED[operator]} {show(value)}"

    def condition(self, node: dict[str, Any]) -> str:
        if "conditions" in node:
            parts = [self.condition(child) for child in node["conditions"]]
            if node["operator"] == "not":
                return f"not ({parts[0]})"
            if len(parts) == 1:
                return parts[0]
            joined = _join(parts, "and" if node["operator"] == "and" else "or")
            return joined if node["operator"] == "and" else f"either {joined}"
        return self.leaf(node)

    def leaf(self, node: dict[str, Any]) -> str:
        kind, operator, value = node["type"], node["operator"], node.get("value")
        if kind in ("order_total", "order_subtotal"):
            return f"the order {kind.split('_')[1]} {self.compared(operator, value, self.money)}"
        if kind == "customer_lifetime_spend":
            return f"the customer's lifetime spend {self.compared(operator, value, self.money)}"
        if kind == "customer_order_count":
            return f"the customer's order count {self.compared(operator, value)}"
        if kind == "frequency":
            kind_of_event = node.get("event_type", "order_created")
            event = "order" if kind_of_event == "order_created" else f"{kind_of_event.replace('_', ' ')} event"
            window = f" in the last {node['within_days']} days" if "within_days" in node else ""
            if operator == "==":
                return f"it is the customer's {_ordinal(value)} {event}{window}"
            return f"the customer's number of {event}s{window} {self.compared(operator, value)}"
        if kind in ("customer_tag", "customer_tier"):
            noun = "tagged" if kind == "customer_tag" else "in tier"
            negation = "not " if operator == "not_in" else ""
            return f"the customer is {negation}{noun} {self.values(value)}"
        if kind == "line_item":
            field = LINE_ITEM_FIELD_LABELS[node["field"]].lower()
            extra = []
            if "min_quantity" in node:
                extra.append(f"at least {node['min_quantity']} of them")
            if "min_amount" in node:
                extra.append(f"worth at least {self.money(node['min_amount'])}")
            matched = "any of" if operator == "in" else "none of"
            return f"the order has an item whose {field} is {matched} {self.values(value, 'or')}" + (
                f" ({', '.join(extra)})" if extra else ""
            )
        if kind == "discount_code":
            if operator == "exists":
                return "a discount code is used" if value else "no discount code is used"
            if operator == "in":
                return f"discount code {self.values(value)} is used"
            return f"none of the discount codes {self.values(value, 'or')} is used"
        if kind == "date":
            if operator == "between":
                return f"the date is between {value[0]} and {value[1]}"
            return f"the date is {'on or after' if operator == '>=' else 'before'} {value}"
        if kind == "day_of_week":
            days = self.values(value, "or", lambda day: DAY_NAMES.get(day, day))
            return f"it is {'not ' if operator == 'not_in' else ''}{days}"
        if kind == "time_of_day":
            return f"the time is between {value[0]} and {value[1]}"
        if kind == "referred_customer":
            return "the customer came through a referral" if value else "the customer did not come through a referral"
        if kind == "attribute":
            if operator == "exists":
                return f"the order field {node['path']} {'is present' if value else 'is absent'}"
            return f"the order field {node['path']} {self.compared(operator, value)}"
        return f"the {CONDITION_LABELS[kind].lower()} {self.compared(operator, value)}"

    def action(self, action: dict[str, Any]) -> str:
        kind = action["type"]
        reason = f" ({action['reason']})" if action.get("reason") else ""
        if kind == "points":
            return f"earn {action['amount']:,} {self.points}{reason}"
        if kind == "points_per_currency":
            cap = f", at most {action['max_points']:,}" if "max_points" in action else ""
            rounding = ROUNDING[action["rounding"]]
            return (
                f"earn {action['rate']:g} {self.points} per {self.money(1)} of the order {action['basis']} "
                f"({rounding}{cap}){reason}"
            )
        if kind == "multiply":
            return f"get the {self.points} of the other rules multiplied by {action['factor']:g}"
        if kind == "issue_reward":
            return f"receive the reward {action['reward']!r}"
        if kind == "tag_customer":
            changes = []
            if action.get("add"):
                changes.append(f"tagged {self.values(action['add'], 'and')}")
            if action.get("remove"):
                changes.append(f"untagged {self.values(action['remove'], 'and')}")
            return f"get {_join(changes, 'and')}"
        if kind == "webhook":
            return f"trigger a webhook to {action['url']}"
        return f"earn their referrer {action['amount']:,} {self.points}{reason}"
