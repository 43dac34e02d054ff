"""The PostgreSQL inbox (`event_queue`): every accepted event is committed here before anyone is told "200".

`record_event` is all that POST /webhooks does with the database: one INSERT on a pooled psycopg connection. The
stream only carries what the inbox holds, and the relay (app/events/relay.py) is what puts rows on it: the queries
here give it the rows not yet streamed, mark them streamed, and find the ones the stream has since lost.
`archive_processed` moves rows processed long ago to `event_queue_archive`, keeping the table every webhook inserts
into small; `event_history` reads both.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from app.loyalty.base.inbound import InboundEvent
from app.loyalty.base.installation import records_events
from app.models import EventQueueArchive

_SHOP = "SELECT id, installed_at, uninstalled_at FROM shops WHERE domain = %s"
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


# The same text on every call, so psycopg prepares it on each pooled connection after a few uses (prepare_threshold)
# and from then on sends only the values.
_INSERT_EVENT = """
    INSERT INTO event_queue (event_id, shop_id, event_type, topic, customer_id, payload, webhook_id, occurred_at)
    VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s, %s)
    ON CONFLICT (event_id) DO NOTHING
    RETURNING id
"""


def record_event(
    connection: psycopg.Connection, event: InboundEvent, *, topic: str | None, webhook_id: str | None, payload_json: str
) -> bool:
    """Insert the event into the inbox, committed when this returns; False if this event id is already there (a
    re-delivery: nothing written). `connection` must be in autocommit mode; `payload_json` is the body Shopify sent
    (already parsed into `event.event_data`), stored as it came. The relay puts the row on the stream.

    Raises ShopNotInstalled when the shop never installed the app (installation.records_events): a webhook alone
    never creates a shop, so a delivery for one that is unknown creates nothing.
    """

    def insert(shop_id: int) -> bool:
        values = (
            event.event_id,
            shop_id,
            event.event_type,
            topic,
            event.customer_id,
            payload_json,
            webhook_id,
            event.timestamp,
        )
        return connection.execute(_INSERT_EVENT, values).fetchone() is not None

    try:
        return insert(_shop_id(connection, event.shop_domain))
    except psycopg.errors.ForeignKeyViolation:
        _shop_ids.pop(event.shop_domain, None)  # the shop was deleted (shop/redact) since we cached its id
        return insert(_shop_id(connection, event.shop_domain))


def _shop_id(connection: psycopg.Connection, domain: str) -> int:
    shop_id = _shop_ids.get(domain)
    if shop_id is None:
        with connection.cursor(row_factory=namedtuple_row) as cursor:
            shop = cursor.execute(_SHOP, (domain,)).fetchone()
        if not records_events(shop):
            raise ShopNotInstalled(domain)
        assert shop is not None
        shop_id = _shop_ids[domain] = shop.id
    return shop_id


def shop_id_of(session: Session, domain: str) -> int | None:
    """The id of the shop row with this domain (any install state), None when there is none."""
    return session.execute(text("SELECT id FROM shops WHERE domain = :domain"), {"domain": domain}).scalar()


def unpublished(connection: Connection, *, limit: int) -> list[tuple[int, InboundEvent]]:
    """Rows still pending that are not on the stream yet, oldest id first, with their inbox ids; locked until the
    caller's transaction ends. Rows another transaction holds (a consumer marking them processed) are skipped: the
    relay never waits for a consumer, so the two cannot deadlock."""
    rows = connection.execute(
        text(
            "SELECT q.id, q.event_id, q.event_type, s.domain, q.customer_id, q.occurred_at, q.payload"
            " FROM event_queue q JOIN shops s ON s.id = q.shop_id"
            " WHERE q.status = 'pending' AND q.published_at IS NULL"
            " ORDER BY q.id LIMIT :limit FOR UPDATE OF q SKIP LOCKED"
        ),
        {"limit": limit},
    )
    return [
        (
            row.id,
            InboundEvent(
                event_id=row.event_id,
                event_type=row.event_type,
                shop_domain=row.domain,
                customer_id=row.customer_id,
                timestamp=row.occurred_at,
                event_data=row.payload,
            ),
        )
        for row in rows
    ]


def mark_published(connection: Connection, ids: list[int]) -> None:
    connection.execute(text("UPDATE event_queue SET published_at = now() WHERE id = ANY(:ids)"), {"ids": ids})


def published_and_pending(connection: Connection, *, published_before: datetime, limit: int) -> list[tuple[int, str]]:
    """(inbox id, event id) of rows put on the stream before `published_before` and still pending, oldest first."""
    rows = connection.execute(
        text(
            "SELECT id, event_id FROM event_queue WHERE status = 'pending' AND published_at < :before"
            " ORDER BY id LIMIT :limit"
        ),
        {"before": published_before, "limit": limit},
    )
    return [(row.id, str(row.event_id)) for row in rows]


def refeed(connection: Connection, ids: list[int]) -> int:
    """Hand rows back to the relay: it streams them again (a duplicate on the stream is absorbed by the dedupe row).
    Only rows still pending; returns how many."""
    return connection.execute(
        text("UPDATE event_queue SET published_at = NULL WHERE id = ANY(:ids) AND status = 'pending'"), {"ids": ids}
    ).rowcount


def refeed_older_than(session: Session, *, received_before: datetime) -> int:
    """Hand every pending row received before `received_before` back to the relay (`loyalty events redrive`)."""
    return session.execute(
        text(
            "UPDATE event_queue SET published_at = NULL"
            " WHERE status = 'pending' AND received_at < :before AND published_at IS NOT NULL"
        ),
        {"before": received_before},
    ).rowcount


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


# Every column, named from the archive's model, so the two tables cannot drift apart here (app.models.InboxColumns).
_ARCHIVED_COLUMNS = ", ".join(column.name for column in EventQueueArchive.__table__.columns)
_ARCHIVE = text(
    f"""
    WITH moved AS (
        DELETE FROM event_queue WHERE id IN (
            SELECT id FROM event_queue
            WHERE status = 'processed' AND received_at < :cutoff
            ORDER BY id LIMIT :limit
            FOR UPDATE SKIP LOCKED
        )
        RETURNING {_ARCHIVED_COLUMNS}
    ), archived AS (
        INSERT INTO event_queue_archive ({_ARCHIVED_COLUMNS})
        SELECT {_ARCHIVED_COLUMNS} FROM moved
        ON CONFLICT (event_id) DO NOTHING
    )
    SELECT count(*) FROM moved
    """
)


def archive_processed(session: Session, *, older_than: datetime, limit: int = 5000) -> int:
    """Move up to `limit` processed rows received before `older_than` to event_queue_archive, in the caller's
    transaction; returns how many left event_queue. Pending and dead rows stay (re-drive and replay need them). The
    caller picks `older_than`: archive_inbox takes LOYALTY_INBOX_ARCHIVE_AFTER_DAYS (30 by default, at least 3, so
    rows outlast Shopify's 48 hours of retries, whose re-deliveries must still meet their row's event_id).

    An event id can come back once its row has left event_queue (a late re-delivery, a replay): its new row is
    deleted like any other, and the archive keeps the row it already has (ON CONFLICT DO NOTHING), so one repeat
    cannot make every later run fail on the unique event_id.
    """
    return session.execute(_ARCHIVE, {"cutoff": older_than, "limit": limit}).scalar_one()
