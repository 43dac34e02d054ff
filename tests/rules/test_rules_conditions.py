"""Every condition type and operator, with the edge cases merchants hit: missing fields, nulls, money strings, time
zones and DST, empty line items, guest orders."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from app.rules import StaticHistory
from tests.rules.rule_helpers import UTC, customer, facts, holds

ORDER = {
    "total_price": "150.00",
    "subtotal_price": "140.00",
    "currency": "usd",
    "source_name": "web",
    "shipping_address": {"country_code": "ca"},
    "discount_codes": [{"code": "WELCOME10", "amount": "10.00"}],
    "note_attributes": [{"name": "gift", "value": "yes"}, {"name": "count", "value": "3"}],
    "line_items": [
        {
            "product_id": 111,
            "variant_id": 211,
            "sku": "MUG-1",
            "vendor": "Acme",
            "quantity": 2,
            "price": "20.00",
            "total_discount": "5.00",
            "product_tags": "Kitchen, Sale",
            "collection_ids": [911],
        },
        {
            "product_id": "gid://shopify/Product/112",
            "variant_id": 212,
            "sku": "TEE-1",
            "vendor": "Other",
            "quantity": 1,
            "price": "100.00",
            "product_tags": ["Apparel"],
            "collection_ids": ["912"],
        },
    ],
}


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("==", 150, True),
        ("==", 150.0, True),
        ("!=", 150, False),
        (">", 149.99, True),
        (">", 150, False),
        (">=", 150, True),
        ("<", 150, False),
        ("<=", 150, True),
        ("between", [100, 150], True),
        ("between", [150.01, 200], False),
        ("in", [100, 150], True),
        ("not_in", [100, 150], False),
    ],
)
def test_order_total_compares_shopify_money_strings_as_decimal(operator: str, value: object, expected: bool) -> None:
    assert holds({"type": "order_total", "operator": operator, "value": value}, facts(ORDER)) is expected


def test_order_subtotal_reads_subtotal_price() -> None:
    assert holds({"type": "order_subtotal", "operator": ">=", "value": 140}, facts(ORDER))
    assert not holds({"type": "order_subtotal", "operator": ">", "value": 140}, facts(ORDER))


def test_operator_defaults_to_equality_for_scalars_and_in_for_lists() -> None:
    assert holds({"type": "order_total", "value": 150}, facts(ORDER))
    assert holds({"type": "order_total", "value": [1, 150]}, facts(ORDER))


def test_decimal_amounts_do_not_suffer_float_error() -> None:
    order = {"total_price": "0.30"}
    assert holds({"type": "order_total", "operator": "==", "value": 0.3}, facts(order))


@pytest.mark.parametrize(
    "order", [{}, {"total_price": None}, {"total_price": "abc"}, {"total_price": "NaN"}, {"total_price": True}]
)
@pytest.mark.parametrize("operator", ["==", "!=", "<", "not_in"])
def test_missing_null_or_unreadable_amount_is_false_for_every_operator(order: dict, operator: str) -> None:
    value = [1] if operator == "not_in" else 1
    assert not holds({"type": "order_total", "operator": operator, "value": value}, facts(order))


def test_frequency_counts_this_event_and_respects_within_days() -> None:
    now = dt.datetime(2024, 3, 1, 12, tzinfo=UTC)
    history = StaticHistory(
        events=[
            ("order_created", now - dt.timedelta(days=40)),
            ("order_created", now - dt.timedelta(days=3)),
            ("order_created", now),
            ("refund_created", now),
        ],
        as_of=now,
    )
    the_facts = facts(occurred_at=now, history=history)
    assert holds({"type": "frequency", "event_type": "order_created", "value": 3}, the_facts)
    assert holds({"type": "frequency", "value": 2, "within_days": 30}, the_facts)
    assert holds({"type": "frequency", "event_type": "refund_created", "value": 1}, the_facts)
    assert holds({"type": "frequency", "operator": ">=", "value": 2}, the_facts)
    assert not holds({"type": "frequency", "value": 1}, the_facts)


def test_customer_conditions_are_false_for_guest_orders() -> None:
    guest = facts(ORDER, guest=True)
    for condition in (
        {"type": "frequency", "value": 1},
        {"type": "customer_order_count", "operator": "<=", "value": 5},
        {"type": "customer_lifetime_spend", "operator": ">=", "value": 0},
        {"type": "customer_tag", "operator": "not_in", "value": ["vip"]},
        {"type": "customer_tier", "operator": "not_in", "value": ["Gold"]},
        {"type": "referred_customer", "value": False},
    ):
        assert not holds(condition, guest), condition


def test_customer_order_count_and_lifetime_spend() -> None:
    the_facts = facts(cust=customer(orders_count=5, lifetime_spend=Decimal("1250.50")))
    assert holds({"type": "customer_order_count", "operator": "between", "value": [5, 10]}, the_facts)
    assert not holds({"type": "customer_order_count", "value": 4}, the_facts)
    assert holds({"type": "customer_lifetime_spend", "operator": ">", "value": 1250.49}, the_facts)
    assert not holds({"type": "customer_lifetime_spend", "operator": ">=", "value": 1250.51}, the_facts)


@pytest.mark.parametrize(
    ("operator", "value", "tags", "expected"),
    [
        ("in", ["vip"], {"VIP ", "wholesale"}, True),
        ("in", ["vip"], {"retail"}, False),
        ("in", ["vip"], set(), False),
        ("not_in", ["vip"], {"retail"}, True),
        ("not_in", ["vip", "x"], {"x"}, False),
        ("not_in", ["vip"], set(), True),
    ],
)
def test_customer_tag_any_of_or_none_of_case_insensitive(operator: str, value: list, tags: set, expected: bool) -> None:
    the_facts = facts(cust=customer(tags=frozenset(tags)))
    assert holds({"type": "customer_tag", "operator": operator, "value": value}, the_facts) is expected


@pytest.mark.parametrize(
    ("operator", "tier", "expected"),
    [
        ("in", "Gold", True),
        ("in", "gold", True),
        ("in", "Silver", False),
        ("not_in", "Silver", True),
        ("not_in", "Gold", False),
        ("in", None, False),
        ("not_in", None, False),
    ],
)
def test_customer_tier(operator: str, tier: str | None, expected: bool) -> None:
    the_facts = facts(cust=customer(tier=tier))
    assert holds({"type": "customer_tier", "operator": operator, "value": ["Gold"]}, the_facts) is expected


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"field": "product_id", "value": ["111"]}, True),
        ({"field": "product_id", "value": [112]}, True),  # gid:// ids reduce to their number
        ({"field": "product_id", "value": ["gid://shopify/Product/111"]}, True),
        ({"field": "variant_id", "value": [999]}, False),
        ({"field": "sku", "value": ["MUG-1"], "min_quantity": 2}, True),
        ({"field": "sku", "value": ["MUG-1"], "min_quantity": 3}, False),
        ({"field": "sku", "value": ["MUG-1", "TEE-1"], "min_quantity": 3}, True),  # summed over matching items
        ({"field": "sku", "value": ["MUG-1"], "min_amount": 35}, True),  # 2 x 20.00 - 5.00 discount
        ({"field": "sku", "value": ["MUG-1"], "min_amount": 35.01}, False),
        ({"field": "vendor", "value": ["Acme"]}, True),
        ({"field": "product_tag", "value": ["sale"]}, True),
        ({"field": "product_tag", "value": ["apparel"], "min_amount": 100}, True),
        ({"field": "collection_id", "value": [912]}, True),
        ({"field": "collection_id", "value": ["913"]}, False),
        ({"field": "sku", "operator": "not_in", "value": ["MUG-1"]}, True),  # some other item is in the order
        ({"field": "sku", "operator": "not_in", "value": ["MUG-1", "TEE-1"]}, False),
        ({"field": "sku", "operator": "not_in", "value": ["MUG-1"], "min_amount": 101}, False),
    ],
)
def test_line_item(condition: dict, expected: bool) -> None:
    assert holds({"type": "line_item", **condition}, facts(ORDER)) is expected


@pytest.mark.parametrize("items", [[], None])
@pytest.mark.parametrize("operator", ["in", "not_in"])
def test_line_item_is_false_with_no_or_missing_line_items(items: list | None, operator: str) -> None:
    order = {"total_price": "0.00"} if items is None else {"line_items": items}
    assert not holds({"type": "line_item", "field": "sku", "operator": operator, "value": ["A"]}, facts(order))


def test_line_item_without_the_field_does_not_match_either_way() -> None:
    order = {"line_items": [{"quantity": 1, "price": "5.00"}]}
    for operator in ("in", "not_in"):
        assert not holds(
            {"type": "line_item", "field": "product_tag", "operator": operator, "value": ["x"]}, facts(order)
        )


@pytest.mark.parametrize(
    ("condition", "order", "expected"),
    [
        ({"operator": "exists"}, ORDER, True),
        ({"operator": "exists"}, {"discount_codes": []}, False),
        ({"operator": "exists", "value": False}, {"discount_codes": []}, True),
        ({"operator": "exists", "value": False}, {}, True),  # exists reads a missing list as "no codes"
        ({"operator": "exists", "value": False}, ORDER, False),
        ({"operator": "in", "value": ["welcome10"]}, ORDER, True),
        ({"operator": "in", "value": ["BFCM"]}, ORDER, False),
        ({"operator": "not_in", "value": ["BFCM"]}, ORDER, True),
        ({"operator": "not_in", "value": ["BFCM"]}, {"discount_codes": []}, True),
        ({"operator": "not_in", "value": ["WELCOME10"]}, ORDER, False),
        ({"operator": "not_in", "value": ["X"]}, {}, False),
    ],
)
def test_discount_code(condition: dict, order: dict, expected: bool) -> None:
    assert holds({"type": "discount_code", **condition}, facts(order)) is expected


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"type": "source_name", "value": "web"}, True),
        ({"type": "source_name", "operator": "!=", "value": "pos"}, True),
        ({"type": "source_name", "value": ["pos", "shopify_draft_order"]}, False),
        ({"type": "source_name", "operator": "not_in", "value": ["pos"]}, True),
        ({"type": "shipping_country", "value": "CA"}, True),
        ({"type": "shipping_country", "value": "ca"}, True),
        ({"type": "shipping_country", "operator": "in", "value": ["US", "GB"]}, False),
        ({"type": "currency", "value": "USD"}, True),
        ({"type": "currency", "operator": "!=", "value": "EUR"}, True),
        ({"type": "event_type", "value": "order_created"}, True),
        ({"type": "event_type", "operator": "in", "value": ["orders_paid"]}, False),
    ],
)
def test_text_conditions(condition: dict, expected: bool) -> None:
    assert holds(condition, facts(ORDER)) is expected


def test_shipping_country_is_false_without_a_shipping_address() -> None:
    pos_order = {"shipping_address": None}
    assert not holds({"type": "shipping_country", "operator": "!=", "value": "US"}, facts(pos_order))


# 2024-03-10 is the US spring-forward day: 06:30 UTC is 01:30 EST, 07:30 UTC is 03:30 EDT.
BEFORE_DST = dt.datetime(2024, 3, 10, 6, 30, tzinfo=UTC)
AFTER_DST = dt.datetime(2024, 3, 10, 7, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("condition", "when", "expected"),
    [
        ({"operator": ">=", "value": "2024-03-10"}, BEFORE_DST, True),
        ({"operator": "<", "value": "2024-03-10"}, BEFORE_DST, False),
        ({"operator": "<", "value": "2024-03-10"}, dt.datetime(2024, 3, 10, 4, 59, tzinfo=UTC), True),  # 23:59 on 9th
        ({"operator": "between", "value": ["2024-03-01", "2024-03-10"]}, AFTER_DST, True),  # whole last day included
        ({"operator": "between", "value": ["2024-03-10T02:00", "2024-03-10T03:00"]}, AFTER_DST, False),  # 03:30 local
        ({"operator": "between", "value": ["2024-03-10T03:00", "2024-03-10T04:00"]}, AFTER_DST, True),
        ({"operator": ">=", "value": "2024-03-10T07:00:00Z"}, AFTER_DST, True),  # an offset makes it an instant
        ({"operator": "<", "value": "2024-03-10T07:00:00+00:00"}, BEFORE_DST, True),
        ({"value": ["2024-01-01", "2024-12-31"]}, BEFORE_DST, True),  # a list defaults to between
    ],
)
def test_date_in_shop_time_zone(condition: dict, when: dt.datetime, expected: bool) -> None:
    assert holds({"type": "date", **condition}, facts(occurred_at=when)) is expected


def test_day_of_week_uses_shop_time_zone() -> None:
    saturday_late_utc = dt.datetime(2024, 1, 14, 3, 0, tzinfo=UTC)  # Sunday 03:00 UTC is Saturday 22:00 in New York
    assert holds({"type": "day_of_week", "value": ["sat"]}, facts(occurred_at=saturday_late_utc))
    assert not holds({"type": "day_of_week", "value": ["sun"]}, facts(occurred_at=saturday_late_utc))
    assert holds({"type": "day_of_week", "value": ["sun"]}, facts(occurred_at=saturday_late_utc, timezone="UTC"))
    assert holds({"type": "day_of_week", "operator": "not_in", "value": ["sat", "sun"]}, facts())


@pytest.mark.parametrize(
    ("window", "when", "expected"),
    [
        (["09:00", "17:00"], dt.datetime(2024, 1, 15, 14, 0, tzinfo=UTC), True),  # 09:00 EST, start included
        (["09:00", "17:00"], dt.datetime(2024, 1, 15, 22, 0, 59, tzinfo=UTC), True),  # 17:00:59, end minute included
        (["09:00", "17:00"], dt.datetime(2024, 1, 15, 22, 1, tzinfo=UTC), False),
        (["09:00", "17:00"], dt.datetime(2024, 7, 15, 13, 30, tzinfo=UTC), True),  # 09:30 EDT in summer
        (["09:00", "17:00"], dt.datetime(2024, 1, 15, 13, 30, tzinfo=UTC), False),  # 08:30 EST in winter
        (["22:00", "02:00"], dt.datetime(2024, 1, 16, 5, 0, tzinfo=UTC), True),  # 00:00, the window wraps midnight
        (["22:00", "02:00"], dt.datetime(2024, 1, 15, 17, 0, tzinfo=UTC), False),
    ],
)
def test_time_of_day(window: list[str], when: dt.datetime, expected: bool) -> None:
    assert holds({"type": "time_of_day", "value": window}, facts(occurred_at=when)) is expected


def test_referred_customer() -> None:
    assert holds({"type": "referred_customer", "value": True}, facts(cust=customer(referred=True)))
    assert not holds({"type": "referred_customer", "value": True}, facts())
    assert holds({"type": "referred_customer", "value": False}, facts())


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"path": "event_data.note_attributes.0.value", "value": "yes"}, True),
        ({"path": "event_data.note_attributes.1.value", "operator": ">=", "value": 3}, True),  # "3" read as a number
        ({"path": "event_data.note_attributes.1.value", "operator": "between", "value": [4, 9]}, False),
        ({"path": "event_data.line_items.0.product_id", "value": "111"}, True),  # a number read as text
        ({"path": "event_data.line_items.0.product_id", "operator": "in", "value": [111, 5]}, True),
        ({"path": "event_data.note_attributes.5.value", "operator": "!=", "value": "x"}, False),  # missing index
        ({"path": "event_data.nothing.here", "operator": "exists"}, False),
        ({"path": "event_data.nothing.here", "operator": "exists", "value": False}, True),
        ({"path": "event_data.source_name", "operator": "exists"}, True),
        ({"path": "event_data.taxes_included", "value": False}, True),
        ({"path": "event_data.taxes_included", "value": "false"}, False),  # a boolean is not text
        ({"path": "event_data.total_price", "operator": ">", "value": 100}, True),
    ],
)
def test_attribute(condition: dict, expected: bool) -> None:
    assert holds({"type": "attribute", **condition}, facts(ORDER | {"taxes_included": False})) is expected
