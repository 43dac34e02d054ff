"""Property: for random rule trees and random events, compiled evaluation agrees with the reference interpreter."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.rules import CustomerFacts, Facts, RuleSet, StaticHistory, compile_rule, evaluate, parse_rule
from tests.rules import reference_interpreter

MONEY = st.one_of(
    st.none(), st.just("abc"), st.integers(0, 300).map(lambda n: f"{n}.{n % 100:02d}"), st.integers(0, 300)
)
NUMBERS = st.one_of(st.integers(0, 300), st.sampled_from([99.99, 150.5, 0.3]))
TAGS = st.sampled_from(["vip", "VIP ", "staff", "new"])
CODES = st.sampled_from(["WELCOME10", "bfcm", "Gift"])
IDS = st.sampled_from([111, "111", "gid://shopify/Product/112", 113])
WHEN_TEXT = st.sampled_from(
    ["2024-03-10", "2024-03-09", "2024-03-10T02:30", "2024-03-10T07:00:00Z", "2024-11-03T01:30", "2024-11-03"]
)
CLOCK = st.sampled_from(["00:00", "01:30", "02:00", "09:00", "17:00", "22:00", "23:59"])
PATHS = st.sampled_from(
    [
        "event_data.note_attributes.0.value",
        "event_data.total_price",
        "event_data.flag",
        "event_data.missing.deep",
        "event_data.line_items.0.product_id",
    ]
)
SCALAR = st.one_of(st.booleans(), st.integers(0, 200), st.sampled_from(["yes", "111", "150.00", "web"]))


NUMBER_OPERATORS = ("==", "!=", ">", ">=", "<", "<=", "between", "in", "not_in", None)  # None: the default
TEXT_OPERATORS = ("==", "!=", "in", "not_in", None)


def compared_leaf(kind: str, values: st.SearchStrategy, operators: tuple = NUMBER_OPERATORS) -> st.SearchStrategy:
    return st.builds(lambda operator, a, b: shaped(kind, operator, a, b), st.sampled_from(operators), values, values)


def text_leaf(kind: str, *values: str) -> st.SearchStrategy:
    return compared_leaf(kind, st.sampled_from(values), TEXT_OPERATORS)


def shaped(kind: str, operator: str | None, a: Any, b: Any, **extra: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"type": kind, **extra}
    if operator is not None:
        node["operator"] = operator
    if operator == "between":
        node["value"] = sorted([a, b]) if not isinstance(a, bool) else [a, a]
    elif operator in ("in", "not_in"):
        node["value"] = [a, b]
    else:
        node["value"] = a
    return node


def attribute_leaf() -> st.SearchStrategy:
    def build(path: str, operator: str, a: Any, b: Any) -> dict[str, Any]:
        if operator == "exists":
            return {"type": "attribute", "path": path, "operator": "exists", "value": isinstance(a, bool) and a}
        if type(a) is not type(b):
            b = a
        if isinstance(a, bool) and operator not in ("==", "!=", "in", "not_in"):
            operator = "=="
        return shaped("attribute", operator, a, b, path=path)

    operators = st.sampled_from(["==", "!=", ">", ">=", "<", "<=", "between", "in", "not_in", "exists"])
    return st.builds(build, PATHS, operators, SCALAR, SCALAR)


LEAVES = st.one_of(
    compared_leaf("order_total", NUMBERS),
    compared_leaf("order_subtotal", NUMBERS),
    compared_leaf("customer_lifetime_spend", NUMBERS),
    compared_leaf("customer_order_count", st.integers(0, 4)),
    st.builds(
        lambda leaf, days: {**leaf, **({"within_days": days} if days else {})},
        compared_leaf("frequency", st.integers(0, 4)),
        st.sampled_from([None, 1, 30]),
    ),
    st.builds(
        lambda op, v: {"type": "customer_tag", "operator": op, "value": v},
        st.sampled_from(["in", "not_in"]),
        st.lists(TAGS, min_size=1, max_size=2),
    ),
    st.builds(
        lambda op, v: {"type": "customer_tier", "operator": op, "value": v},
        st.sampled_from(["in", "not_in"]),
        st.lists(st.sampled_from(["Gold", "silver"]), min_size=1, max_size=2),
    ),
    st.builds(
        lambda field, op, v, q, a: {
            "type": "line_item",
            "field": field,
            "operator": op,
            "value": v,
            **({"min_quantity": q} if q else {}),
            **({"min_amount": a} if a else {}),
        },
        st.sampled_from(["product_id", "variant_id", "sku", "product_tag", "collection_id", "vendor"]),
        st.sampled_from(["in", "not_in"]),
        st.lists(st.one_of(IDS, st.sampled_from(["MUG", "sale", "Acme"])), min_size=1, max_size=3),
        st.sampled_from([None, 1, 3]),
        st.sampled_from([None, 10, 50.5]),
    ),
    st.builds(
        lambda op, v, flag: {"type": "discount_code", "operator": op, "value": flag if op == "exists" else v},
        st.sampled_from(["exists", "in", "not_in"]),
        st.lists(CODES, min_size=1, max_size=2),
        st.booleans(),
    ),
    text_leaf("source_name", "web", "pos"),
    text_leaf("shipping_country", "CA", "us"),
    text_leaf("currency", "USD", "eur"),
    text_leaf("event_type", "order_created", "orders_paid"),
    st.builds(lambda op, a, b: shaped("date", op, a, b), st.sampled_from([">=", "<"]), WHEN_TEXT, WHEN_TEXT),
    st.builds(
        lambda op, days: {"type": "day_of_week", "operator": op, "value": days},
        st.sampled_from(["in", "not_in"]),
        st.lists(st.sampled_from(["sat", "sun", "mon"]), min_size=1),
    ),
    st.builds(lambda a, b: {"type": "time_of_day", "value": [a, b]}, CLOCK, CLOCK),
    st.builds(lambda flag: {"type": "referred_customer", "value": flag}, st.booleans()),
    attribute_leaf(),
)

CONDITIONS = st.recursive(
    LEAVES,
    lambda children: st.one_of(
        st.builds(lambda items: {"operator": "and", "conditions": items}, st.lists(children, min_size=1, max_size=4)),
        st.builds(lambda items: {"operator": "or", "conditions": items}, st.lists(children, min_size=1, max_size=4)),
        st.builds(lambda item: {"operator": "not", "conditions": [item]}, children),
    ),
    max_leaves=12,
)

LINE_ITEM = st.fixed_dictionaries(
    {},
    optional={
        "product_id": IDS,
        "variant_id": IDS,
        "sku": st.sampled_from(["MUG", "TEE", ""]),
        "vendor": st.sampled_from(["Acme", "Other"]),
        "quantity": st.integers(0, 4),
        "price": MONEY,
        "total_discount": MONEY,
        "product_tags": st.sampled_from(["Sale, Kitchen", ["sale"], "", []]),
        "collection_ids": st.lists(IDS, max_size=2),
    },
)

EVENT_DATA = st.fixed_dictionaries(
    {},
    optional={
        "total_price": MONEY,
        "subtotal_price": MONEY,
        "currency": st.sampled_from(["USD", "eur", None]),
        "source_name": st.sampled_from(["web", "pos", None]),
        "shipping_address": st.one_of(
            st.none(), st.fixed_dictionaries({}, optional={"country_code": st.sampled_from(["CA", "us", None])})
        ),
        "discount_codes": st.lists(
            st.fixed_dictionaries({}, optional={"code": st.one_of(CODES, st.just(" "))}), max_size=2
        ),
        "line_items": st.lists(LINE_ITEM, max_size=3),
        "note_attributes": st.lists(st.fixed_dictionaries({"value": SCALAR}), max_size=2),
        "flag": st.one_of(st.none(), st.booleans(), SCALAR),
    },
)

CUSTOMER = st.one_of(
    st.none(),
    st.builds(
        lambda tags, tier, count, spend, referred: CustomerFacts(
            "c1", frozenset(tags), tier, Decimal(1), count, Decimal(spend), referred
        ),
        st.lists(TAGS, max_size=2),
        st.sampled_from([None, "Gold", "Silver"]),
        st.integers(0, 4),
        st.sampled_from(["0", "99.99", "150.50", "300"]),
        st.booleans(),
    ),
)

# Around both US DST switches in 2024, so local dates and times move under the UTC clock.
WHEN = st.one_of(
    st.datetimes(dt.datetime(2024, 3, 9), dt.datetime(2024, 3, 11), timezones=st.just(dt.timezone.utc)),
    st.datetimes(dt.datetime(2024, 11, 2), dt.datetime(2024, 11, 4), timezones=st.just(dt.timezone.utc)),
)

FACTS = st.builds(
    lambda data, customer, when, zone, event_type, history: Facts(
        "e1",
        event_type,
        when,
        zone,
        data,
        customer,
        StaticHistory(
            events=[(event_type, when)] + [("order_created", when - dt.timedelta(days=d)) for d in history], as_of=when
        ),
    ),
    EVENT_DATA,
    CUSTOMER,
    WHEN,
    st.sampled_from(["America/New_York", "UTC", "Asia/Kolkata"]),
    st.sampled_from(["order_created", "orders_paid"]),
    st.lists(st.integers(1, 60), max_size=3),
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CONDITIONS.map(lambda c: c if "conditions" in c else {"operator": "and", "conditions": [c]}), FACTS)
def test_compiled_conditions_agree_with_the_reference_interpreter(conditions: dict[str, Any], facts: Facts) -> None:
    rule = parse_rule(
        {
            "name": "P",
            "event_types": ["order_created", "orders_paid"],
            "conditions": conditions,
            "actions": [{"type": "points", "amount": 1}],
        }
    )
    expected = reference_interpreter.holds(rule.definition["conditions"], facts)
    compiled = compile_rule(rule)
    assert evaluate(RuleSet([compiled]), facts).results[0].fired is expected  # one generated function
    assert evaluate([compiled], facts).results[0].fired is expected  # the rule's own generated check
    assert evaluate([compiled], facts, trace=True).results[0].trace[0].held is expected  # the closures


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["subtotal", "total"]),
    st.sampled_from([0.5, 1, 2.5, 10]),
    st.sampled_from([None, 5, 100]),
    st.sampled_from(["1", "1.25", "2"]),
    st.sampled_from([1, 2]),
    EVENT_DATA,
)
def test_points_per_currency_agrees_with_plain_arithmetic(
    basis: str, rate: float, cap: int | None, tier: str, factor: float, data: dict
) -> None:
    action = {"type": "points_per_currency", "rate": rate, "basis": basis, **({"max_points": cap} if cap else {})}
    rules = [
        compile_rule(parse_rule({"name": "A", "actions": [action]})),
        compile_rule(parse_rule({"name": "B", "actions": [{"type": "multiply", "factor": factor}]})),
    ]
    customer = CustomerFacts("c1", tier_multiplier=Decimal(tier))
    facts = Facts("e1", "order_created", dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), "UTC", data, customer)
    amount = reference_interpreter.to_decimal(data.get("subtotal_price" if basis == "subtotal" else "total_price"))
    expected = 0
    if amount is not None:
        base = min(amount * Decimal(str(rate)), Decimal(cap)) if cap else amount * Decimal(str(rate))
        expected = int((base * Decimal(tier) * Decimal(str(factor))).to_integral_value(rounding=ROUND_FLOOR))
    assert evaluate(rules, facts).points_total == max(expected, 0)
