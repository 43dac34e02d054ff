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
from app.rules.values import normalize_id, parse_clock, parse_when, to_decimal

Getter = Callable[[EventContext], Any]
Test = Callable[[Any], bool]

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
    if kind in ("order_total", "order_subtotal"):
        return attrgetter(kind), _compare(operator, expected, to_decimal), False
    if kind == "customer_lifetime_spend":
        return _customer("lifetime_spend"), _compare(operator, expected, to_decimal), False
    if kind == "customer_order_count":
        return _customer("orders_count"), _compare(operator, expected, int), False
    if kind == "frequency":
        event_type, days = node.get("event_type", "order_created"), node.get("within_days")
        return (
            partial(EventContext.event_count, event_type=event_type, within_days=days),
            _compare(operator, expected, int),
            False,
        )
    if kind in ("customer_tag", "customer_tier"):
        wanted = frozenset(item.strip().lower() for item in expected)
        getter = attrgetter("customer_tags") if kind == "customer_tag" else attrgetter("customer_tier")
        if kind == "customer_tier":
            return getter, (wanted.__contains__ if operator == "in" else lambda tier: tier not in wanted), False
        return getter, (lambda tags: not wanted.isdisjoint(tags)) if operator == "in" else wanted.isdisjoint, False
    if kind == "line_item":
        return _line_items(node), _line_test(node), False
    if kind == "discount_code":
        if operator == "exists":
            return attrgetter("discount_codes"), lambda codes: bool(codes) is expected, True
        wanted = frozenset(code.strip().lower() for code in expected)
        test = (lambda codes: not wanted.isdisjoint(codes)) if operator == "in" else wanted.isdisjoint
        return attrgetter("discount_codes"), test, False
    if kind in ("shipping_country", "currency"):
        return attrgetter(kind), _compare(operator, expected, str.upper), False
    if kind == "source_name":
        return attrgetter("source_name"), _compare(operator, expected, str), False
    if kind == "event_type":
        return attrgetter("event_type"), _compare(operator, expected, str), False
    if kind == "date":
        return attrgetter("local_time"), _date_test(operator, expected), False
    if kind == "day_of_week":
        days = frozenset(expected)
        return attrgetter("weekday"), days.__contains__ if operator == "in" else lambda day: day not in days, False
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
    text = str(item).strip()
    return text.lower() if field_name == "product_tag" else text


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
