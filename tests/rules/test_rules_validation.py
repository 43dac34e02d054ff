"""Validation: every bad input refused with its JSON pointer; defaults normalized; the JSON Schema agrees."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from app.rules import (
    RULE_JSON_SCHEMA,
    RuleIssue,
    RuleValidationError,
    check_stored_rule,
    compile_rule,
    evaluate,
    parse_rule,
    parse_stored_rule,
    schema_json,
    validate_rule,
)
from app.rules.vocabulary import MAX_AWARD
from tests.rules.rule_helpers import customer, facts
from tests.rules.test_rules_engine import FIRST_ORDER_BONUS

POINTS = [{"type": "points", "amount": 10}]
NUL = "must not contain a NUL character (\\u0000)"
WITHIN_DAYS = ("/conditions/conditions/0/within_days", "must be at most 36,600")
SURROGATE = "must not contain a lone surrogate (\\ud800 to \\udfff without its pair): it is not a character"


def leaf(condition: dict[str, Any]) -> dict[str, Any]:
    return {"name": "R", "actions": POINTS, "conditions": {"operator": "and", "conditions": [condition]}}


def deep(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "order_total", "value": 1}
    for _ in range(levels):
        node = {"operator": "and", "conditions": [node]}
    return node


INVALID: list[tuple[Any, list[tuple[str, str]]]] = [
    ([], [("", "a rule must be a JSON object, not list")]),
    ({}, [("/name", "is required"), ("/actions", "is required")]),
    ({"name": " ", "actions": POINTS}, [("/name", "must be a non-empty string")]),
    (
        {"name": "R", "actions": POINTS, "colour": "red"},
        [
            (
                "/colour",
                "unknown key; allowed: name, description, status, "
                "priority, stop_further_rules, event_types, schedule, "
                "limits, conditions, actions",
            )
        ],
    ),
    (
        {"name": "R", "actions": POINTS, "status": "live"},
        [("/status", "must be one of: draft, active, paused, archived")],
    ),
    ({"name": "R", "actions": POINTS, "priority": "1"}, [("/priority", "must be an integer")]),
    ({"name": "R", "actions": POINTS, "priority": True}, [("/priority", "must be an integer")]),
    ({"name": "R", "actions": POINTS, "stop_further_rules": 1}, [("/stop_further_rules", "must be true or false")]),
    (
        {"name": "R", "actions": POINTS, "event_types": []},
        [("/event_types", "must be a non-empty list of event types")],
    ),
    (
        {"name": "R", "actions": POINTS, "event_types": ["Orders/Create"]},
        [("/event_types/0", "must be an event type such as order_created")],
    ),
    (
        {"name": "R", "actions": POINTS, "schedule": {"starts_at": "2024-02-01", "ends_at": "2024-01-01"}},
        [("/schedule/ends_at", "must be after starts_at")],
    ),
    (
        {"name": "R", "actions": POINTS, "schedule": {"starts_at": "9999-12-31T12:00:00", "ends_at": "9999-12-30"}},
        [("/schedule/ends_at", "must be after starts_at")],
    ),
    (
        {"name": "R", "actions": POINTS, "schedule": {"starts_at": "next monday"}},
        [("/schedule/starts_at", "must be an ISO 8601 date or date-time (2024-12-24 or 2024-12-24T09:00:00-05:00)")],
    ),
    (
        {"name": "R", "actions": POINTS, "limits": {"per_customer": 0, "budget_points": -5}},
        [("/limits/per_customer", "must be at least 1"), ("/limits/budget_points", "must be at least 1")],
    ),
    (
        {"name": "R", "actions": POINTS, "limits": {"per_customer_period": "week"}},
        [("/limits/per_customer_period", "needs per_customer (how many times per period)")],
    ),
    (
        {"name": "R", "actions": POINTS, "limits": {"per_customer": 1, "per_customer_period": "fortnight"}},
        [("/limits/per_customer_period", "must be one of: day, week, month, year, lifetime")],
    ),
    (
        {"name": "R", "actions": POINTS, "conditions": {"type": "order_total", "value": 1}},
        [("/conditions", 'must be a group: {"operator": "and"|"or"|"not", "conditions": [...]}')],
    ),
    (
        {
            "name": "R",
            "actions": POINTS,
            "conditions": {
                "operator": "not",
                "conditions": [{"type": "order_total", "value": 1}, {"type": "order_total", "value": 2}],
            },
        },
        [("/conditions/conditions", "a `not` group must have exactly one condition")],
    ),
    (
        {"name": "R", "actions": POINTS, "conditions": {"operator": "xor", "conditions": []}},
        [("/conditions/operator", "must be one of: and, or, not"), ("/conditions/conditions", "must not be empty")],
    ),
    (
        leaf({"type": "order_total", "operator": ">=", "value": "100"}),
        [("/conditions/conditions/0/value", "must be a number")],
    ),
    (
        leaf({"type": "order_total", "operator": "~", "value": 1}),
        [("/conditions/conditions/0/operator", "must be one of: ==, !=, >, >=, <, <=, between, in, not_in")],
    ),
    (
        leaf({"type": "order_total", "operator": "between", "value": [200, 100]}),
        [("/conditions/conditions/0/value", "low must not be greater than high")],
    ),
    (
        leaf({"type": "order_total", "operator": "between", "value": [1]}),
        [("/conditions/conditions/0/value", "must be a list of exactly two items: [low, high]")],
    ),
    (
        leaf({"type": "order_total", "operator": "in", "value": []}),
        [("/conditions/conditions/0/value", "must be a non-empty list for `in`")],
    ),
    (
        leaf({"type": "order_total", "operator": "in", "value": [1, "x"]}),
        [("/conditions/conditions/0/value/1", "must be a number")],
    ),
    (leaf({"type": "order_total"}), [("/conditions/conditions/0/value", "is required")]),
    (
        leaf({"type": "orders", "value": 1}),
        [
            (
                "/conditions/conditions/0/type",
                "must be one of: order_total, "
                "order_subtotal, frequency, customer_order_count, customer_lifetime_spend, "
                "customer_tag, customer_tier, line_item, discount_code, source_name, "
                "shipping_country, currency, date, day_of_week, time_of_day, "
                "referred_customer, event_type, attribute",
            )
        ],
    ),
    (
        leaf({"type": "frequency", "value": 1.5, "within_days": 0}),
        [
            ("/conditions/conditions/0/value", "must be an integer"),
            ("/conditions/conditions/0/within_days", "must be at least 1"),
        ],
    ),
    (
        leaf({"type": "customer_tag", "value": "vip"}),
        [("/conditions/conditions/0/operator", "is required; one of: in, not_in")],
    ),
    (
        leaf({"type": "customer_tag", "operator": "==", "value": ["vip"]}),
        [("/conditions/conditions/0/operator", "must be one of: in, not_in")],
    ),
    (
        leaf({"type": "line_item", "value": ["A"], "min_quantity": 0}),
        [
            ("/conditions/conditions/0/field", "is required"),
            ("/conditions/conditions/0/min_quantity", "must be at least 1"),
        ],
    ),
    (
        leaf({"type": "line_item", "field": "title", "value": ["A"]}),
        [
            (
                "/conditions/conditions/0/field",
                "must be one of: product_id, variant_id, sku, product_tag, collection_id, vendor",
            )
        ],
    ),
    (
        leaf({"type": "discount_code", "operator": "exists", "value": "yes"}),
        [("/conditions/conditions/0/value", "must be true or false")],
    ),
    (
        leaf({"type": "shipping_country", "value": "USA"}),
        [("/conditions/conditions/0/value", "must be a two-letter ISO country code")],
    ),
    (
        leaf({"type": "currency", "value": ["US"]}),
        [("/conditions/conditions/0/value/0", "must be a three-letter ISO currency code")],
    ),
    (
        leaf({"type": "date", "value": "2024-01-01"}),
        [("/conditions/conditions/0/operator", "is required; one of: between, >=, <")],
    ),
    (
        leaf({"type": "date", "operator": "<=", "value": "2024-01-01"}),
        [("/conditions/conditions/0/operator", "must be one of: between, >=, <")],
    ),
    (
        leaf({"type": "date", "operator": "between", "value": ["2024-02-01", "2024-01-01"]}),
        [("/conditions/conditions/0/value", "low must not be greater than high")],
    ),
    (
        leaf({"type": "day_of_week", "value": ["saturday"]}),
        [("/conditions/conditions/0/value/0", "must be one of: mon, tue, wed, thu, fri, sat, sun")],
    ),
    (
        leaf({"type": "time_of_day", "value": ["9:00", "24:00"]}),
        [
            ("/conditions/conditions/0/value/0", "must be a time of day as HH:MM (00:00 to 23:59)"),
            ("/conditions/conditions/0/value/1", "must be a time of day as HH:MM (00:00 to 23:59)"),
        ],
    ),
    (
        # A superscript two is a digit to str.isdigit(), not to int(): refused like any other non-time.
        leaf({"type": "time_of_day", "value": ["\u00b23:00", "10:00"]}),
        [("/conditions/conditions/0/value/0", "must be a time of day as HH:MM (00:00 to 23:59)")],
    ),
    (
        leaf({"type": "referred_customer", "value": "yes"}),
        [("/conditions/conditions/0/value", "must be true or false")],
    ),
    (
        leaf({"type": "attribute", "path": "note", "value": 1}),
        [
            (
                "/conditions/conditions/0/path",
                "must be a dotted path from event_data, e.g. event_data.note_attributes.0.value",
            )
        ],
    ),
    (
        leaf({"type": "attribute", "path": "event_data.x", "operator": "in", "value": [1, "1"]}),
        [
            (
                "/conditions/conditions/0/value",
                "items must all be of one kind (all strings, all numbers or all booleans)",
            )
        ],
    ),
    (
        leaf({"type": "attribute", "path": "event_data.x", "operator": ">", "value": True}),
        [("/conditions/conditions/0/value", "a boolean cannot be compared with `>`")],
    ),
    (
        leaf({"type": "attribute", "path": "event_data.x", "value": {"a": 1}}),
        [("/conditions/conditions/0/value", "must be a string, number or boolean")],
    ),
    ({"name": "R", "actions": []}, [("/actions", "must be a non-empty list of actions")]),
    (
        {"name": "R", "actions": POINTS, "conditions": deep(17)},
        [("/conditions" + "/conditions/0" * 16, "groups nest too deeply (at most 16 levels)")],
    ),
    (
        {
            "name": "R",
            "actions": [{"type": "points", "amount": 0}, {"type": "points", "amount": 1.5}, {"type": "gift"}],
        },
        [
            ("/actions/0/amount", "must be at least 1"),
            ("/actions/1/amount", "must be an integer"),
            (
                "/actions/2/type",
                "must be one of: points, points_per_currency, multiply, issue_reward, tag_customer, "
                "webhook, referral_advocate_points",
            ),
        ],
    ),
    (
        {"name": "R", "actions": [{"type": "points_per_currency", "rate": 0, "rounding": "bankers", "basis": "net"}]},
        [
            ("/actions/0/rate", "must be greater than 0"),
            ("/actions/0/basis", "must be one of: subtotal, total"),
            ("/actions/0/rounding", "must be one of: floor, round, ceil"),
        ],
    ),
    (
        {
            "name": "R",
            "actions": [
                {"type": "multiply"},
                {"type": "issue_reward", "reward": ""},
                {"type": "webhook", "url": "ftp://x"},
                {"type": "tag_customer", "add": []},
            ],
        },
        [
            ("/actions/0/factor", "is required"),
            ("/actions/1/reward", "must be a non-empty string"),
            ("/actions/2/url", "must be an http(s) URL"),
            ("/actions/3", "needs a non-empty `add` or `remove` list"),
        ],
    ),
    (
        {"name": "R", "actions": [{"type": "points", "amount": 5, "bonus": 1}]},
        [("/actions/0/bonus", "unknown key; allowed: type, amount, reason")],
    ),
    # Every integer has bounds: past them a number reached a column or a ledger entry that could not hold it.
    (
        {"name": "R", "actions": POINTS, "priority": 2**31, "limits": {"per_customer": 10**9 + 1}},
        [("/priority", "must be at most 2,147,483,647"), ("/limits/per_customer", "must be at most 1,000,000,000")],
    ),
    ({"name": "R", "actions": POINTS, "priority": -(2**31) - 1}, [("/priority", "must be at least -2,147,483,648")]),
    (
        {"name": "R", "actions": POINTS, "limits": {"budget_points": 10**30}},
        [("/limits/budget_points", "must be at most 1,000,000,000")],
    ),
    (
        {
            "name": "R",
            "actions": [
                {"type": "points", "amount": 10**30},
                {"type": "points_per_currency", "rate": 10001, "max_points": 10**9 + 1},
                {"type": "multiply", "factor": 1e300},
                {"type": "referral_advocate_points", "amount": 10**9 + 1},
            ],
        },
        [
            ("/actions/0/amount", "must be at most 1,000,000,000"),
            ("/actions/1/max_points", "must be at most 1,000,000,000"),
            ("/actions/1/rate", "must be at most 10,000"),
            ("/actions/2/factor", "must be at most 100"),
            ("/actions/3/amount", "must be at most 1,000,000,000"),
        ],
    ),
    (
        leaf({"type": "frequency", "value": 10**9 + 1, "within_days": 36_601}),
        [
            ("/conditions/conditions/0/value", "must be at most 1,000,000,000"),
            ("/conditions/conditions/0/within_days", "must be at most 36,600"),
        ],
    ),
    (
        leaf({"type": "line_item", "field": "sku", "value": ["A"], "min_quantity": 10**9 + 1}),
        [("/conditions/conditions/0/min_quantity", "must be at most 1,000,000,000")],
    ),
    (
        leaf({"type": "customer_order_count", "operator": "in", "value": [1, 10**20]}),
        [("/conditions/conditions/0/value/1", "must be at most 1,000,000,000")],
    ),
    # A NUL cannot be stored (PostgreSQL's text and jsonb refuse it) and a lone surrogate cannot be encoded: refused
    # wherever they are, keys included (a key is reported at its object, whose pointer a page can show).
    (
        {"name": "R\x00", "actions": [{"type": "points", "amount": 1, "reason": "\ud800"}]},
        [("/name", NUL), ("/actions/0/reason", SURROGATE)],
    ),
    (
        leaf({"type": "attribute", "path": "event_data.note", "value": "a\x00b"}),
        [("/conditions/conditions/0/value", NUL)],
    ),
    (
        {"name": "R", "actions": POINTS, "description": "\udfff", "\ud800": 1},
        [("", f"a key {SURROGATE}"), ("/description", SURROGATE)],
    ),
    (
        {"name": "R", "actions": [{"type": "tag_customer", "add": ["vip", "\ud83d"]}]},
        [("/actions/0/add/1", SURROGATE)],
    ),
]


# A version stored before the bounds (or while they were looser), as parse_stored_rule reads it: past a bound that only
# refuses absurd new input it runs as saved, noting where; past one that keeps arithmetic in range it does not run.
PAST_BOUNDS = {
    "a points amount up to the award cap": {"name": "R", "actions": [{"type": "points", "amount": MAX_AWARD}]},
    "counts, budget, max_points, rate and factor at any size": {
        "name": "R",
        "limits": {"per_customer": 10**30, "budget_points": 10**30},
        "conditions": {
            "operator": "and",
            "conditions": [
                {"type": "frequency", "value": 10**30},
                {"type": "customer_order_count", "operator": "in", "value": [1, 10**20]},
                {"type": "line_item", "field": "sku", "value": ["A"], "min_quantity": 10**30},
            ],
        },
        "actions": [
            {"type": "points_per_currency", "rate": 1e300, "max_points": 10**30},
            {"type": "multiply", "factor": 1e300},
            {"type": "referral_advocate_points", "amount": 10**9 + 1},
        ],
    },
}
CANNOT_RUN = {
    # Issued as is when nothing multiplies it (a ledger entry is a bigint).
    "a points amount past the award cap": (
        {"name": "R", "actions": [{"type": "points", "amount": MAX_AWARD + 1}]},
        [("/actions/0/amount", "must be at most 1,000,000,000")],
    ),
    # The look-back's start would fall before year 1.
    "within_days": (leaf({"type": "frequency", "value": 1, "within_days": 36_601}), [WITHIN_DAYS]),
    # The rules table's INTEGER holds it.
    "priority": ({"name": "R", "actions": POINTS, "priority": 2**31}, [("/priority", "must be at most 2,147,483,647")]),
    # Lower bounds are not loosened: a points amount of 0 or less is no award.
    "a lower bound": (
        {"name": "R", "actions": [{"type": "points", "amount": 0}]},
        [("/actions/0/amount", "must be at least 1")],
    ),
}


@pytest.mark.parametrize("data", PAST_BOUNDS.values(), ids=list(PAST_BOUNDS))
def test_a_stored_version_runs_past_the_bounds_that_only_refuse_new_input(data: dict[str, Any]) -> None:
    issues = validate_rule(data)
    assert issues and all(issue.message.startswith("must be at most") for issue in issues)
    check = check_stored_rule(data)
    assert (check.runs, check.refused, list(check.past_bounds)) == (True, (), issues)
    stored = parse_stored_rule(data).definition
    for issue in issues:  # each number as saved
        assert _at(stored, issue.pointer) == _at(data, issue.pointer)
    with pytest.raises(RuleValidationError):  # saving it again takes today's bounds
        parse_rule(data)


def _at(document: Any, pointer: str) -> Any:
    for key in pointer.split("/")[1:]:
        document = document[int(key)] if isinstance(document, list) else document[key]
    return document


@pytest.mark.parametrize(("data", "issues"), CANNOT_RUN.values(), ids=list(CANNOT_RUN))
def test_a_stored_version_past_a_bound_that_keeps_arithmetic_in_range_does_not_run(
    data: dict[str, Any], issues: list[tuple[str, str]]
) -> None:
    check = check_stored_rule(data)
    assert (check.runs, [(i.pointer, i.message) for i in check.refused], check.past_bounds) == (False, issues, ())
    with pytest.raises(RuleValidationError) as caught:
        parse_stored_rule(data)
    assert [(issue.pointer, issue.message) for issue in caught.value.issues] == issues


def test_a_stored_version_refused_for_one_value_names_only_what_keeps_it_from_running() -> None:
    data = leaf({"type": "frequency", "value": 10**12, "within_days": 40_000})
    assert check_stored_rule(data).refused == (RuleIssue("/conditions/conditions/0/within_days", WITHIN_DAYS[1]),)


def test_an_award_from_a_stored_amount_rate_or_factor_past_its_bound_is_cut_at_the_award_cap() -> None:
    stored = [
        {"name": "A", "actions": [{"type": "points", "amount": MAX_AWARD}]},
        {"name": "B", "actions": [{"type": "points_per_currency", "rate": 1e300, "max_points": 10**30}]},
        {"name": "C", "actions": [{"type": "referral_advocate_points", "amount": 10**9 + 1}]},
        {"name": "D", "actions": [{"type": "multiply", "factor": 1e300}]},
    ]
    rules = [compile_rule(parse_stored_rule(rule), rule_id=index + 1) for index, rule in enumerate(stored)]
    decisions = evaluate(rules, facts(cust=customer(referred=True))).decisions
    assert [(d.rule_name, d.points, d.params.get("award_capped")) for d in decisions] == [
        ("A", MAX_AWARD, True),
        ("B", MAX_AWARD, True),
        ("C", MAX_AWARD, True),
        ("D", None, None),
    ]
    alone = evaluate(rules[:1], facts()).decisions  # nothing multiplies it: issued as saved
    assert [(d.points, d.params.get("award_capped")) for d in alone] == [(MAX_AWARD, None)]


@pytest.mark.parametrize(("data", "issues"), INVALID)
def test_invalid_rules_are_refused_with_every_issue_located(data: Any, issues: list[tuple[str, str]]) -> None:
    with pytest.raises(RuleValidationError) as caught:
        parse_rule(data)
    assert [(issue.pointer, issue.message) for issue in caught.value.issues] == issues
    assert str(caught.value) == "\n".join(f"{pointer or '/'}: {message}" for pointer, message in issues)


def test_issue_example_from_the_brief() -> None:
    data = {
        "name": "R",
        "actions": POINTS,
        "conditions": {
            "operator": "or",
            "conditions": [{"type": "order_total", "value": 1}, {"type": "order_total", "value": "abc"}],
        },
    }
    assert validate_rule(data) == [RuleIssue("/conditions/conditions/1/value", "must be a number")]


def test_pointer_escapes_slash_and_tilde_in_keys() -> None:
    assert validate_rule({"name": "R", "actions": POINTS, "a/b~c": 1})[0].pointer == "/a~1b~0c"


def test_defaults_are_filled_in_the_normalized_definition() -> None:
    rule = parse_rule(
        {
            "name": " Spend ",
            "actions": [{"type": "points_per_currency", "rate": 1}],
            "conditions": {
                "operator": "and",
                "conditions": [{"type": "order_total", "value": [1, 2]}, {"type": "source_name", "value": "web"}],
            },
        }
    )
    assert rule.definition == {
        "name": "Spend",
        "status": "active",
        "priority": 0,
        "stop_further_rules": False,
        "event_types": ["order_created"],
        "conditions": {
            "operator": "and",
            "conditions": [
                {"type": "order_total", "operator": "in", "value": [1, 2]},
                {"type": "source_name", "operator": "==", "value": "web"},
            ],
        },
        "actions": [{"type": "points_per_currency", "rate": 1, "basis": "subtotal", "rounding": "floor"}],
    }
    assert parse_rule(rule.definition).definition == rule.definition  # normalizing is idempotent


VALID = [
    FIRST_ORDER_BONUS,
    {
        "name": "At every bound",
        "priority": 2**31 - 1,
        "limits": {"per_customer": 10**9, "budget_points": 10**9},
        "conditions": {
            "operator": "and",
            "conditions": [
                {"type": "frequency", "value": 10**9, "within_days": 36_600},
                {"type": "line_item", "field": "sku", "value": ["A"], "min_quantity": 10**9},
            ],
        },
        "actions": [
            {"type": "points", "amount": 10**9},
            {"type": "points_per_currency", "rate": 10_000, "max_points": 10**9},
            {"type": "multiply", "factor": 100},
        ],
    },
    {"name": "Lowest priority, astral text 😀", "priority": -(2**31), "actions": POINTS},
    # Through the last day there is: the day after it, which the check once added, does not exist.
    {"name": "For good", "schedule": {"starts_at": "2024-01-01", "ends_at": "9999-12-31"}, "actions": POINTS},
    {
        "name": "All keys",
        "description": "x",
        "status": "draft",
        "priority": -3,
        "stop_further_rules": True,
        "event_types": ["order_created", "orders_paid"],
        "schedule": {"starts_at": "2024-01-01", "ends_at": "2024-01-01"},
        "limits": {"per_customer": 1, "per_customer_period": "year", "budget_points": 10000},
        "conditions": {
            "operator": "or",
            "conditions": [
                {"operator": "not", "conditions": [{"type": "customer_tag", "operator": "in", "value": ["staff"]}]},
                {"type": "line_item", "field": "sku", "value": ["A", 5], "min_quantity": 2, "min_amount": 10.5},
                {"type": "discount_code", "operator": "exists"},
                {"type": "date", "operator": ">=", "value": "2024-01-01T09:00"},
                {"type": "day_of_week", "value": ["sat", "sun"]},
                {"type": "time_of_day", "value": ["22:00", "02:00"]},
                {"type": "referred_customer", "value": True},
                {"type": "event_type", "value": "orders_paid"},
                {
                    "type": "attribute",
                    "path": "event_data.note_attributes.0.value",
                    "operator": "between",
                    "value": ["a", "b"],
                },
                {"type": "frequency", "value": 2, "within_days": 30, "event_type": "order_created"},
                {"type": "customer_tier", "operator": "not_in", "value": ["Gold"]},
                {"type": "shipping_country", "value": ["CA", "US"]},
                {"type": "currency", "operator": "!=", "value": "EUR"},
            ],
        },
        "actions": [
            {"type": "points_per_currency", "rate": 2.5, "basis": "total", "rounding": "ceil", "max_points": 50},
            {"type": "multiply", "factor": 2},
            {"type": "issue_reward", "reward": "Free shipping"},
            {"type": "tag_customer", "remove": ["new"]},
            {"type": "webhook", "url": "https://example.com/x"},
            {"type": "referral_advocate_points", "amount": 100, "reason": "Thanks"},
        ],
    },
]


@pytest.mark.parametrize("data", VALID)
def test_valid_rules_pass_both_the_validator_and_the_json_schema(data: dict) -> None:
    rule = parse_rule(data)
    jsonschema.Draft202012Validator(RULE_JSON_SCHEMA).validate(data)
    jsonschema.Draft202012Validator(RULE_JSON_SCHEMA).validate(rule.definition)


def test_the_schema_is_valid_draft_2020_12_and_serializable() -> None:
    jsonschema.Draft202012Validator.check_schema(RULE_JSON_SCHEMA)
    assert json.loads(schema_json()) == RULE_JSON_SCHEMA


SCHEMA_ONLY_SEMANTICS = {
    "groups nest too deeply (at most 16 levels)",
    "low must not be greater than high",
    "must be after starts_at",
    "must be an ISO 8601 date or date-time (2024-12-24 or 2024-12-24T09:00:00-05:00)",
    "must be a time of day as HH:MM (00:00 to 23:59)",
    "items must all be of one kind (all strings, all numbers or all booleans)",
    "a boolean cannot be compared with `>`",
    # A schema's pattern reads UTF-16 in the browser, where a lone surrogate is a code unit like any other.
    NUL,
    SURROGATE,
    f"a key {SURROGATE}",
}


@pytest.mark.parametrize(("data", "issues"), INVALID)
def test_the_json_schema_refuses_what_the_validator_refuses(data: Any, issues: list[tuple[str, str]]) -> None:
    """The browser sees the same language: only the semantic checks are left to the server."""
    if {message for _, message in issues} <= SCHEMA_ONLY_SEMANTICS:
        assert validate_rule(data)  # a server-only check, still refused
    else:
        assert not jsonschema.Draft202012Validator(RULE_JSON_SCHEMA).is_valid(data)


def test_diff_locates_each_change_by_pointer() -> None:
    from app.rules.diff import diff_definitions

    old = parse_rule(FIRST_ORDER_BONUS).definition
    new = parse_rule(
        {
            **FIRST_ORDER_BONUS,
            "priority": 5,
            "actions": [{"type": "points", "amount": 750}],
            "conditions": {
                "operator": "and",
                "conditions": [{"type": "order_total", "operator": ">=", "value": 100.0}],
            },
        }
    ).definition
    assert [change.to_json() for change in diff_definitions(old, new)] == [
        {"op": "replace", "pointer": "/priority", "old": 0, "new": 5},
        {
            "op": "remove",
            "pointer": "/conditions/conditions/1",
            "old": {"type": "frequency", "event_type": "order_created", "value": 1, "operator": "=="},
        },
        {"op": "replace", "pointer": "/actions/0/amount", "old": 500, "new": 750},
        {"op": "remove", "pointer": "/actions/0/reason", "old": "First order bonus"},
    ]
    assert diff_definitions(old, old) == []
