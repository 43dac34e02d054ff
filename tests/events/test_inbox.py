"""app.events.inbox on real PostgreSQL: the inbox row committed before "200" (one INSERT on a psycopg connection),
and its failure bookkeeping. Streaming the rows is the relay's (tests/events/test_relay.py)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from sqlalchemy import delete, func, select

from app.events import inbox
from app.models import EventQueue, Shop
from tests.events.stream_helpers import order_event


def record(connection, event) -> bool:  # type: ignore[no-untyped-def]
    return inbox.record_event(
        connection, event, topic="orders/create", webhook_id="webhook-1", payload_json=json.dumps(event.event_data)
    )


class TestRecording:
    def test_an_event_is_committed_at_once_and_a_second_copy_writes_nothing(  # type: ignore[no-untyped-def]
        self, inbox_connection, shop, session_factory
    ) -> None:
        event = order_event(shop.domain, 1)
        assert record(inbox_connection, event)
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
        assert not record(inbox_connection, redelivered)
        with session_factory() as other:
            assert other.execute(select(EventQueue.payload)).scalars().all() == [event.event_data]

    def test_an_unknown_shop_records_nothing_nor_does_one_deleted_while_cached(  # type: ignore[no-untyped-def]
        self, inbox_connection, session_factory, clean_state, make_shop
    ) -> None:
        """A webhook alone never creates a shop; a shop deleted (shop/redact) while this process caches its id is
        looked up again and, being gone, records nothing instead of failing on the foreign key."""
        with pytest.raises(inbox.ShopNotInstalled):
            record(inbox_connection, order_event("never-installed.myshopify.com", 1))
        shop = make_shop("redacted.myshopify.com")
        assert record(inbox_connection, order_event(shop.domain, 1))
        with session_factory.begin() as session:
            session.execute(delete(EventQueue))
            session.execute(delete(Shop).where(Shop.id == shop.id))  # shop/redact, while this process caches its id
        with pytest.raises(inbox.ShopNotInstalled):
            record(inbox_connection, order_event(shop.domain, 2))
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
