"""app.events.inbox on real PostgreSQL and Redis: the inbox row committed before "200", its failure bookkeeping, and
re-driving the stream from rows it lost (never those still in flight)."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.events import inbox, stream
from app.models import EventQueue, ProcessedEvent, Shop
from tests.events.stream_helpers import order_event, stream_entries


def received(sessions: sessionmaker[Session], event_id: uuid.UUID, seconds_ago: int, status: str = "pending") -> None:
    """Set when the inbox row arrived (and its status), as if it had waited that long."""
    with sessions.begin() as session:
        session.execute(
            update(EventQueue)
            .where(EventQueue.event_id == event_id)
            .values(received_at=datetime.now(timezone.utc) - timedelta(seconds=seconds_ago), status=status)
        )


def published_event_ids(client, keys: stream.StreamKeys) -> list[str]:  # type: ignore[no-untyped-def]
    return [fields["event_id"] for _, fields in stream_entries(client, keys)]


def record(engine, event) -> bool:  # type: ignore[no-untyped-def]
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        return inbox.record_event(
            connection, event, topic="orders/create", webhook_id="webhook-1", payload_json=json.dumps(event.event_data)
        )


class TestRecording:
    def test_an_event_is_committed_at_once_and_a_second_copy_writes_nothing(  # type: ignore[no-untyped-def]
        self, engine, shop, session_factory
    ) -> None:
        event = order_event(shop.domain, 1)
        assert record(engine, event)
        with session_factory() as other:  # another connection sees it: committed before the webhook answers
            row = other.execute(select(EventQueue)).scalar_one()
        assert (row.event_id, row.shop_id, row.event_type, row.topic, row.customer_id, row.webhook_id) == (
            event.event_id,
            shop.id,
            "order_created",
            "orders/create",
            "1001",
            "webhook-1",
        )
        assert (row.payload, row.occurred_at, row.status, row.attempts) == (
            event.event_data,
            event.timestamp,
            "pending",
            0,
        )

        redelivered = replace(order_event(shop.domain, 2), event_id=event.event_id)
        assert not record(engine, redelivered)
        with session_factory() as other:
            assert other.execute(select(EventQueue.payload)).scalars().all() == [event.event_data]

    def test_an_unknown_shop_records_nothing_nor_does_one_deleted_while_cached(  # type: ignore[no-untyped-def]
        self, engine, session_factory, clean_state, make_shop
    ) -> None:
        """A webhook alone never creates a shop; a shop deleted (shop/redact) while this process caches its id is
        looked up again and, being gone, records nothing instead of failing on the foreign key."""
        with pytest.raises(inbox.ShopNotInstalled):
            record(engine, order_event("never-installed.myshopify.com", 1))
        shop = make_shop("redacted.myshopify.com")
        assert record(engine, order_event(shop.domain, 1))
        with session_factory.begin() as session:
            session.execute(delete(EventQueue))
            session.execute(delete(Shop).where(Shop.id == shop.id))  # shop/redact, while this process caches its id
        with pytest.raises(inbox.ShopNotInstalled):
            record(engine, order_event(shop.domain, 2))
        with session_factory() as session:
            assert session.execute(select(func.count()).select_from(EventQueue)).scalar_one() == 0
            assert session.execute(select(func.count()).select_from(Shop)).scalar_one() == 0

    def test_failures_count_attempts_keep_the_last_error_and_mark_the_dead(  # type: ignore[no-untyped-def]
        self, accept_order, session_factory
    ) -> None:
        event, other = accept_order(1), accept_order(2)
        with session_factory.begin() as session:
            inbox.record_failure(session, event.event_id, "first failure", dead=False)
        with session_factory() as session:
            row = session.execute(select(EventQueue).where(EventQueue.event_id == event.event_id)).scalar_one()
            assert (row.status, row.attempts, row.last_error) == ("pending", 1, "first failure")
        with session_factory.begin() as session:
            inbox.record_failure(session, event.event_id, "x" * 3000, dead=True)
        with session_factory() as session:
            rows = {row.event_id: row for row in session.execute(select(EventQueue)).scalars()}
        assert (rows[event.event_id].status, rows[event.event_id].attempts) == ("dead", 2)
        assert rows[event.event_id].last_error == "x" * 2000
        assert (rows[other.event_id].status, rows[other.event_id].attempts) == ("pending", 0)


class TestRedrive:
    def test_pending_rows_older_than_the_cutoff_come_back_oldest_first(  # type: ignore[no-untyped-def]
        self, accept_order, session_factory
    ) -> None:
        older, old, young, processed, dead = (accept_order(n) for n in range(5))
        received(session_factory, older.event_id, 300)
        received(session_factory, old.event_id, 200)
        received(session_factory, young.event_id, 30)
        received(session_factory, processed.event_id, 400, "processed")
        received(session_factory, dead.event_id, 400, "dead")
        cutoff = inbox.grace_cutoff(datetime.now(timezone.utc), 60)
        with session_factory() as session:
            assert inbox.pending_for_redrive(session, older_than=cutoff) == [older, old]
            assert inbox.pending_for_redrive(session, older_than=cutoff, limit=1) == [older]

    def test_the_consumer_re_feeds_rows_the_stream_lost_but_not_those_in_flight(  # type: ignore[no-untyped-def]
        self, make_consumer, accept_order, redis_client, session_factory
    ) -> None:
        consumer = make_consumer(redrive_after_s=60)
        lost, in_flight, young, processed = (accept_order(n) for n in range(4))
        stream.publish(redis_client, consumer.keys, in_flight)
        stream.read_new(
            redis_client, consumer.keys.partitions, "busy", count=10, block_ms=10
        )  # delivered, not yet acknowledged
        for event in (lost, in_flight):
            received(session_factory, event.event_id, 120)
        received(session_factory, young.event_id, 30)
        received(session_factory, processed.event_id, 120, "processed")

        assert consumer.redrive() == 1
        assert published_event_ids(redis_client, consumer.keys) == [str(in_flight.event_id), str(lost.event_id)]
        assert consumer.run_once() == 1
        with session_factory() as session:
            assert session.execute(select(ProcessedEvent.event_id)).scalars().all() == [lost.event_id]
        assert consumer.redrive() == 0

    def test_the_consumer_re_feeds_nothing_while_the_group_is_behind(  # type: ignore[no-untyped-def]
        self, make_consumer, accept_order, redis_client, session_factory
    ) -> None:
        consumer = make_consumer(redrive_after_s=60)
        lost, queued = accept_order(1), accept_order(2)
        stream.publish(redis_client, consumer.keys, queued)  # on the stream, not yet read by anyone
        for event in (lost, queued):
            received(session_factory, event.event_id, 120)
        assert consumer.redrive() == 0
        assert published_event_ids(redis_client, consumer.keys) == [str(queued.event_id)]

        stream.read_new(redis_client, consumer.keys.partitions, "busy", count=10, block_ms=10)
        assert consumer.redrive() == 1
        assert published_event_ids(redis_client, consumer.keys) == [str(queued.event_id), str(lost.event_id)]

    def test_the_redrive_command_publishes_pending_rows_older_than_asked(  # type: ignore[no-untyped-def]
        self, runner, accept_order, redis_client, session_factory, keys
    ) -> None:
        old, young = accept_order(1), accept_order(2)
        received(session_factory, old.event_id, 120)
        received(session_factory, young.event_id, 30)
        result = runner.invoke(args=["events", "redrive", "--older-than", "60"])
        assert (result.exit_code, result.output) == (0, "re-published 1 event(s)\n")
        assert published_event_ids(redis_client, keys) == [str(old.event_id)]
