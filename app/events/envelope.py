"""The fixed stream envelope (DESIGN.md): to and from Redis stream fields, and the derivation of event ids."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

from app.loyalty.base.inbound import InboundEvent

# Fixed namespace: the same Shopify event always maps to the same event_id, in every process and every release.
EVENT_ID_NAMESPACE = uuid.UUID("6f1c1d2e-8a57-4d0b-9a3e-5b7c2f4e9d10")


def derive_event_id(shop_domain: str, topic: str, shopify_event_id: str | None, webhook_id: str | None) -> uuid.UUID:
    """A stable id from X-Shopify-Event-Id (else the webhook id): a re-delivered webhook is the same event."""
    source = shopify_event_id or webhook_id
    if not source:
        raise ValueError("a webhook needs X-Shopify-Event-Id or X-Shopify-Webhook-Id")
    return uuid.uuid5(EVENT_ID_NAMESPACE, f"{shop_domain}|{topic}|{source}")


def format_timestamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z")


def parse_timestamp(value: str) -> datetime:
    """An ISO 8601 time in UTC; one without an offset is read as UTC (Shopify's times carry one). ValueError if it is
    not a time, or not one that exists in UTC (year 1 at +14:00 is the year before year 1)."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    try:
        return parsed.astimezone(timezone.utc) if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    except OverflowError as exc:
        raise ValueError(f"{value!r} is out of range in UTC") from exc


def to_envelope(event: InboundEvent) -> dict[str, Any]:
    """The envelope exactly as DESIGN.md fixes it."""
    return {
        "event_id": str(event.event_id),
        "event_type": event.event_type,
        "shop_domain": event.shop_domain,
        "customer_id": event.customer_id,
        "event_data": event.event_data,
        "timestamp": format_timestamp(event.timestamp),
    }


def to_fields(event: InboundEvent) -> dict[str, str]:
    """Stream fields: the envelope as one JSON field, plus the id and type for cheap inspection."""
    return {
        "event_id": str(event.event_id),
        "event_type": event.event_type,
        "envelope": json.dumps(to_envelope(event), separators=(",", ":")),
    }


def from_fields(fields: dict[bytes | str, bytes | str]) -> InboundEvent:
    """Parse stream fields back into an event; raises ValueError (or KeyError) for a malformed message."""
    raw = fields.get(b"envelope", fields.get("envelope"))
    if raw is None:
        raise ValueError("stream message has no envelope field")
    data = json.loads(raw)
    return InboundEvent(
        event_id=uuid.UUID(data["event_id"]),
        event_type=str(data["event_type"]),
        shop_domain=str(data["shop_domain"]),
        customer_id=None if data.get("customer_id") in (None, "") else str(data["customer_id"]),
        timestamp=parse_timestamp(data["timestamp"]),
        event_data=dict(data.get("event_data") or {}),
    )
