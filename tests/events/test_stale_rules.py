"""Rule versions stored while a bound of the rule language was looser (or by an older release, before the bounds),
met by orders on the stream: the consumer, the relay's inbox and the real processing path."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timezone
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.events import inbox, stream
from app.loyalty import rulebook
from app.loyalty.base.inbound import InboundEvent
from app.models import DeadLetter, EventQueue, PointsTransaction
from tests.events.stream_helpers import count, dead_entries
from tests.helpers import order_payload
from tests.loyalty.rulebook_helpers import CANNOT_RUN, RUNS_AS_SAVED, store_old_version

GOOD = {"name": "Ten per order", "actions": [{"type": "points", "amount": 10}]}


def earned(sessions: sessionmaker[Session]) -> list[tuple[str, int]]:
    """(reason, points) of every ledger entry."""
    with sessions() as session:
        rows = session.execute(select(PointsTransaction.reason, PointsTransaction.points)).all()
    return sorted((reason, points) for reason, points in rows)


@pytest.fixture
def accept(inbox_connection, shop):  # type: ignore[no-untyped-def]
    """accept(order_id, **order fields): an orders/create event of `shop` committed to the inbox as the webhook does."""

    def accept_order(order_id: int, **fields: Any) -> InboundEvent:
        event = InboundEvent(
            event_id=uuid.uuid4(),
            event_type="order_created",
            shop_domain=shop.domain,
            customer_id="1001",
            timestamp=datetime(2026, 3, 2, 15, 29, tzinfo=timezone.utc),
            event_data=order_payload(order_id, customer_id=1001, **fields),
        )
        payload = json.dumps(event.event_data)
        assert inbox.record_event(inbox_connection, event, topic="orders/create", webhook_id=None, payload_json=payload)
        return event

    return accept_order


# Without a discount code an order takes the set-based path (order_batches); with one, the one-by-one path.
PATHS = {"set-based": {}, "one by one": {"discount_codes": [{"code": "WELCOME", "amount": "5.00", "type": "fixed"}]}}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("bound", CANNOT_RUN)
def test_a_version_that_cannot_run_is_left_out_and_the_shops_other_rules_still_earn(  # type: ignore[no-untyped-def]
    db_session, shop, make_consumer, accept, redis_client, session_factory, now, caplog, bound, path
) -> None:
    rulebook.save_rule(db_session, shop_id=shop.id, definition=GOOD, actor="admin@shop", now=now)
    db_session.commit()
    store_old_version(db_session, shop, CANNOT_RUN[bound])
    consumer = make_consumer()
    caplog.set_level(logging.WARNING, logger="app.loyalty.rulebook.store")
    for order_id in (1, 2):
        stream.publish(redis_client, consumer.keys, accept(order_id, **PATHS[path]))
        consumer.run_once()
    assert earned(session_factory) == [("Ten per order", 10), ("Ten per order", 10)]
    assert dead_entries(redis_client, consumer.keys) == []
    with session_factory() as session:
        assert count(session, DeadLetter) == 0
        assert set(session.execute(select(EventQueue.status)).scalars()) == {"processed"}
    [logged] = [record.getMessage() for record in caplog.records]  # once, not once per event
    assert logged.startswith(f"rule {CANNOT_RUN[bound]['name']!r} (id ")
    assert "must be at most" in logged and "the shop's other rules are" in logged


# What an order of 150.00 earns beside GOOD, with each version of RUNS_AS_SAVED.
AS_SAVED = {
    "amount": [("Big bonus", 5_000_000_000), ("Ten per order", 10)],
    "rate": [("Big rate", 7_500_000), ("Ten per order", 10)],
    "factor": [("Ten per order", 2_000)],
    "per_customer": [("Often", 3), ("Ten per order", 10)],
}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("bound", RUNS_AS_SAVED)
def test_a_version_past_a_bound_that_only_refuses_new_input_runs_as_saved(  # type: ignore[no-untyped-def]
    db_session, shop, make_consumer, accept, redis_client, session_factory, now, caplog, bound, path
) -> None:
    rulebook.save_rule(db_session, shop_id=shop.id, definition=GOOD, actor="admin@shop", now=now)
    db_session.commit()
    store_old_version(db_session, shop, RUNS_AS_SAVED[bound])
    consumer = make_consumer()
    caplog.set_level(logging.WARNING, logger="app.loyalty.rulebook.store")
    stream.publish(redis_client, consumer.keys, accept(1, **PATHS[path]))
    consumer.run_once()
    assert earned(session_factory) == AS_SAVED[bound]
    assert dead_entries(redis_client, consumer.keys) == []
    assert caplog.records == []
