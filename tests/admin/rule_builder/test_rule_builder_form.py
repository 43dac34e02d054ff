"""The visual form is the rule: rendering a rule into the editor and submitting the form unchanged gives back the same
JSON (no field lost, no value changed), for random rules of the whole language; and what a merchant types wrong comes
back as typed, for the validator to point at."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import g, render_template
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from app.admin.rule_builder.drafts import Draft
from app.admin.rule_builder.editor_views import editor_context
from app.admin.rule_builder.form_codec import FormError, decode_form
from app.loyalty.rulebook import TEMPLATES
from app.rules import parse_rule
from app.rules.vocabulary import WEEKDAYS
from tests.admin.rule_builder.form_fields import form_fields
from tests.rules.test_rules_property import CONDITIONS

TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=12).filter(str.strip)
TAGS = st.lists(st.sampled_from(["vip", "VIP ", "wholesale", "a,b"]), min_size=1, max_size=3)
ACTIONS = st.one_of(
    st.builds(
        lambda n, r: {"type": "points", "amount": n, **r},
        st.integers(1, 10**6),
        st.sampled_from([{}, {"reason": "Bonus"}]),
    ),
    st.builds(
        lambda rate, basis, rounding, cap: {
            "type": "points_per_currency",
            "rate": rate,
            "basis": basis,
            "rounding": rounding,
            **cap,
        },
        st.sampled_from([1, 2.5, 0.1, 10]),
        st.sampled_from(["subtotal", "total"]),
        st.sampled_from(["floor", "round", "ceil"]),
        st.sampled_from([{}, {"max_points": 500}]),
    ),
    st.builds(lambda f: {"type": "multiply", "factor": f}, st.sampled_from([2, 1.5, 3])),
    st.builds(lambda r: {"type": "issue_reward", "reward": r}, TEXT),
    st.builds(
        lambda a, r: {"type": "tag_customer", **a, **r},
        st.sampled_from([{}, {"add": ["vip"]}]),
        st.sampled_from([{"remove": ["new", "x"]}]),
    ),
    st.builds(lambda a: {"type": "tag_customer", "add": a}, TAGS),
    st.just({"type": "webhook", "url": "https://example.com/hook?x=1"}),
    st.builds(lambda n: {"type": "referral_advocate_points", "amount": n}, st.integers(1, 1000)),
)
RULES = st.builds(
    lambda name, extra, conditions, actions: {"name": name, **extra, **conditions, "actions": actions},
    TEXT,
    st.fixed_dictionaries(
        {},
        optional={
            "description": TEXT,
            "status": st.sampled_from(["draft", "active", "paused", "archived"]),
            "priority": st.integers(-5, 10**9),
            "stop_further_rules": st.booleans(),
            "event_types": st.lists(
                st.sampled_from(["order_created", "order_paid", "refund_created"]), min_size=1, max_size=3, unique=True
            ),
            "schedule": st.sampled_from(
                [
                    {"starts_at": "2026-01-01"},
                    {"starts_at": "2026-01-01T09:00", "ends_at": "2026-02-01"},
                    {"ends_at": "2026-12-24T09:00:00-05:00"},
                ]
            ),
            "limits": st.sampled_from(
                [{"per_customer": 1, "per_customer_period": "day"}, {"budget_points": 10000}, {"per_customer": 3}]
            ),
        },
    ),
    st.one_of(st.just({}), st.builds(lambda c: {"conditions": c}, CONDITIONS.filter(lambda c: "conditions" in c))),
    st.lists(ACTIONS, min_size=1, max_size=3),
)


def weekdays_in_week_order(value: Any) -> Any:
    """Weekday toggles submit the checked days in week order, once each: the one change the form makes, to a set."""
    if isinstance(value, dict):
        if value.get("type") == "day_of_week" and isinstance(value.get("value"), list):
            return {**value, "value": [day for day in WEEKDAYS if day in value["value"]]}
        return {key: weekdays_in_week_order(item) for key, item in value.items()}
    if isinstance(value, list):
        return [weekdays_in_week_order(item) for item in value]
    return value


def exact(value: Any) -> str:
    """JSON text, so that 1 and 1.0 and True differ."""
    return json.dumps(value, sort_keys=True)


def rendered(app: Any, shop: Any, definition: Any) -> str:
    with app.test_request_context():
        g.shop, g.staff_user_id = shop, "1"
        return render_template("admin/rules/_editor.html", **editor_context(Draft(definition), None, None))


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(rule=RULES)
def test_a_rule_rendered_into_the_form_and_submitted_unchanged_comes_back_the_same(app, shop, rule) -> None:  # type: ignore[no-untyped-def]
    try:
        normalized = parse_rule(rule).definition
    except ValueError:
        assume(False)
    back = decode_form(form_fields(rendered(app, shop, normalized)))
    assert exact(back) == exact(weekdays_in_week_order(normalized))


@pytest.mark.parametrize("key", sorted(TEMPLATES))
def test_every_template_is_a_valid_rule_the_form_shows_whole(app, shop, key: str) -> None:  # type: ignore[no-untyped-def]
    normalized = parse_rule(TEMPLATES[key]).definition
    assert exact(decode_form(form_fields(rendered(app, shop, normalized)))) == exact(normalized)


def test_what_the_merchant_typed_wrong_comes_back_as_typed() -> None:
    fields = [
        ("kind:", "{}"),
        ("/name", "Spend bonus"),
        ("kind:/name", "str"),
        ("/priority", "high"),
        ("kind:/priority", "int"),
        ("/conditions/conditions/0/value", "12,50"),
        ("kind:/conditions/conditions/0/value", "num"),
        ("/conditions/conditions/0/type", "order_total"),
        ("kind:/conditions/conditions/0/type", "str"),
        ("/description", ""),
        ("kind:/description", "str?"),
        ("kind:/limits", "{}?"),
        ("/limits/per_customer", ""),
        ("kind:/limits/per_customer", "int?"),
        ("kind:/actions", "[]"),
    ]
    assert decode_form(fields) == {
        "name": "Spend bonus",
        "priority": "high",
        "conditions": {"conditions": [{"value": "12,50", "type": "order_total"}]},
        "actions": [],
    }


def test_an_order_field_compared_as_a_number_reads_its_items_as_numbers() -> None:
    fields = [
        ("kind:", "{}"),
        ("kind-of:/c/value", "num"),
        ("kind:/c/value", "[]"),
        ("/c/value/0", "150.00"),
        ("kind:/c/value/0", "str"),
        ("/c/value/1", "7"),
        ("kind:/c/value/1", "str"),
    ]
    assert exact(decode_form(fields)) == exact({"c": {"value": [150.0, 7]}})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ([("kind:/name", "text")], "field 'kind:/name' has an unknown kind 'text'"),
        ([("kind:name", "str")], "field 'kind:name' does not name a JSON pointer"),
        (
            [("kind:/a", "str"), ("/a", "x"), ("kind:/a/b", "str")],
            "field '/a/b' is inside a value that is not an object or a list",
        ),
    ],
)
def test_fields_that_name_no_place_in_a_rule_are_refused(fields: list[tuple[str, str]], message: str) -> None:
    with pytest.raises(FormError, match=message):
        decode_form(fields)
