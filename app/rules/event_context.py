"""The per-event view that compiled conditions read: each derived fact is computed at most once per event."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.rules.facts import Facts
from app.rules.values import folded, is_ascii_digits, normalize_id, to_decimal

T = TypeVar("T")
SINGLE_VALUED = frozenset({"product_id", "variant_id", "sku", "vendor"})  # one value per line item


class lazy(Generic[T]):  # noqa: N801 - used as a decorator, like functools.cached_property
    """functools.cached_property without its per-access lock (Python 3.11): computed once, then a plain attribute."""

    def __init__(self, compute: Callable[[Any], T]) -> None:
        self.compute = compute
        self.name = compute.__name__

    def __get__(self, instance: Any, owner: type | None = None) -> T:
        value = instance.__dict__[self.name] = self.compute(instance)
        return value


LINE_ITEM_KEYS = {
    "product_id": "product_id",
    "variant_id": "variant_id",
    "sku": "sku",
    "vendor": "vendor",
    "product_tag": "product_tags",
    "collection_id": "collection_ids",
}


class LineItem:
    """One line item; its matchable fields (as sets of text) and its amount are read when first asked for."""

    __slots__ = ("raw", "quantity", "_fields", "_amount")

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        quantity = raw.get("quantity")
        self.quantity = quantity if isinstance(quantity, int) and not isinstance(quantity, bool) else 0
        self._fields: dict[str, frozenset[str]] = {}
        self._amount: Decimal | None = None

    def values(self, name: str) -> frozenset[str]:
        """Return the item's values for a line_item `field` (empty when the payload lacks it)."""
        found = self._fields.get(name)
        if found is None:
            found = self._fields[name] = _field_values(name, self.raw.get(LINE_ITEM_KEYS[name]))
        return found

    @property
    def amount(self) -> Decimal:
        """Return price x quantity - total_discount (absent money counts as 0)."""
        if self._amount is None:
            price = to_decimal(self.raw.get("price")) or Decimal(0)
            self._amount = price * self.quantity - (to_decimal(self.raw.get("total_discount")) or Decimal(0))
        return self._amount


def _field_values(name: str, value: Any) -> frozenset[str]:
    if name == "product_tag" and isinstance(value, str):
        value = value.split(",")
    items = value if isinstance(value, list) else [value]
    if name in ("product_id", "variant_id", "collection_id"):
        return frozenset(text for text in map(normalize_id, items) if text)
    if name == "product_tag":
        return frozenset(folded(item) for item in items if isinstance(item, str) and item.strip())
    return frozenset(item for item in items if isinstance(item, str) and item)


class EventContext:
    """Facts plus lazily derived values; None means the fact is missing (which makes any condition on it false)."""

    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        self.data = facts.event_data
        self.customer = facts.customer
        self.event_type = facts.event_type
        self._event_counts: dict[tuple[str, int | None], int] = {}
        self._indexes: dict[str, dict[str | None, int] | None] = {}

    @lazy
    def order_total(self) -> Decimal | None:
        """Shopify's total_price as a Decimal."""
        return to_decimal(self.data.get("total_price"))

    @lazy
    def order_subtotal(self) -> Decimal | None:
        """Shopify's subtotal_price as a Decimal."""
        return to_decimal(self.data.get("subtotal_price"))

    @lazy
    def local_time(self) -> dt.datetime:
        """The event time in the shop's time zone."""
        try:
            zone = ZoneInfo(self.facts.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown shop time zone {self.facts.timezone!r}") from None
        return self.facts.occurred_at.astimezone(zone)

    @lazy
    def local_naive(self) -> dt.datetime:
        """Shop-local wall time without a zone, to compare with naive bounds."""
        return self.local_time.replace(tzinfo=None)

    @lazy
    def local_date(self) -> dt.date:
        """The shop-local calendar date."""
        return self.local_time.date()

    @lazy
    def weekday(self) -> str:
        """The shop-local weekday: mon ... sun."""
        return ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[self.local_time.weekday()]

    @lazy
    def minute_of_day(self) -> int:
        """Minutes after shop-local midnight."""
        return self.local_time.hour * 60 + self.local_time.minute

    @lazy
    def line_items(self) -> tuple[LineItem, ...] | None:
        """The order's line items (None when the payload has no list)."""
        items = self.data.get("line_items")
        if not isinstance(items, list):
            return None
        return tuple(LineItem(item) for item in items if isinstance(item, dict))

    @lazy
    def discount_codes(self) -> frozenset[str] | None:
        """Codes used on the order, lower-case (None when the payload has no list)."""
        codes = self.data.get("discount_codes")
        if not isinstance(codes, list):
            return None
        return frozenset(
            folded(code["code"])
            for code in codes
            if isinstance(code, dict) and isinstance(code.get("code"), str) and code["code"].strip()
        )

    @lazy
    def source_name(self) -> str | None:
        """The sales channel."""
        value = self.data.get("source_name")
        return value if isinstance(value, str) else None

    @lazy
    def shipping_country(self) -> str | None:
        """The shipping address country code, upper-case."""
        address = self.data.get("shipping_address")
        code = address.get("country_code") if isinstance(address, dict) else None
        return code.upper() if isinstance(code, str) else None

    @lazy
    def currency(self) -> str | None:
        """The order currency, upper-case."""
        value = self.data.get("currency")
        return value.upper() if isinstance(value, str) else None

    @lazy
    def customer_tags(self) -> frozenset[str] | None:
        """The customer's tags, trimmed and lower-case (None for a guest)."""
        customer = self.customer
        return None if customer is None else frozenset(map(folded, customer.tags))

    @lazy
    def customer_tier(self) -> str | None:
        """The customer's tier name, lower-case (None for a guest or no tier)."""
        customer = self.customer
        return None if customer is None or customer.tier is None else folded(customer.tier)

    def event_count(self, event_type: str, within_days: int | None) -> int | None:
        """Return the customer's count of events of this type (None for guests), asking History once per event."""
        if self.customer is None:
            return None
        key = (event_type, within_days)
        count = self._event_counts.get(key)
        if count is None:
            count = self._event_counts[key] = self.facts.history.count_events(event_type, within_days)
        return count

    def line_quantity(self, field: str, wanted: frozenset[str], included: bool) -> int | None:
        """Return the summed quantity of line items whose `field` is (or, not included, is not) in `wanted`.

        None when the payload has no line items; an item lacking the field matches neither way.
        """
        if field in SINGLE_VALUED:
            index = self._quantity_index(field)
            if index is None:
                return None
            quantity = 0
            for value in wanted:
                quantity += index.get(value, 0)
            return quantity if included else index[None] - quantity
        items = self.line_items
        if items is None:
            return None
        quantity = 0
        for item in items:
            values = item.values(field)
            if values and wanted.isdisjoint(values) is not included:
                quantity += item.quantity
        return quantity

    def _quantity_index(self, field: str) -> dict[str | None, int] | None:
        """Quantity per value of a single-valued field, and under None the quantity of items that have the field."""
        index = self._indexes.get(field)
        if index is None and field not in self._indexes:
            items = self.line_items
            if items is not None:
                index = {None: 0}
                for item in items:
                    for value in item.values(field):
                        index[value] = index.get(value, 0) + item.quantity
                        index[None] += item.quantity
            self._indexes[field] = index
        return index

    def attribute(self, path: tuple[str, ...]) -> Any:
        """Return the payload value at the path (list items by index), None when any step is missing."""
        node: Any = self.data
        for step in path:
            if isinstance(node, dict):
                node = node.get(step)
            elif isinstance(node, list) and is_ascii_digits(step) and int(step) < len(node):
                node = node[int(step)]
            else:
                return None
        return node
