"""Shopify webhook topics and the event types they become (DESIGN.md, "Event envelope")."""

from __future__ import annotations

import re
from typing import Any

SHOPIFY_ID = re.compile(r"^[1-9]\d{0,19}$")
CUSTOMER_GID = re.compile(r"^gid://shopify/Customer/([1-9]\d{0,19})$")
# The topics whose payload is {"customerId": "gid://shopify/Customer/…", "tags": [...], "occurredAt": …}.
CUSTOMER_TAG_TOPICS = frozenset({"customer.tags_added", "customer.tags_removed"})


class MalformedPayload(ValueError):
    """A signed payload that does not have the shape Shopify documents for its topic."""


TOPIC_EVENT_TYPES = {
    "orders/create": "order_created",
    "orders/paid": "order_paid",
    "orders/fulfilled": "order_fulfilled",
    "orders/updated": "order_updated",
    "orders/cancelled": "order_cancelled",
    "refunds/create": "refund_created",
    "customers/create": "customer_created",
    "customers/update": "customer_updated",
    "customers/delete": "customer_deleted",
    # Since API version 2025-01 customer payloads carry no `tags`: these two topics say which tags came and went.
    "customer.tags_added": "customer_tags_added",
    "customer.tags_removed": "customer_tags_removed",
    "app/uninstalled": "app_uninstalled",
    "app/scopes_update": "app_scopes_updated",
    "app_subscriptions/update": "app_subscription_updated",
    "customers/data_request": "customer_data_requested",
    "customers/redact": "customer_redact_requested",
    "shop/redact": "shop_redact_requested",
}


def event_type_for(topic: str) -> str | None:
    """The event type for a Shopify topic, or None for a topic we do not subscribe to."""
    return TOPIC_EVENT_TYPES.get(topic)


def customer_id_of(topic: str, payload: dict[str, Any]) -> str | None:
    """The Shopify customer id an event is about, as a string (ids exceed 2^53), or None (guest order, shop event).

    Raises MalformedPayload when the id is not a Shopify id (a positive integer of at most 20 digits).
    """
    if topic in CUSTOMER_TAG_TOPICS:
        return _customer_of_tag_change(payload)
    if topic.startswith("customers/") and topic not in ("customers/data_request", "customers/redact"):
        value = payload.get("id")
    elif topic in ("customers/data_request", "customers/redact") or topic.startswith("orders/"):
        customer = payload.get("customer")
        if customer in (None, ""):
            return None
        if not isinstance(customer, dict):
            raise MalformedPayload(f"customer must be an object, not {type(customer).__name__}")
        value = customer.get("id")
    else:
        # refunds/create carries no customer: processing finds it through the order.
        value = None
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not SHOPIFY_ID.fullmatch(str(value)):
        raise MalformedPayload(f"customer id {str(value)[:40]!r} is not a Shopify id")
    return str(value)


def _customer_of_tag_change(payload: dict[str, Any]) -> str:
    """customer.tags_added/removed name the customer by GraphQL id, and carry the tags as a list of strings."""
    gid = payload.get("customerId")
    match = CUSTOMER_GID.fullmatch(gid) if isinstance(gid, str) else None
    if match is None:
        raise MalformedPayload(f"customerId {str(gid)[:60]!r} is not a Shopify customer id (gid://shopify/Customer/…)")
    tags = payload.get("tags")
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise MalformedPayload("tags must be a list of strings")
    return match.group(1)


# The field holding the order id each order topic's payload must carry, as a Shopify id.
_ORDER = (("id", "order"),)
# The (field, what it names) pairs each topic's payload must hold as Shopify ids: the order, and a refund's own id,
# which its idempotency key holds (two refunds of one order without one would be taken as one).
ID_FIELDS = {
    "orders/create": _ORDER,
    "orders/paid": _ORDER,
    "orders/fulfilled": _ORDER,
    "orders/updated": _ORDER,
    "orders/cancelled": _ORDER,
    "refunds/create": (("order_id", "order"), ("id", "refund")),
}


def check_ids(topic: str, payload: dict[str, Any]) -> None:
    """Raise MalformedPayload when an order or refund topic's payload does not name its order (and a refund itself)
    by a Shopify id."""
    for field, names in ID_FIELDS.get(topic, ()):
        value = payload.get(field)
        if value in (None, ""):
            raise MalformedPayload(f"{field} is missing: {topic} names its {names} by a Shopify id")
        if isinstance(value, bool) or not SHOPIFY_ID.fullmatch(str(value)):
            raise MalformedPayload(f"{field} {str(value)[:40]!r} is not a Shopify {names} id")


# A NUL, or a UTF-16 surrogate left without its pair: Python's json accepts both escapes, PostgreSQL's text and jsonb
# refuse them. A pair that makes one character (an escaped emoji) decodes to that character and is kept.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# What those characters look like escaped in the raw body (`\u0000`, `\ud83d`, any case), the cheap check first.
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def may_hold_unstorable_characters(raw_json: str) -> bool:
    """Whether the body escapes a character that without_unstorable_characters might have to remove."""
    return _UNSTORABLE_ESCAPE.search(raw_json) is not None


def without_unstorable_characters(value: Any) -> Any:
    """The payload with NULs and lone surrogates removed from every string: a shopper can type them into an order
    note, they carry no meaning, and refusing the webhook would lose the order."""
    if isinstance(value, str):
        return _UNSTORABLE.sub("", value)
    if isinstance(value, dict):
        return {without_unstorable_characters(key): without_unstorable_characters(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_unstorable_characters(item) for item in value]
    return value
