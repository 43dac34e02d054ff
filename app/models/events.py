"""The event inbox (source of truth for every accepted webhook), stream dedupe, the outbox and dead letters."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, created_at_column

# The predicate of ix_event_queue_queued_orders, which lifecycle._wait_for_order's query spells with this text
# (tests/events/test_queued_orders_index.py fails when it, ORDER_EVENT_TYPES or the migration drift apart).
WAITING_ORDERS = (
    "status IN ('pending', 'dead')"
    " AND event_type IN ('order_created', 'order_paid', 'order_fulfilled', 'order_updated')"
)


class InboxColumns:
    """The columns event_queue and event_queue_archive share as they are; each table adds the four whose defaults
    differ (the archive takes ids, arrival times, statuses and attempts from the rows it is given)."""

    event_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(String(64))
    topic: Mapped[str | None] = mapped_column(String(64))
    customer_id: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    webhook_id: Mapped[str | None] = mapped_column(String(128))
    occurred_at: Mapped[datetime]
    published_at: Mapped[datetime | None]
    processed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class EventQueue(InboxColumns, Base):
    """One accepted event. A webhook is answered 200 only once its row is committed here; the relay
    (app/events/relay.py) puts it on the Redis stream and sets `published_at`, and re-feeds rows still `pending` long
    after (Redis may lose its last second of writes)."""

    __tablename__ = "event_queue"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'processed', 'dead')", name="status"),
        Index(None, "status", "received_at", postgresql_where=text("status = 'pending'")),
        # The relay's work list (app/events/relay.py): only rows not yet on the stream, so it stays tiny.
        Index("ix_event_queue_unpublished", "id", postgresql_where=text("status = 'pending' AND published_at IS NULL")),
        # A refund or cancellation asks whether its order's event is still queued (lifecycle._wait_for_order): one
        # index probe, where a scan read every queued order's payload; only unprocessed order events are in it.
        Index(
            "ix_event_queue_queued_orders",
            "shop_id",
            text("(payload ->> 'id')"),
            postgresql_where=text(WAITING_ORDERS),
        ),
        Index(None, "shop_id", "customer_id", "event_type", "occurred_at"),
        Index(None, "shop_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = created_at_column()
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")


class EventQueueArchive(InboxColumns, Base):
    """Inbox rows processed long ago (app.events.inbox.archive_processed moves them here), so the hot table stays
    the size of a few weeks. The `event_history` view (migration 0013) reads both tables: backtests and history
    queries use it. Same columns as EventQueue (InboxColumns); the ids are kept."""

    __tablename__ = "event_queue_archive"
    __table_args__ = (
        Index(None, "shop_id", "customer_id", "event_type", "occurred_at"),
        Index(None, "shop_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    received_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)


# Read-only: the view over event_queue and event_queue_archive (not in Base.metadata, which holds tables only).
event_history = Table(
    "event_history",
    MetaData(),
    *(Column(column.name, column.type) for column in EventQueue.__table__.columns),
)


class ProcessedEvent(Base):
    """Dedupe row written in the same transaction as the event's effects: a re-delivery finds it and does nothing."""

    __tablename__ = "processed_events"

    consumer_group: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    outcome: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    processed_at: Mapped[datetime] = created_at_column()


class Outbox(Base):
    """Outward work (Shopify Admin API calls, outbound webhooks) staged in the transaction that caused it."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("shop_id", "dedupe_key"),
        CheckConstraint("status IN ('pending', 'done', 'failed')", name="status"),
        Index(None, "status", "next_attempt_at", postgresql_where=text("status = 'pending'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(64))
    dedupe_key: Mapped[str] = mapped_column(String(255))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[datetime] = created_at_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
    done_at: Mapped[datetime | None]


class DeadLetter(Base):
    """A stream message that kept failing, kept with its error so it can be inspected and replayed."""

    __tablename__ = "dead_letters"
    __table_args__ = (Index(None, "shop_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    event_id: Mapped[uuid.UUID | None]
    stream_id: Mapped[str | None] = mapped_column(String(64))
    deliveries: Mapped[int] = mapped_column(Integer, server_default="0")
    error: Mapped[str] = mapped_column(Text)
    fields: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = created_at_column()
    replayed_at: Mapped[datetime | None]
