"""Helpers for the pure rule-engine tests: build facts and run one rule against them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from app.rules import CustomerFacts, Evaluation, Facts, RuleSet, StaticHistory, compile_rule, evaluate, parse_rule

UTC = dt.timezone.utc
NOON_UTC = dt.datetime(2024, 1, 15, 17, 0, tzinfo=UTC)  # Monday 12:00 in New York


def customer(**overrides: Any) -> CustomerFacts:
    """A logged-in customer with one order of 150.00 and no tags or tier unless overridden."""
    values: dict[str, Any] = {"customer_id": "7001", "orders_count": 1, "lifetime_spend": Decimal("150.00")}
    values.update(overrides)
    return CustomerFacts(**values)


def facts(
    event_data: dict[str, Any] | None = None,
    *,
    guest: bool = False,
    cust: CustomerFacts | None = None,
    event_type: str = "order_created",
    occurred_at: dt.datetime = NOON_UTC,
    timezone: str = "America/New_York",
    history: StaticHistory | None = None,
) -> Facts:
    """Facts for one order event; a first order of 150.00 by a known customer unless told otherwise."""
    data = (
        {"total_price": "150.00", "subtotal_price": "140.00", "currency": "USD"} if event_data is None else event_data
    )
    if history is None:
        history = StaticHistory(events=[("order_created", occurred_at)])
    return Facts(
        event_id="evt-1",
        event_type=event_type,
        occurred_at=occurred_at,
        timezone=timezone,
        event_data=data,
        customer=None if guest else (cust or customer()),
        history=history,
    )


def rule_with(*conditions: dict[str, Any], operator: str = "and", **keys: Any) -> dict[str, Any]:
    """A rule awarding 10 points when the conditions hold."""
    rule: dict[str, Any] = {
        "name": keys.pop("name", "R"),
        "actions": keys.pop("actions", [{"type": "points", "amount": 10}]),
    }
    if conditions:
        rule["conditions"] = {"operator": operator, "conditions": list(conditions)}
    rule.update(keys)
    return rule


def run(rules: list[dict[str, Any]] | dict[str, Any], the_facts: Facts, **options: Any) -> Evaluation:
    """Parse, compile and evaluate rule JSON against the facts (rule ids are 1, 2, ... in list order)."""
    rules = [rules] if isinstance(rules, dict) else rules
    compiled = [
        compile_rule(parse_rule(rule), rule_id=index + 1, version_id=100 + index, version=1)
        for index, rule in enumerate(rules)
    ]
    generated = evaluate(RuleSet(compiled), the_facts, **options)
    by_checks = evaluate(compiled, the_facts, **options)  # a plain list takes the per-rule check path
    assert (generated.decisions, generated.results) == (by_checks.decisions, by_checks.results)
    return generated


def holds(condition: dict[str, Any], the_facts: Facts) -> bool:
    """Whether a single condition holds for the facts (checked on both the fast path and the trace)."""
    fast = run(rule_with(condition), the_facts)
    traced = run(rule_with(condition), the_facts, trace=True)
    assert fast.results[0].fired == traced.results[0].fired == traced.results[0].trace[0].held
    return fast.results[0].fired
