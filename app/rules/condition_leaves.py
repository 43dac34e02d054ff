"""Each condition type compiled to a fact getter and a test on the fact, shared by the generated check and the trace."""

from __future__ import annotations

import datetime as dt
import operator as op
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from operator import attrgetter
from typing import Any

from app.rules.event_context import EventContext, LineItem
from app.rules.values import folded, normalize_id, parse_clock, parse_when, to_decimal

Getter = Callable[[EventContext], Any]
Test = Callable[[Any], bool]


# Facts read off the EventContext by attribute (None = missing), with how a listed value converts to compare.
CONTEXT_FACTS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "order_total": ("order_total", to_decimal),
    "order_subtotal": ("order_subtotal", to_decimal),
    "shipping_country": ("shipping_country", str.upper),
    "currency": ("currency", str.upper),
    "source_name": ("source_name", str),
    "event_type": ("event_type", str),
    "customer_tier": ("customer_tier", folded),
    "day_of_week": ("weekday", str),
}
# Facts read off the customer (None for a guest), likewise.
CUSTOMER_FACTS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "customer_order_count": ("orders_count", int),
    "customer_lifetime_spend": ("lifetime_spend", to_decimal),
}
# Facts that are sets of folded texts, by EventContext attribute; `in` and `not_in` ask whether they overlap a list.
SET_FACTS = {"customer_tag": "customer_tags", "discount_code": "discount_codes"}
# `fact OP expected` written as a partial over the expected value (partial(le, 100)(fact) is 100 <= fact).
FLIPPED = {"==": op.eq, "!=": op.ne, ">": op.lt, ">=": op.le, "<": op.gt, "<=": op.ge}


class LineMatch:
    """The line items that matched a line_item condition: how many, their summed quantity and (when read) amount."""

    __slots__ = ("items", "quantity", "matched")

    def __init__(self, matched: list[LineItem]) -> None:
        self.matched = matched
        self.items = len(matched)
        quantity = 0
        for item in matched:
            quantity += item.quantity
        self.quantity = quantity

    @property
    def amount(self) -> Decimal:
        """Summed price x quantity - total_discount of the matching items."""
        return sum((item.amount for item in self.matched), Decimal(0))

    def to_json(self) -> dict[str, Any]:
        """The match as shown in a trace."""
        return {"items": self.items, "quantity": self.quantity, "amount": str(self.amount)}


def compile_leaf(node: dict[str, Any]) -> tuple[Getter, Test, bool]:
    """Return (getter, test, reads_missing): the fact reader, the predicate on a present fact, and whether the
    predicate also decides a missing fact (only `exists` does)."""
    kind, operator, expected = node["type"], node["operator"], node.get("value")
    if kind in CONTEXT_FACTS:
        name, convert = CONTEXT_FACTS[kind]
        return attrgetter(name), _compare(operator, expected, convert), False
    if kind in CUSTOMER_FACTS:
        name, convert = CUSTOMER_FACTS[kind]
        return _customer(name), _compare(operator, expected, convert), False
    if kind in SET_FACTS and operator in ("in", "not_in"):
        return attrgetter(SET_FACTS[kind]), _overlap(operator, expected), False
    if kind == "frequency":
        event_type, days = node.get("event_type", "order_created"), node.get("within_days")
        return (
            partial(EventContext.event_count, event_type=event_type, within_days=days),
            _compare(operator, expected, int),
            False,
        )
    if kind == "line_item":
        return _line_items(node), _line_test(node), False
    if kind == "discount_code":  # `exists`: any code used, or (value false) none
        return attrgetter("discount_codes"), lambda codes: bool(codes) is expected, True
    if kind == "date":
        return attrgetter("local_time"), _date_test(operator, expected), False
    if kind == "time_of_day":
        return attrgetter("minute_of_day"), _clock_test(expected), False
    if kind == "referred_customer":
        return _customer("referred"), partial(op.is_, expected), False
    return _attribute(node)


def _customer(name: str) -> Getter:
    def getter(ctx: EventContext) -> Any:
        customer = ctx.customer
        return None if customer is None else getattr(customer, name)

    return getter


def _compare(operator: str, expected: Any, convert: Callable[[Any], Any]) -> Test:
    """Return the predicate `fact <operator> expected`, with expected values converted once, here."""
    if operator in ("in", "not_in"):
        wanted = frozenset(convert(item) for item in expected)
        return wanted.__contains__ if operator == "in" else lambda fact: fact not in wanted
    if operator == "between":
        low, high = convert(expected[0]), convert(expected[1])
        return lambda fact: low <= fact <= high
    return partial(FLIPPED[operator], convert(expected))


def _overlap(operator: str, expected: list[str]) -> Test:
    """Return the test on a set of texts: `in` shares a listed one, `not_in` none (compared trimmed, lower-case)."""
    wanted = frozenset(map(folded, expected))
    return (lambda values: not wanted.isdisjoint(values)) if operator == "in" else wanted.isdisjoint


def _line_items(node: dict[str, Any]) -> Getter:
    field_name = node["field"]
    wanted = frozenset(line_value(field_name, item) for item in node["value"])
    included = node["operator"] == "in"

    def getter(ctx: EventContext) -> LineMatch | None:
        items = ctx.line_items
        if items is None:
            return None
        matched = [
            item
            for item in items
            if (not wanted.isdisjoint(values := item.values(field_name))) is included and (included or values)
        ]
        return LineMatch(matched)

    return getter


def line_value(field_name: str, item: str | int) -> str | None:
    """A listed value as the item fields hold it: ids normalized, tags lower-case, sku and vendor as text."""
    if field_name in ("product_id", "variant_id", "collection_id"):
        return normalize_id(item)
    return folded(str(item)) if field_name == "product_tag" else str(item).strip()


def _line_test(node: dict[str, Any]) -> Test:
    min_quantity = node.get("min_quantity", 1)
    if "min_amount" not in node:
        return lambda match: match.items > 0 and match.quantity >= min_quantity
    min_amount = to_decimal(node["min_amount"])
    return lambda match: match.items > 0 and match.quantity >= min_quantity and match.amount >= min_amount


def _date_test(operator: str, expected: Any) -> Test:
    if operator == "between":
        after, before = _date_bound(expected[0], op.ge), _date_bound(expected[1], op.le)
        return lambda local: after(local) and before(local)
    return _date_bound(expected, op.ge if operator == ">=" else op.lt)


def _date_bound(text: str, compare: Callable[[Any, Any], bool]) -> Test:
    """A date bound compares the local date, a naive date-time local wall time, an aware one the instant."""
    bound = parse_when(text)
    if not isinstance(bound, dt.datetime):
        return lambda local: compare(local.date(), bound)
    if bound.tzinfo is None:
        return lambda local: compare(local.replace(tzinfo=None), bound)
    return lambda local: compare(local, bound)


def _clock_test(window: list[str]) -> Test:
    start, end = parse_clock(window[0]), parse_clock(window[1])
    if start <= end:
        return lambda minute: start <= minute <= end
    return lambda minute: minute >= start or minute <= end


def _attribute(node: dict[str, Any]) -> tuple[Getter, Test, bool]:
    path = tuple(node["path"].split(".")[1:])
    operator, expected = node["operator"], node.get("value")
    if operator == "exists":
        return (lambda ctx: ctx.attribute(path)), lambda fact: (fact is not None) is expected, True
    sample = expected[0] if isinstance(expected, list) else expected
    convert = _attribute_reader(sample)
    return (lambda ctx: convert(ctx.attribute(path))), _compare(operator, expected, convert), False


def _attribute_reader(sample: Any) -> Callable[[Any], Any]:
    """Read a payload value as the kind of the expected value; None when it is not of that kind."""
    if isinstance(sample, bool):
        return lambda value: value if isinstance(value, bool) else None
    if isinstance(sample, (int, float)):
        return to_decimal

    def as_text(value: Any) -> str | None:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        return None

    return as_text
