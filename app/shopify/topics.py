"""Shopify webhook topics and the event types they become (DESIGN.md, "Event envelope")."""

from __future__ import annotations

import re
from typing import Any

SHOPIFY_ID = re.compile(r"^[1-9]\d{0,19}$")


class MalformedPayload(ValueError):
    """A signed payload that does not have the shape Shopify documents for its topic."""


TOPIC_EVENT_TYPES = {
    "orders/create": "order_created",
    "orders/paid": "order_paid",
    "orders/updated": "order_updated",
    "orders/cancelled": "order_cancelled",
    "refunds/create": "refund_created",
    "customers/create": "customer_created",
    "customers/update": "customer_updated",
    "customers/delete": "customer_deleted",
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
    if topic.startswith("customers/") and topic not in ("customers/data_request", "customers/redact"):
        value = payload.get("id")
    elif topic in ("customers/data_request", "customers/redact"):
        value = (payload.get("customer") or {}).get("id")
    elif topic.startswith("orders/"):
        value = (payload.get("customer") or {}).get("id")
    else:
        # refunds/create carries no customer: processing finds it through the order.
        value = None
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not SHOPIFY_ID.match(str(value)):
        raise MalformedPayload(f"customer id {str(value)[:40]!r} is not a Shopify id")
    return str(value)


def without_nul_characters(value: Any) -> Any:
    """The payload with NUL characters removed from every string: PostgreSQL's text and jsonb cannot hold them, and
    a shopper can type one into an order note. They carry no meaning, and refusing the webhook would lose the order.
    """
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {without_nul_characters(key): without_nul_characters(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_nul_characters(item) for item in value]
    return value
