"""Events the app itself raises (tier_changed, reward_redeemed, referral_converted): an inbox row and an audit row.

Each is written in the caller's transaction as
- an `event_queue` row (status `pending`, the fixed envelope's `event_type`, `event_data` as `payload`), so it flows
  through the same inbox -> stream -> rules path as a Shopify webhook and is never lost; inside a
  processing batch, one that no active rule of its shop listens to is written `processed` instead (see
  APP_EVENT_HEARD),
- an `audit_log` row (actor `system`), the merchant-visible history, and
- for tier_changed and referral_converted, a `merchant_webhook` outbox row when the shop has an endpoint for its topic
  (merchant_webhooks.APP_EVENT_TOPICS).

The event id is a UUIDv5 of a business key, so the same change recorded twice (a retried task) is one event.
Payloads carry ids and amounts only, never names or emails (they must survive a GDPR redaction unchanged).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.loyalty.base import merchant_webhooks
from app.loyalty.base.bulk import insert_rows
from app.models import AuditLog, EventQueue

APP_EVENT_NAMESPACE = uuid.UUID("4b1f8e55-0d3e-4c57-9a62-3c1f0e7a9d10")
# Set in session.info by a processing batch (processing.event): (shop id, event type) -> whether an active rule of the
# shop listens to that app event. One that nobody listens to is recorded as processed at once: a trip through the
# stream would change nothing, and an inbox row written pending and then updated costs a second row version and
# its index entries. Without it (a task, the admin), every app event is recorded pending and the consumer decides.
APP_EVENT_HEARD = "loyalty.app_event_heard"
AppEventHeard = Callable[[int, str], bool]


def app_event_id(shop_id: int, key: str) -> uuid.UUID:
    """The deterministic event id of an app event named by its business key."""
    return uuid.uuid5(APP_EVENT_NAMESPACE, f"{shop_id}:{key}")


@dataclass(frozen=True)
class AppEvent:
    """One app event to stage (see record_app_events)."""

    shop_id: int
    event_type: str
    key: str
    customer_id: str | None
    subject: tuple[str, str]
    data: dict[str, Any]
    now: datetime


def record_app_event(
    session: Session,
    *,
    shop_id: int,
    event_type: str,
    key: str,
    customer_id: str | None,
    subject: tuple[str, str],
    data: dict[str, Any],
    now: datetime,
) -> uuid.UUID | None:
    """Stage an app event once per `key`: inbox row + audit row. Returns the event id, or None if already recorded."""
    session.flush()  # what the caller changed through the ORM is written before the event that reports it
    recorded = record_app_events(session, [AppEvent(shop_id, event_type, key, customer_id, subject, data, now)])
    return recorded[0] if recorded else None


def record_app_events(session: Session, events: list[AppEvent]) -> list[uuid.UUID]:
    """Stage app events once per key, in a few statements (a batch of events raises many at once): inbox rows
    (pending, or processed when nobody listens: APP_EVENT_HEARD), the merchant webhooks they make, and audit rows.
    Returns the ids recorded now (an event recorded before is left as it was)."""
    if not events:
        return []
    by_id = {app_event_id(event.shop_id, event.key): event for event in events}
    heard: AppEventHeard = session.info.get(APP_EVENT_HEARD) or (lambda _shop_id, _event_type: True)
    inserted = {
        event_id
        for (event_id,) in insert_rows(
            session,
            EventQueue.__table__,
            [
                {
                    "event_id": event_id,
                    "shop_id": event.shop_id,
                    "event_type": event.event_type,
                    "customer_id": event.customer_id,
                    "payload": event.data,
                    "occurred_at": event.now,
                    "received_at": event.now,
                    **(
                        {"status": "pending", "processed_at": None}
                        if heard(event.shop_id, event.event_type)
                        else {"status": "processed", "processed_at": event.now}
                    ),
                }
                for event_id, event in by_id.items()
            ],
            conflict=("event_id",),
            returning=("event_id",),
        )
    }
    staged = [event_id for event_id in by_id if event_id in inserted]
    _stage_webhooks(session, [(event_id, by_id[event_id]) for event_id in staged])
    insert_rows(
        session,
        AuditLog.__table__,
        [
            {
                "shop_id": by_id[event_id].shop_id,
                "actor": "system",
                "action": by_id[event_id].event_type,
                "subject_type": by_id[event_id].subject[0],
                "subject_id": by_id[event_id].subject[1],
                "details": {"event_id": str(event_id), **by_id[event_id].data},
                "created_at": by_id[event_id].now,
            }
            for event_id in staged
        ],
    )
    return staged


def _stage_webhooks(session: Session, recorded: list[tuple[uuid.UUID, AppEvent]]) -> None:
    """The merchant webhooks of the app events just recorded, for the shops whose endpoints hear their topic: the
    endpoints are asked first, so a batch of shops without one builds no payload."""
    topics = merchant_webhooks.APP_EVENT_TOPICS
    hearing = merchant_webhooks.subscribed(
        session, {event.shop_id for _, event in recorded if event.event_type in topics}
    )
    if not hearing:
        return
    merchant_webhooks.stage(
        session,
        [
            merchant_webhooks.app_event_webhook(
                topic,
                event.shop_id,
                event.key,
                {"customer_id": event.customer_id, **event.data},
                event.now,
                event_id,
            )
            for event_id, event in recorded
            if (topic := topics.get(event.event_type)) in hearing.get(event.shop_id, ())
        ],
        hearing=hearing,
    )
