"""Events the app itself raises (tier_changed, reward_redeemed, referral_converted): an inbox row and an audit row.

Each is written in the caller's transaction as
- an `event_queue` row (status `pending`, the fixed envelope's `event_type`, `event_data` as `payload`), so it flows
  through the same inbox -> stream -> rules/outbound-webhook path as a Shopify webhook and is never lost, and
- an `audit_log` row (actor `system`), the merchant-visible history.

The event id is a UUIDv5 of a business key, so the same change recorded twice (a retried task) is one event.
Payloads carry ids and amounts only, never names or emails (they must survive a GDPR redaction unchanged).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.loyalty.base.bulk import insert_rows
from app.models import AuditLog, EventQueue

APP_EVENT_NAMESPACE = uuid.UUID("4b1f8e55-0d3e-4c57-9a62-3c1f0e7a9d10")
# The ids of app events staged in a session, so the batch that staged them can settle at once those no rule listens
# to (processing.event); the relay streams the rest once the transaction commits (app/events/relay.py).
STAGED_EVENTS = "loyalty.staged_app_events"


def app_event_id(shop_id: int, key: str) -> uuid.UUID:
    """The deterministic event id of an app event named by its business key."""
    return uuid.uuid5(APP_EVENT_NAMESPACE, f"{shop_id}:{key}")


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
    event_id = app_event_id(shop_id, key)
    inserted = session.execute(
        insert(EventQueue)
        .values(
            event_id=event_id,
            shop_id=shop_id,
            event_type=event_type,
            customer_id=customer_id,
            payload=data,
            occurred_at=now,
            received_at=now,
        )
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(EventQueue.id)
    ).scalar_one_or_none()
    if inserted is None:
        return None
    session.add(
        AuditLog(
            shop_id=shop_id,
            actor="system",
            action=event_type,
            subject_type=subject[0],
            subject_id=subject[1],
            details={"event_id": str(event_id), **data},
            created_at=now,
        )
    )
    session.flush()
    session.info.setdefault(STAGED_EVENTS, []).append(event_id)
    return event_id


@dataclass(frozen=True)
class AppEvent:
    """One app event to stage (see record_app_event)."""

    shop_id: int
    event_type: str
    key: str
    customer_id: str | None
    subject: tuple[str, str]
    data: dict[str, Any]
    now: datetime
    # Nothing listens to it (no active rule of its shop): stored already processed and never published, keeping
    # its inbox and audit rows without a round trip through the stream.
    settled: bool = False


def record_app_events(session: Session, events: list[AppEvent]) -> list[uuid.UUID]:
    """record_app_event for many events in two statements (a batch of events raises many at once); returns the ids
    recorded now (an event recorded before is left as it was); the ones not `settled` wait to be published."""
    if not events:
        return []
    by_id = {app_event_id(event.shop_id, event.key): event for event in events}
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
                    "status": "processed" if event.settled else "pending",
                    "processed_at": event.now if event.settled else None,
                }
                for event_id, event in by_id.items()
            ],
            conflict=("event_id",),
            returning=("event_id",),
        )
    }
    staged = [event_id for event_id in by_id if event_id in inserted]
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
    session.info.setdefault(STAGED_EVENTS, []).extend(event_id for event_id in staged if not by_id[event_id].settled)
    return staged
