"""The PostgreSQL inbox (`event_queue`): every accepted event is committed here before anyone is told "200".

The stream only carries what the inbox holds; `pending_for_redrive` finds rows that never made it through (Redis
lost the entry) so the consumer can publish them again. `archive_processed` moves rows processed long ago to
`event_queue_archive`, keeping the table every webhook inserts into small; `event_history` reads both.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Connection, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.loyalty.base.app_events import staged_event_ids
from app.loyalty.base.inbound import InboundEvent
from app.loyalty.base.installation import records_events
from app.models import EventQueue, Shop

_SHOP = text("SELECT id, installed_at, uninstalled_at FROM shops WHERE domain = :domain")
# Shop ids never change while a shop exists; a deleted shop (shop/redact) shows up as a foreign-key violation on the
# next insert, which evicts its entry. Per process, so the hot path is one INSERT. Only shops whose events are
# recorded are cached, and a shop stays so until it is deleted.
_shop_ids: dict[str, int] = {}


class ShopNotInstalled(Exception):
    """A verified webhook for a shop that never installed the app (or was deleted by shop/redact): nothing is
    recorded for it."""

    def __init__(self, domain: str) -> None:
        super().__init__(f"{domain} has not installed loyalty: nothing recorded")
        self.domain = domain


_INSERT_EVENT = text(
    """
    INSERT INTO event_queue (event_id, shop_id, event_type, topic, customer_id, payload, webhook_id, occurred_at)
    VALUES (:event_id, :shop_id, :event_type, :topic, :customer_id, CAST(:payload AS jsonb), :webhook_id,
            :occurred_at)
    ON CONFLICT (event_id) DO NOTHING
    RETURNING id
    """
)


def record_event(
    connection: Connection, event: InboundEvent, *, topic: str | None, webhook_id: str | None, payload_json: str
) -> bool:
    """Insert the event into the inbox, committed when this returns; False if this event id is already there (a
    re-delivery: nothing written). `connection` must be in autocommit mode; `payload_json` is the body Shopify sent
    (already parsed into `event.event_data`), stored as it came.

    Raises ShopNotInstalled when the shop never installed the app (installation.records_events): a webhook alone
    never creates a shop, so a delivery for one that is unknown creates nothing.
    """
    values = {
        "event_id": event.event_id,
        "event_type": event.event_type,
        "topic": topic,
        "customer_id": event.customer_id,
        "payload": payload_json,
        "webhook_id": webhook_id,
        "occurred_at": event.timestamp,
    }
    try:
        inserted = connection.execute(_INSERT_EVENT, {**values, "shop_id": _shop_id(connection, event.shop_domain)})
    except IntegrityError:
        _shop_ids.pop(event.shop_domain, None)  # the shop was deleted (shop/redact) since we cached its id
        inserted = connection.execute(_INSERT_EVENT, {**values, "shop_id": _shop_id(connection, event.shop_domain)})
    return inserted.scalar_one_or_none() is not None


def _shop_id(connection: Connection, domain: str) -> int:
    shop_id = _shop_ids.get(domain)
    if shop_id is None:
        shop = connection.execute(_SHOP, {"domain": domain}).one_or_none()
        if not records_events(shop):
            raise ShopNotInstalled(domain)
        assert shop is not None
        shop_id = _shop_ids[domain] = shop.id
    return shop_id


def shop_id_of(session: Session, domain: str) -> int | None:
    """The id of the shop row with this domain (any install state), None when there is none."""
    return session.execute(select(Shop.id).where(Shop.domain == domain)).scalar_one_or_none()


def pending_for_redrive(session: Session, *, older_than: datetime, limit: int = 500) -> list[InboundEvent]:
    """Inbox rows still pending that were received before `older_than`, oldest first."""
    return _events(
        session,
        (EventQueue.status == "pending", EventQueue.received_at < older_than),
        limit=limit,
    )


def events_by_id(session: Session, event_ids: list[uuid.UUID]) -> list[InboundEvent]:
    """The inbox's events with these ids (any status), oldest first."""
    return _events(session, (EventQueue.event_id.in_(event_ids),), limit=len(event_ids))


def _events(session: Session, where: tuple, *, limit: int) -> list[InboundEvent]:  # type: ignore[type-arg]
    rows = session.execute(
        select(EventQueue, Shop.domain)
        .join(Shop, Shop.id == EventQueue.shop_id)
        .where(*where)
        .order_by(EventQueue.received_at)
        .limit(limit)
    ).all()
    return [
        InboundEvent(
            event_id=row.event_id,
            event_type=row.event_type,
            shop_domain=domain,
            customer_id=row.customer_id,
            timestamp=row.occurred_at,
            event_data=row.payload,
        )
        for row, domain in rows
    ]


def grace_cutoff(now: datetime, seconds: int) -> datetime:
    return now - timedelta(seconds=seconds)


def record_failure(session: Session, event_id: uuid.UUID, error: str, *, dead: bool) -> None:
    """Count a failed attempt on the inbox row (and mark it dead when it went to the dead-letter stream)."""
    session.execute(
        text(
            "UPDATE event_queue SET attempts = attempts + 1, last_error = :error,"
            " status = CASE WHEN :dead THEN 'dead' ELSE status END WHERE event_id = :event_id"
        ),
        {"error": error[:2000], "dead": dead, "event_id": event_id},
    )


def publish_staged(session: Session, publish: Callable[[InboundEvent], object]) -> int:
    """After a commit: publish the app events (tier_changed, reward_redeemed, …) that transaction staged.

    If the process dies before this runs they wait in the inbox, and the consumer's re-drive publishes them.
    """
    event_ids = staged_event_ids(session)
    if not event_ids:
        return 0
    events = events_by_id(session, event_ids)
    for event in events:
        publish(event)
    return len(events)


_ARCHIVE = text(
    """
    WITH moved AS (
        DELETE FROM event_queue WHERE id IN (
            SELECT id FROM event_queue
            WHERE status = 'processed' AND received_at < :cutoff
            ORDER BY id LIMIT :limit
            FOR UPDATE SKIP LOCKED
        )
        RETURNING id, event_id, shop_id, event_type, topic, customer_id, payload, webhook_id, occurred_at,
                  received_at, status, published_at, processed_at, attempts, last_error
    )
    INSERT INTO event_queue_archive (id, event_id, shop_id, event_type, topic, customer_id, payload, webhook_id,
                                     occurred_at, received_at, status, published_at, processed_at, attempts, last_error)
    SELECT * FROM moved
    """
)


def archive_processed(session: Session, *, older_than: datetime, limit: int = 5000) -> int:
    """Move up to `limit` processed rows received before `older_than` to event_queue_archive, in the caller's
    transaction; returns how many moved. Pending and dead rows stay (re-drive and replay need them), and so does
    anything younger than Shopify's 48 hours of retries, whose re-delivery must still meet its row's event_id."""
    return session.execute(_ARCHIVE, {"cutoff": older_than, "limit": limit}).rowcount
