"""Set-based batches in the consumer: one transaction and one XACK per batch, each event still all-or-nothing.

A batch that fails is split until the failing event stands alone: its batch-mates commit, and it alone retries or
dead-letters. Events of one customer inside a batch apply in stream order, each against what the earlier ones wrote.
"""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from app.commands.demo import FIRST_ORDER_BONUS
from app.events import stream
from app.loyalty import rulebook
from app.models import DeadLetter, EventQueue, Order, PointsTransaction, ProcessedEvent, TierDefinition
from tests.events.stream_helpers import BASE_MS, dead_entries, pending, stream_entries

TIER_BONUS = {"name": "Tier bonus", "event_types": ["tier_changed"], "actions": [{"type": "points", "amount": 50}]}


def test_a_poisoned_event_dead_letters_alone_and_its_batch_mates_commit(  # type: ignore[no-untyped-def]
    make_consumer, accept_order, refuse, redis_client, session_factory
) -> None:
    refuse("orders", when="NEW.order_id = '3'")
    consumer = make_consumer(retry_base_ms=BASE_MS, max_deliveries=1, batch_size=50)
    events = [accept_order(n, customer_id=2000 + n) for n in range(1, 6)]
    stream_ids = [stream.publish(redis_client, consumer.keys, event) for event in events]

    assert consumer.run_once() == 5

    assert (consumer.processed, consumer.duplicates) == (4, 0)
    assert pending(redis_client, consumer.keys) == {}
    with session_factory() as session:
        assert sorted(session.execute(select(Order.order_id)).scalars()) == ["1", "2", "4", "5"]
        assert set(session.execute(select(ProcessedEvent.event_id)).scalars()) == {
            event.event_id for n, event in enumerate(events, 1) if n != 3
        }
        letter = session.execute(select(DeadLetter)).scalar_one()
    assert (letter.event_id, letter.stream_id) == (events[2].event_id, stream_ids[2])
    assert "orders refused by the test" in letter.error
    assert [fields["event_id"] for _, fields in dead_entries(redis_client, consumer.keys)] == [str(events[2].event_id)]


def test_a_failing_event_retries_alone_while_its_batch_mates_are_acknowledged(  # type: ignore[no-untyped-def]
    make_consumer, accept_order, refuse, redis_client, session_factory
) -> None:
    lift = refuse("orders", when="NEW.order_id = '2'")
    consumer = make_consumer(retry_base_ms=BASE_MS, max_deliveries=5)
    events = [accept_order(n, customer_id=3000 + n) for n in range(1, 4)]
    stream_ids = [stream.publish(redis_client, consumer.keys, event) for event in events]

    consumer.run_once()
    assert pending(redis_client, consumer.keys) == {stream_ids[1]: (consumer.name, 1)}

    lift()
    consumer.handle(stream.read_own_pending(redis_client, consumer.keys.route(events[1]), consumer.name, count=10))
    assert pending(redis_client, consumer.keys) == {}
    assert consumer.processed == 3
    with session_factory() as session:
        assert session.execute(select(func.count()).select_from(DeadLetter)).scalar_one() == 0
        assert sorted(session.execute(select(Order.order_id)).scalars()) == ["1", "2", "3"]


def test_two_first_orders_of_one_customer_in_one_batch_earn_one_bonus_for_the_earlier(  # type: ignore[no-untyped-def]
    make_consumer, accept_order, redis_client, db_session: Session, shop, now
) -> None:
    rulebook.save_rule(db_session, shop_id=shop.id, definition=FIRST_ORDER_BONUS, actor="admin@shop", now=now)
    db_session.commit()
    consumer = make_consumer(batch_size=50)
    # order_payload's default total (150.00) qualifies for the bonus; both orders are this customer's.
    events = [accept_order(order_id, customer_id=4242) for order_id in (7002, 7001)]
    for event in events:
        stream.publish(redis_client, consumer.keys, event)

    assert consumer.run_once() == 2

    bonuses = db_session.execute(
        select(PointsTransaction.source_id, PointsTransaction.points).where(PointsTransaction.rule_id.is_not(None))
    ).all()
    assert [tuple(row) for row in bonuses] == [("7002", 500)]


def test_the_same_event_twice_in_one_read_is_applied_once_and_both_entries_acknowledged(  # type: ignore[no-untyped-def]
    make_consumer, accept_order, redis_client, session_factory
) -> None:
    consumer = make_consumer()
    event = accept_order(1)
    stream.publish(redis_client, consumer.keys, event)
    stream.publish(redis_client, consumer.keys, event)

    assert consumer.run_once() == 2

    assert pending(redis_client, consumer.keys) == {}
    assert (consumer.processed, consumer.duplicates) == (1, 0)
    with session_factory() as session:
        assert session.execute(select(func.count()).select_from(Order)).scalar_one() == 1


def _bronze_for_everyone(db_session: Session, shop) -> None:  # type: ignore[no-untyped-def]
    db_session.add(TierDefinition(shop_id=shop.id, name="Bronze", level=1, threshold=Decimal(0)))
    db_session.commit()


def test_an_app_event_no_rule_listens_to_is_settled_in_the_batch_and_never_streamed(  # type: ignore[no-untyped-def]
    make_consumer, accept_order, redis_client, db_session: Session, shop
) -> None:
    _bronze_for_everyone(db_session, shop)
    consumer = make_consumer()
    stream.publish(redis_client, consumer.keys, accept_order(1))

    consumer.run_once()

    assert [fields["event_type"] for _, fields in stream_entries(redis_client, consumer.keys)] == ["order_created"]
    statuses = db_session.execute(select(EventQueue.event_type, EventQueue.status).order_by(EventQueue.id)).all()
    assert [tuple(row) for row in statuses] == [("order_created", "processed"), ("tier_changed", "processed")]


def test_an_app_event_a_rule_listens_to_goes_through_the_stream_and_earns(  # type: ignore[no-untyped-def]
    make_consumer, make_relay, accept_order, redis_client, db_session: Session, shop, now
) -> None:
    _bronze_for_everyone(db_session, shop)
    rulebook.save_rule(db_session, shop_id=shop.id, definition=TIER_BONUS, actor="admin@shop", now=now)
    db_session.commit()
    consumer = make_consumer()
    accept_order(1)
    relay = make_relay()

    relay.turn()
    consumer.run_once()
    relay.turn()  # the tier_changed that the order's batch committed
    consumer.run_once()

    assert [fields["event_type"] for _, fields in stream_entries(redis_client, consumer.keys)] == [
        "order_created",
        "tier_changed",
    ]
    assert db_session.execute(select(PointsTransaction.points)).scalars().all() == [50]
    assert consumer.processed == 2


def test_an_unheard_app_event_is_written_processed_and_a_heard_one_pending(  # type: ignore[no-untyped-def]
    make_consumer, accept_order, redis_client, db_session: Session, shop, now
) -> None:
    """The batch decides when it writes the inbox row: an app event no rule listens to is inserted processed (no
    second row version: no UPDATE of event_queue names it), and once a rule listens, the next one is left pending
    for the stream."""
    _bronze_for_everyone(db_session, shop)
    consumer = make_consumer()
    updates: list[str] = []

    def capture(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().startswith("UPDATE event_queue"):
            updates.append(f"{statement} {parameters}")

    sqlalchemy.event.listen(Engine, "before_cursor_execute", capture)
    try:
        stream.publish(redis_client, consumer.keys, accept_order(1, customer_id=5001))
        consumer.run_once()  # no rule listens: its tier_changed is written processed
        rulebook.save_rule(db_session, shop_id=shop.id, definition=TIER_BONUS, actor="admin@shop", now=now)
        db_session.commit()
        stream.publish(redis_client, consumer.keys, accept_order(2, customer_id=5002))
        consumer.run_once()  # a rule listens: its tier_changed waits for the stream
    finally:
        sqlalchemy.event.remove(Engine, "before_cursor_execute", capture)

    tier_events = db_session.execute(
        select(EventQueue.customer_id, EventQueue.status, EventQueue.processed_at, EventQueue.event_id)
        .where(EventQueue.event_type == "tier_changed")
        .order_by(EventQueue.customer_id)
    ).all()
    assert [(row.customer_id, row.status) for row in tier_events] == [("5001", "processed"), ("5002", "pending")]
    assert tier_events[0].processed_at is not None and tier_events[1].processed_at is None
    assert updates, "the batches mark their own inbox rows processed with an UPDATE"
    assert not [update for update in updates if str(tier_events[0].event_id) in update], updates
