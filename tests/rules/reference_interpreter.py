"""A deliberately plain interpreter of rule-condition JSON, walked per event: the oracle for the property test.

It shares nothing with app.rules' compiler except the value readers in app.rules.values, and favours being
obviously right over being fast.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from app.rules import Facts
from app.rules.values import normalize_id, parse_clock, parse_when, to_decimal

WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
MISSING = object()


def holds(node: dict[str, Any], facts: Facts) -> bool:
    """Whether a normalized condition node holds for the facts."""
    if "conditions" in node:
        results = [holds(child, facts) for child in node["conditions"]]
        if node["operator"] == "and":
            return all(results)
        if node["operator"] == "or":
            return any(results)
        return not results[0]
    return leaf_holds(node, facts)


def leaf_holds(node: dict[str, Any], facts: Facts) -> bool:
    kind, operator, expected = node["type"], node["operator"], node.get("value")
    if kind == "discount_code" and operator == "exists":
        codes = facts.event_data.get("discount_codes")
        used = isinstance(codes, list) and any(
            isinstance(c, dict) and isinstance(c.get("code"), str) and c["code"].strip() for c in codes
        )
        return used == expected
    if kind == "attribute" and operator == "exists":
        return (lookup(facts.event_data, node["path"]) is not MISSING) == expected
    fact = read_fact(node, facts)
    if fact is MISSING:
        return False
    if kind in ("customer_tag", "discount_code"):
        wanted = {item.strip().lower() for item in expected}
        overlap = bool(wanted & fact)
        return overlap if operator == "in" else not overlap
    if kind == "line_item":
        return line_item_holds(node, fact)
    if kind == "date":
        if operator == "between":
            return date_compare(fact, expected[0], ">=") and date_compare(fact, expected[1], "<=")
        return date_compare(fact, expected, operator)
    if kind == "time_of_day":
        start, end = parse_clock(expected[0]), parse_clock(expected[1])
        return start <= fact <= end if start <= end else (fact >= start or fact <= end)
    convert = converter(node)
    if operator == "in":
        return fact in [convert(item) for item in expected]
    if operator == "not_in":
        return fact not in [convert(item) for item in expected]
    if operator == "between":
        return convert(expected[0]) <= fact <= convert(expected[1])
    return compare(fact, operator, convert(expected))


def compare(left: Any, operator: str, right: Any) -> bool:
    return {
        "==": left == right,
        "!=": left != right,
        ">": left > right,
        ">=": left >= right,
        "<": left < right,
        "<=": left <= right,
    }[operator]


def converter(node: dict[str, Any]) -> Any:
    kind = node["type"]
    if kind in ("order_total", "order_subtotal", "customer_lifetime_spend"):
        return to_decimal
    if kind in ("shipping_country", "currency"):
        return str.upper
    if kind == "customer_tier":
        return lambda text: text.strip().lower()
    if kind == "attribute":
        sample = node["value"][0] if isinstance(node["value"], list) else node["value"]
        return lambda value: as_kind(value, sample)
    return lambda value: value


def as_kind(value: Any, sample: Any) -> Any:
    """Read a payload value as the kind of the sample (bool, number as Decimal, or text), else MISSING."""
    if value is MISSING or value is None:
        return MISSING
    if isinstance(sample, bool):
        return value if isinstance(value, bool) else MISSING
    if isinstance(sample, (int, float)):
        number = to_decimal(value)
        return MISSING if number is None else number
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return MISSING


def read_fact(node: dict[str, Any], facts: Facts) -> Any:
    data, customer, kind = facts.event_data, facts.customer, node["type"]
    local = facts.occurred_at.astimezone(ZoneInfo(facts.timezone))
    if kind in ("order_total", "order_subtotal"):
        value = to_decimal(data.get("total_price" if kind == "order_total" else "subtotal_price"))
        return MISSING if value is None else value
    if (
        kind
        in (
            "frequency",
            "customer_order_count",
            "customer_lifetime_spend",
            "customer_tag",
            "customer_tier",
            "referred_customer",
        )
        and customer is None
    ):
        return MISSING
    if kind == "frequency":
        return facts.history.count_events(node.get("event_type", "order_created"), node.get("within_days"))
    if kind == "customer_order_count":
        return customer.orders_count
    if kind == "customer_lifetime_spend":
        return customer.lifetime_spend
    if kind == "customer_tag":
        return {tag.strip().lower() for tag in customer.tags}
    if kind == "customer_tier":
        return MISSING if customer.tier is None else customer.tier.strip().lower()
    if kind == "referred_customer":
        return customer.referred
    if kind == "line_item":
        items = data.get("line_items")
        return items if isinstance(items, list) else MISSING
    if kind == "discount_code":
        codes = data.get("discount_codes")
        if not isinstance(codes, list):
            return MISSING
        return {
            c["code"].strip().lower()
            for c in codes
            if isinstance(c, dict) and isinstance(c.get("code"), str) and c["code"].strip()
        }
    if kind in ("source_name", "currency"):
        value = data.get(kind)
        return (value.upper() if kind == "currency" else value) if isinstance(value, str) else MISSING
    if kind == "shipping_country":
        address = data.get("shipping_address")
        code = address.get("country_code") if isinstance(address, dict) else None
        return code.upper() if isinstance(code, str) else MISSING
    if kind == "event_type":
        return facts.event_type
    if kind == "date":
        return local
    if kind == "day_of_week":
        return WEEKDAYS[local.weekday()]
    if kind == "time_of_day":
        return local.hour * 60 + local.minute
    sample = node["value"][0] if isinstance(node["value"], list) else node["value"]
    return as_kind(lookup(data, node["path"]), sample)


def lookup(data: Any, path: str) -> Any:
    node = data
    for step in path.split(".")[1:]:
        if isinstance(node, dict) and step in node:
            node = node[step]
        elif isinstance(node, list) and step.isdigit() and int(step) < len(node):
            node = node[int(step)]
        else:
            return MISSING
    return MISSING if node is None else node


def item_values(item: dict[str, Any], field: str) -> set[str]:
    key = {"product_tag": "product_tags", "collection_id": "collection_ids"}.get(field, field)
    raw = item.get(key)
    if field == "product_tag" and isinstance(raw, str):
        raw = raw.split(",")
    values = raw if isinstance(raw, list) else [raw]
    if field == "product_tag":
        return {v.strip().lower() for v in values if isinstance(v, str) and v.strip()}
    if field in ("sku", "vendor"):
        return {v for v in values if isinstance(v, str) and v}
    return {normalize_id(v) for v in values if normalize_id(v)}


def line_item_holds(node: dict[str, Any], items: list[Any]) -> bool:
    field = node["field"]
    if field in ("product_id", "variant_id", "collection_id"):
        wanted = {normalize_id(v) for v in node["value"]}
    else:
        wanted = {str(v).strip().lower() if field == "product_tag" else str(v).strip() for v in node["value"]}
    count, quantity, amount = 0, 0, Decimal(0)
    for item in items:
        if not isinstance(item, dict):
            continue
        values = item_values(item, field)
        matches = bool(values & wanted) if node["operator"] == "in" else bool(values) and not values & wanted
        if matches:
            qty = (
                item.get("quantity")
                if isinstance(item.get("quantity"), int) and not isinstance(item.get("quantity"), bool)
                else 0
            )
            count += 1
            quantity += qty
            amount += (to_decimal(item.get("price")) or Decimal(0)) * qty - (
                to_decimal(item.get("total_discount")) or Decimal(0)
            )
    if "min_amount" in node and amount < to_decimal(node["min_amount"]):
        return False
    return count > 0 and quantity >= node.get("min_quantity", 1)


def date_compare(local: Any, text: str, operator: str) -> bool:
    bound = parse_when(text)
    if not hasattr(bound, "hour"):
        return compare(local.date(), operator, bound)
    if bound.tzinfo is None:
        return compare(local.replace(tzinfo=None), operator, bound)
    return compare(local, operator, bound)
