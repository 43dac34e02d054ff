"""app.events.consumer on real PostgreSQL and Redis: acknowledgement only after commit, retries with exponential
back-off through the pending list, dead letters after max_deliveries and their replay, and reclaiming what a crashed
consumer left behind. (tests/events/test_end_to_end.py runs the same loop behind real webhooks.)"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.events import stream
from app.events.consumer import StreamConsumer
from app.loyalty.base.inbound import InboundEvent
from app.models import CustomerLoyaltyProfile, DeadLetter, EventQueue, Order, ProcessedEvent
from tests.events.stream_helpers import (
    BASE_MS,
    MARGIN_MS,
    count,
    dead_entries,
    pending,
    set_idle,
    stream_entries,
)

REFUSED = "ProgrammingError: (psycopg.errors.RaiseException) orders refused by the test"


def inbox_row(sessions: sessionmaker[Session], event_id: uuid.UUID) -> tuple[str, int, str | None]:
    """(status, attempts, last_error) of the event's inbox row."""
    with sessions() as session:
        row = session.execute(select(EventQueue).where(EventQueue.event_id == event_id)).scalar_one()
        return row.status, row.attempts, row.last_error


def processed_ids(sessions: sessionmaker[Session]) -> set[uuid.UUID]:
    with sessions() as session:
        return set(session.execute(select(ProcessedEvent.event_id)).scalars())


def assert_nothing_written(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        assert [count(session, model) for model in (ProcessedEvent, CustomerLoyaltyProfile, Order)] == [0, 0, 0]


def count_dead_letters(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return count(session, DeadLetter)


def retry_when_due(consumer: StreamConsumer, stream_id: str) -> None:
    """Let the entry's back-off run out (as if its wait had passed), then let the consumer's housekeeping retry it."""
    _, deliveries = pending(consumer.client, consumer.keys)[stream_id]
    set_idle(consumer.client, consumer.keys, stream_id, consumer.settings.retry_base_ms * 2 ** (deliveries - 1))
    consumer.housekeeping()


def deliver_until_dead(consumer: StreamConsumer, stream_id: str) -> None:
    """A first delivery, then each retry as soon as its back-off allows, until max_deliveries."""
    consumer.run_once()
    for _ in range(consumer.settings.max_deliveries - 1):
        retry_when_due(consumer, stream_id)


@dataclass
class FailingOrder:
    consumer: StreamConsumer
    event: InboundEvent
    stream_id: str


@pytest.fixture
def failing_order(make_consumer, accept_order, refuse, redis_client) -> Callable[..., FailingOrder]:  # type: ignore[no-untyped-def]
    """failing_order(name, **settings): a consumer (back-off base BASE_MS) and an order on its stream whose processing
    fails every time: inserts into `orders` are refused, after the dedupe row and the profile were written."""

    def make(name: str = "consumer-a", **settings: Any) -> FailingOrder:
        refuse("orders")
        consumer = make_consumer(name, retry_base_ms=BASE_MS, **settings)
        event = accept_order(1)
        return FailingOrder(consumer, event, stream.publish(redis_client, consumer.keys, event))

    return make


class TestAcknowledgement:
    def test_a_committed_event_is_acknowledged(  # type: ignore[no-untyped-def]
        self, make_consumer, accept_order, redis_client, session_factory
    ) -> None:
        consumer = make_consumer()
        event = accept_order(1)
        stream.publish(redis_client, consumer.keys, event)
        assert consumer.run_once() == 1
        assert pending(redis_client, consumer.keys) == {}
        assert processed_ids(session_factory) == {event.event_id}
        assert inbox_row(session_factory, event.event_id) == ("processed", 0, None)
        assert (consumer.processed, consumer.duplicates) == (1, 0)

    def test_a_failure_inside_the_transaction_leaves_the_message_pending_and_nothing_written(  # type: ignore[no-untyped-def]
        self, failing_order, redis_client, session_factory
    ) -> None:
        failing = failing_order()
        consumer, event, stream_id = failing.consumer, failing.event, failing.stream_id
        consumer.run_once()
        assert pending(redis_client, consumer.keys) == {stream_id: (consumer.name, 1)}
        status, attempts, error = inbox_row(session_factory, event.event_id)
        assert (status, attempts) == ("pending", 1) and error.startswith(REFUSED)
        assert_nothing_written(session_factory)
        assert consumer.processed == 0

    def test_a_commit_that_fails_is_not_acknowledged_and_the_retry_goes_through(  # type: ignore[no-untyped-def]
        self, make_consumer, accept_order, refuse, redis_client, session_factory
    ) -> None:
        lift = refuse("processed_events", at_commit=True)  # every statement succeeds; COMMIT itself fails
        consumer = make_consumer(retry_base_ms=BASE_MS)
        event = accept_order(1)
        stream_id = stream.publish(redis_client, consumer.keys, event)
        consumer.run_once()
        assert pending(redis_client, consumer.keys) == {stream_id: (consumer.name, 1)}
        assert inbox_row(session_factory, event.event_id)[:2] == ("pending", 1)
        assert_nothing_written(session_factory)

        lift()
        retry_when_due(consumer, stream_id)
        assert pending(redis_client, consumer.keys) == {}
        assert processed_ids(session_factory) == {event.event_id}
        assert inbox_row(session_factory, event.event_id)[0] == "processed"

    def test_an_entry_trimmed_while_pending_is_acknowledged_and_left_to_the_inbox(  # type: ignore[no-untyped-def]
        self, make_consumer, accept_order, redis_client, session_factory
    ) -> None:
        consumer = make_consumer("worker-1")
        event = accept_order(1)
        stream_id = stream.publish(redis_client, consumer.keys, event)
        stream.read_new(redis_client, consumer.keys.partitions, "worker-1", count=1, block_ms=10)
        redis_client.xdel(consumer.keys.route(event).events, stream_id)
        [trimmed] = stream.read_own_pending(redis_client, consumer.keys.route(event), "worker-1", count=10)
        assert consumer.handle_one(trimmed) is None
        assert pending(redis_client, consumer.keys) == {}
        assert inbox_row(session_factory, event.event_id) == ("pending", 0, None)  # for re-drive to publish again
        assert_nothing_written(session_factory)


class TestBackOff:
    def test_a_failing_event_is_retried_after_base_times_two_to_the_deliveries_minus_one(  # type: ignore[no-untyped-def]
        self, failing_order, redis_client, session_factory
    ) -> None:
        failing = failing_order(max_deliveries=10)
        consumer, event, stream_id = failing.consumer, failing.event, failing.stream_id
        consumer.run_once()
        for deliveries in range(1, 6):
            wait_ms = BASE_MS * 2 ** (deliveries - 1)
            consumer.housekeeping()  # just failed: not retried at once
            set_idle(redis_client, consumer.keys, stream_id, wait_ms - MARGIN_MS)
            consumer.housekeeping()  # nor just before its wait is over
            assert pending(redis_client, consumer.keys) == {stream_id: (consumer.name, deliveries)}
            assert inbox_row(session_factory, event.event_id)[:2] == ("pending", deliveries)

            set_idle(redis_client, consumer.keys, stream_id, wait_ms)
            consumer.housekeeping()  # once it is, the pending entry is claimed and tried again
            assert pending(redis_client, consumer.keys) == {stream_id: (consumer.name, deliveries + 1)}
            assert inbox_row(session_factory, event.event_id)[:2] == ("pending", deliveries + 1)
        assert count_dead_letters(session_factory) == 0

    def test_however_often_it_was_delivered_an_event_waits_at_most_five_minutes(  # type: ignore[no-untyped-def]
        self, failing_order, redis_client
    ) -> None:
        """A refund read before its order waits (RetryLater) and is never dead-lettered for it, so its deliveries
        keep counting; past the cap its wait stops doubling."""
        failing = failing_order(max_deliveries=100)
        consumer, stream_id = failing.consumer, failing.stream_id
        consumer.run_once()
        deliveries = 12  # uncapped, BASE_MS * 2^10: 170 minutes
        set_idle(redis_client, consumer.keys, stream_id, stream.MAX_RETRY_WAIT_MS - MARGIN_MS, deliveries=deliveries)
        consumer.housekeeping()
        assert pending(redis_client, consumer.keys) == {stream_id: (consumer.name, deliveries)}

        set_idle(redis_client, consumer.keys, stream_id, stream.MAX_RETRY_WAIT_MS)
        consumer.housekeeping()
        assert pending(redis_client, consumer.keys) == {stream_id: (consumer.name, deliveries + 1)}


class TestDeadLetters:
    def test_the_delivery_that_reaches_max_deliveries_dead_letters_the_event_with_its_error(  # type: ignore[no-untyped-def]
        self, failing_order, redis_client, session_factory
    ) -> None:
        failing = failing_order(max_deliveries=3)
        consumer, event, stream_id = failing.consumer, failing.event, failing.stream_id
        [(_, fields)] = stream_entries(redis_client, consumer.keys)
        consumer.run_once()
        for deliveries in (1, 2):
            assert count_dead_letters(session_factory) == 0
            assert inbox_row(session_factory, event.event_id)[:2] == ("pending", deliveries)
            retry_when_due(consumer, stream_id)

        with session_factory() as session:
            letter = session.execute(select(DeadLetter)).scalar_one()
        assert (letter.event_id, letter.stream_id, letter.deliveries, letter.replayed_at) == (
            event.event_id,
            stream_id,
            3,
            None,
        )
        assert letter.error.startswith(REFUSED)
        assert letter.fields == fields
        [(_, dead)] = dead_entries(redis_client, consumer.keys)
        assert dead.pop("error").startswith(REFUSED)
        assert dead == {"stream_id": stream_id, "event_id": fields["event_id"], "event_type": fields["event_type"]}
        assert pending(redis_client, consumer.keys) == {}
        status, attempts, last_error = inbox_row(session_factory, event.event_id)
        assert (status, attempts) == ("dead", 3) and last_error.startswith(REFUSED)
        assert_nothing_written(session_factory)

    def test_replay_puts_the_named_dead_letter_back_and_it_is_processed_once(  # type: ignore[no-untyped-def]
        self, runner, make_consumer, make_relay, accept_order, refuse, redis_client, session_factory
    ) -> None:
        lift = refuse("orders")
        consumer = make_consumer(retry_base_ms=BASE_MS, max_deliveries=2)
        replayed, left = accept_order(1), accept_order(2)
        for event in (replayed, left):
            deliver_until_dead(consumer, stream.publish(redis_client, consumer.keys, event))
        with session_factory() as session:
            letters = dict(session.execute(select(DeadLetter.event_id, DeadLetter.id)).all())
        lift()

        result = runner.invoke(args=["events", "replay", str(letters[replayed.event_id])])
        assert (result.exit_code, result.output) == (0, "replayed 1 dead letter(s)\n")
        assert inbox_row(session_factory, replayed.event_id)[:2] == ("pending", 0)
        assert inbox_row(session_factory, left.event_id)[:2] == ("dead", 2)
        assert make_relay().turn() == 1  # the relay puts the pending row back on the stream
        assert stream_entries(redis_client, consumer.keys)[-1][1]["event_id"] == str(replayed.event_id)

        assert consumer.run_once() == 1
        again = runner.invoke(args=["events", "replay", str(letters[replayed.event_id])])
        assert again.output == "replayed 0 dead letter(s)\n"
        consumer.run_once()
        assert processed_ids(session_factory) == {replayed.event_id}
        assert (consumer.processed, consumer.duplicates) == (1, 0)
        assert inbox_row(session_factory, replayed.event_id)[0] == "processed"
        with session_factory() as session:
            assert count(session, Order) == 1
            replayed_at = dict(session.execute(select(DeadLetter.event_id, DeadLetter.replayed_at)).all())
        assert replayed_at[replayed.event_id] is not None and replayed_at[left.event_id] is None

    def test_replay_all_leaves_a_letter_with_no_readable_event_as_is(  # type: ignore[no-untyped-def]
        self, runner, make_consumer, redis_client, session_factory
    ) -> None:
        consumer = make_consumer()
        redis_client.xadd(consumer.keys.partitions[0].events, {"envelope": "{not json"})
        consumer.run_once()
        with session_factory() as session:
            letter_id = session.execute(select(DeadLetter.id)).scalar_one()
        result = runner.invoke(args=["events", "replay", "--all"])
        assert result.output.splitlines() == [
            f"dead letter {letter_id} has no readable event; left as is",
            "replayed 0 dead letter(s)",
        ]
        assert len(stream_entries(redis_client, consumer.keys)) == 1
        with session_factory() as session:
            assert session.execute(select(DeadLetter.replayed_at)).scalar_one() is None

    def test_a_dead_letter_row_names_its_shop(  # type: ignore[no-untyped-def]
        self, failing_order, session_factory, shop
    ) -> None:
        """Customer redaction scrubs dead_letters WHERE shop_id = the shop, and shop deletion cascades on shop_id: a
        row without it keeps the customer's order payload after customers/redact and shop/redact."""
        failing = failing_order(max_deliveries=1)
        deliver_until_dead(failing.consumer, failing.stream_id)
        with session_factory() as session:
            assert session.execute(select(DeadLetter.shop_id)).scalar_one() == shop.id

    def test_a_dead_letter_keeps_the_traceback_of_its_last_failure(  # type: ignore[no-untyped-def]
        self, failing_order, session_factory
    ) -> None:
        failing = failing_order(max_deliveries=1)
        deliver_until_dead(failing.consumer, failing.stream_id)
        with session_factory() as session:
            row = session.execute(select(DeadLetter.__table__)).mappings().one()
        assert any("Traceback (most recent call last)" in str(value) for value in row.values())


class TestCrashedConsumers:
    def test_a_crashed_consumers_messages_are_claimed_after_the_idle_threshold_and_processed_once(  # type: ignore[no-untyped-def]
        self, make_consumer, accept_order, redis_client, session_factory
    ) -> None:
        survivor = make_consumer("survivor", retry_base_ms=BASE_MS)
        events = [accept_order(n) for n in (1, 2, 3)]
        stream_ids = [stream.publish(redis_client, survivor.keys, event) for event in events]
        stream.read_new(
            redis_client, survivor.keys.partitions, "crashed", count=10, block_ms=10
        )  # read, then the process died

        survivor.run_once()
        for stream_id in stream_ids:
            set_idle(redis_client, survivor.keys, stream_id, BASE_MS - MARGIN_MS)
        survivor.housekeeping()
        assert pending(redis_client, survivor.keys) == {stream_id: ("crashed", 1) for stream_id in stream_ids}

        for stream_id in stream_ids:
            set_idle(redis_client, survivor.keys, stream_id, BASE_MS)
        survivor.housekeeping()
        assert pending(redis_client, survivor.keys) == {}
        survivor.run_once()
        assert processed_ids(session_factory) == {event.event_id for event in events}
        assert (survivor.processed, survivor.duplicates) == (3, 0)
        with session_factory() as session:
            assert count(session, Order) == 3
        # The crashed consumer, restarted, finds nothing of its own left to redo.
        assert stream.read_own_pending(redis_client, survivor.keys.route(events[0]), "crashed", count=10) == []

    def test_a_restarted_consumer_first_finishes_what_it_read_before_it_died(  # type: ignore[no-untyped-def]
        self, make_consumer, accept_order, redis_client, session_factory, keys
    ) -> None:
        events = [accept_order(n) for n in (1, 2)]
        stream.ensure_group(redis_client, keys)
        for event in events:
            stream.publish(redis_client, keys, event)
        stream.read_new(redis_client, keys.partitions, "worker-1", count=10, block_ms=10)  # read, then the process died

        restarted = make_consumer("worker-1", retry_base_ms=600_000)  # no claim can reach them: only run() itself
        loop = threading.Thread(target=restarted.run)
        loop.start()
        deadline = time.monotonic() + 20
        while restarted.processed < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        restarted.stop()
        loop.join(timeout=20)
        assert not loop.is_alive()
        assert processed_ids(session_factory) == {event.event_id for event in events}
        assert pending(redis_client, keys) == {}

    def test_a_consumer_restarted_after_failures_dead_letters_at_max_deliveries(  # type: ignore[no-untyped-def]
        self, failing_order, make_consumer, redis_client, session_factory
    ) -> None:
        """The restart path hands its own pending entries over with deliveries=1 (Redis counts this third delivery),
        so the failure on the last allowed delivery is not dead-lettered and the event backs off once more."""
        failing = failing_order("worker-1", max_deliveries=3)
        failing.consumer.run_once()
        retry_when_due(failing.consumer, failing.stream_id)  # two deliveries, two failures; then the process restarts
        restarted = make_consumer("worker-1", retry_base_ms=BASE_MS, max_deliveries=3)
        restarted.handle(
            stream.read_own_pending(redis_client, restarted.keys.route(failing.event), "worker-1", count=10)
        )
        assert pending(redis_client, restarted.keys) == {}
        assert count_dead_letters(session_factory) == 1
