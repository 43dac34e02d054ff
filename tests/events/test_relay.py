"""app.events.relay on real PostgreSQL and Redis: every committed inbox row goes on the stream, once per turn, in id
order, by one relay at a time; after a crash (a SIGKILLed relay process) or a Redis outage the rows go out again; rows
the stream lost are handed back, never those still in flight."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis
import sqlalchemy
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from app.events import stream
from app.events.relay import RELAY_LOCK, Relay, RelaySettings
from app.models import EventQueue, ProcessedEvent
from app.paths import PROJECT_ROOT
from tests.events.stream_helpers import order_event, pending, stream_entries
from tests.redis_proxy import StallingRedisProxy

BIN = Path(sys.executable).parent


def streamed_ids(client: redis.Redis, keys: stream.StreamKeys) -> list[str]:
    return [fields["event_id"] for _, fields in stream_entries(client, keys)]


def published_at(sessions: sessionmaker[Session], event_id: uuid.UUID) -> datetime | None:
    with sessions() as session:
        return session.execute(select(EventQueue.published_at).where(EventQueue.event_id == event_id)).scalar_one()


def streamed_long_ago(
    sessions: sessionmaker[Session], event_id: uuid.UUID, seconds: int, status: str = "pending"
) -> None:
    """As if the relay had streamed the row `seconds` ago (and it had reached `status` since)."""
    with sessions.begin() as session:
        session.execute(
            update(EventQueue)
            .where(EventQueue.event_id == event_id)
            .values(published_at=datetime.now(timezone.utc) - timedelta(seconds=seconds), status=status)
        )


def relay_until_streamed(relay, expected: int) -> None:  # type: ignore[no-untyped-def]
    """Turn the relay until it has streamed `expected` rows: a killed relay's database session may hold its lock and
    rows for a moment after the kill, until PostgreSQL notices the dropped connection."""
    deadline = time.monotonic() + 30
    while relay.published < expected:
        assert time.monotonic() < deadline, f"streamed {relay.published} of {expected}"
        if not relay.turn():  # None: the killed relay's session still holds the lock; 0: still its rows
            time.sleep(0.05)


class TestStreaming:
    def test_rows_go_on_the_stream_in_id_order_and_only_once(  # type: ignore[no-untyped-def]
        self, make_relay, accept_order, redis_client, keys, session_factory
    ) -> None:
        events = [accept_order(n) for n in range(3)]
        relay = make_relay()
        assert relay.turn() == 3
        assert streamed_ids(redis_client, keys) == [str(e.event_id) for e in events]
        [(_id, fields)] = stream_entries(redis_client, keys)[:1]
        assert json.loads(fields["envelope"])["event_data"] == events[0].event_data
        assert all(published_at(session_factory, e.event_id) is not None for e in events)
        assert relay.turn() == 0
        assert len(streamed_ids(redis_client, keys)) == 3

    def test_a_row_that_commits_after_a_higher_id_is_still_streamed(  # type: ignore[no-untyped-def]
        self, make_relay, accept_order, redis_client, keys, shop, engine
    ) -> None:
        """Ids are taken at insert, rows become visible at commit: a position kept as "the highest id streamed"
        would skip the slower transaction's row for good."""
        slow = order_event(shop.domain, 1)
        with engine.connect() as open_transaction:
            open_transaction.execute(
                text(
                    "INSERT INTO event_queue (event_id, shop_id, event_type, payload, occurred_at)"
                    " VALUES (:id, :shop, 'order_created', CAST(:payload AS jsonb), now())"
                ),
                {"id": slow.event_id, "shop": shop.id, "payload": json.dumps(slow.event_data)},
            )
            fast = accept_order(2)  # a higher id, committed first
            relay = make_relay()
            assert relay.turn() == 1
            assert streamed_ids(redis_client, keys) == [str(fast.event_id)]
            open_transaction.commit()
        assert relay.turn() == 1
        assert sorted(streamed_ids(redis_client, keys)) == sorted([str(fast.event_id), str(slow.event_id)])

    def test_one_relay_at_a_time(self, make_relay, accept_order, redis_client, keys, engine) -> None:  # type: ignore[no-untyped-def]
        event = accept_order(1)
        with engine.connect() as other_relay:
            assert other_relay.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": RELAY_LOCK}).scalar()
            assert make_relay().turn() is None  # the other one is at work: this one leaves the rows to it
            assert streamed_ids(redis_client, keys) == []
            other_relay.rollback()
        assert make_relay().turn() == 1
        assert streamed_ids(redis_client, keys) == [str(event.event_id)]

    def test_app_events_a_unit_of_work_commits_are_streamed_and_rolled_back_ones_never(  # type: ignore[no-untyped-def]
        self, make_relay, redis_client, keys, session_factory, shop, now
    ) -> None:
        from app.events.unit_of_work import unit_of_work
        from app.loyalty.base.app_events import record_app_event

        def stage(session: Session, customer_id: str) -> uuid.UUID | None:
            return record_app_event(
                session,
                shop_id=shop.id,
                event_type="tier_changed",
                key=f"tier:{customer_id}:1",
                customer_id=customer_id,
                subject=("profile", customer_id),
                data={"to_tier": {"name": "Silver"}},
                now=now,
            )

        with session_factory() as session:
            with pytest.raises(RuntimeError), unit_of_work(session):
                stage(session, "1001")
                raise RuntimeError("rule evaluation failed")
            with unit_of_work(session):
                kept = stage(session, "1002")
        assert streamed_ids(redis_client, keys) == []  # committing talks to no Redis
        assert make_relay().turn() == 1
        [(_id, fields)] = stream_entries(redis_client, keys)
        envelope = json.loads(fields["envelope"])
        assert (envelope["event_id"], envelope["event_type"], envelope["customer_id"], envelope["event_data"]) == (
            str(kept),
            "tier_changed",
            "1002",
            {"to_tier": {"name": "Silver"}},
        )


class TestFailures:
    def test_redis_down_leaves_the_rows_for_the_next_turn(  # type: ignore[no-untyped-def]
        self, make_relay, accept_order, redis_client, keys, session_factory
    ) -> None:
        event = accept_order(1)
        unreachable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
        with pytest.raises(redis.ConnectionError):
            make_relay(unreachable).turn()
        assert published_at(session_factory, event.event_id) is None
        relay = make_relay()
        assert relay.turn() == 1
        assert streamed_ids(redis_client, keys) == [str(event.event_id)]

    @pytest.mark.processes
    @pytest.mark.parametrize(
        ("stall", "on_the_stream_before"),
        [("request", 0), ("reply", 1)],
        ids=["killed-before-its-xadd-reached-redis", "killed-between-xadd-and-commit"],
    )
    def test_a_relay_process_killed_mid_batch_leaves_its_rows_to_the_next(  # type: ignore[no-untyped-def]
        self,
        stall,
        on_the_stream_before,
        make_relay,
        make_consumer,
        accept_order,
        redis_client,
        keys,
        session_factory,
        database_url,
        redis_url,
        redis_namespace,
        tmp_path,
    ) -> None:
        event = accept_order(1)
        env = {
            **os.environ,
            "APP_ENV": "development",
            "DATABASE_URL": database_url,
            "LOYALTY_REDIS_NAMESPACE": redis_namespace,
            "SHOPIFY_API_KEY": "relay-test-key",
            "SHOPIFY_API_SECRET": "relay-test-secret",
        }
        with StallingRedisProxy(redis_url, stall=stall) as proxy, open(tmp_path / "relay.log", "wb") as log:
            relay_process = subprocess.Popen(
                [str(BIN / "flask"), "--app", "app", "events", "relay"],
                cwd=PROJECT_ROOT,
                env={**env, "REDIS_URL": proxy.url},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                assert proxy.stalled.wait(90), (tmp_path / "relay.log").read_text()
            finally:
                relay_process.kill()
                relay_process.wait(timeout=30)
        assert len(streamed_ids(redis_client, keys)) == on_the_stream_before
        relay = make_relay()
        relay_until_streamed(relay, 1)
        assert published_at(session_factory, event.event_id) is not None
        assert streamed_ids(redis_client, keys) == [str(event.event_id)] * (on_the_stream_before + 1)

        consumer = make_consumer()
        while consumer.run_once():
            pass
        assert consumer.processed == 1 and pending(redis_client, keys) == {}  # every copy acknowledged, applied once
        with session_factory() as session:
            assert session.execute(select(ProcessedEvent.event_id)).scalars().all() == [event.event_id]


class TestRefeeding:
    def test_rows_the_stream_lost_are_handed_back_but_not_those_in_flight(  # type: ignore[no-untyped-def]
        self, make_relay, make_consumer, accept_order, redis_client, session_factory
    ) -> None:
        consumer = make_consumer()
        relay = make_relay(refeed_after_s=60, refeed_every_s=0)
        lost, in_flight, young, processed = (accept_order(n) for n in range(4))
        stream.publish(redis_client, consumer.keys, in_flight)
        stream.read_new(
            redis_client, consumer.keys.partitions, "busy", count=10, block_ms=10
        )  # delivered, not yet acknowledged
        for event in (lost, in_flight):
            streamed_long_ago(session_factory, event.event_id, 120)
        streamed_long_ago(session_factory, young.event_id, 30)
        streamed_long_ago(session_factory, processed.event_id, 120, "processed")

        assert relay.turn() == 1  # hands `lost` back and streams it in the same turn
        assert streamed_ids(redis_client, consumer.keys) == [str(in_flight.event_id), str(lost.event_id)]
        assert consumer.run_once() == 1
        with session_factory() as session:
            assert session.execute(select(ProcessedEvent.event_id)).scalars().all() == [lost.event_id]
        assert relay.turn() == 0

    def test_the_relay_looks_for_lost_rows_on_its_first_turn_then_every_refeed_every_s(  # type: ignore[no-untyped-def]
        self, make_relay, make_consumer, accept_order, redis_client, session_factory
    ) -> None:
        """Asking Redis what it lost on every turn (one every idle_poll_s) would cost more than the streaming."""
        consumer = make_consumer()
        relay = make_relay(refeed_after_s=60, refeed_every_s=3600)
        first = accept_order(1)
        streamed_long_ago(session_factory, first.event_id, 120)
        assert relay.turn() == 1
        assert consumer.run_once() == 1

        second = accept_order(2)
        streamed_long_ago(session_factory, second.event_id, 120)
        assert relay.turn() == 0  # lost as well, but the next look is an hour away
        assert published_at(session_factory, second.event_id) is not None
        relay.settings.refeed_every_s = 0
        assert relay.turn() == 1
        assert streamed_ids(redis_client, consumer.keys) == [str(first.event_id), str(second.event_id)]

    def test_a_row_processed_while_the_relay_looked_is_not_handed_back_nor_reported(  # type: ignore[no-untyped-def]
        self, make_relay, make_consumer, accept_order, redis_client, session_factory, monkeypatch, caplog
    ) -> None:
        consumer = make_consumer()
        relay = make_relay(refeed_after_s=60, refeed_every_s=0)
        finished = accept_order(1)
        streamed_long_ago(session_factory, finished.event_id, 120)
        asked = stream.in_flight_event_ids

        def consumer_finishes_meanwhile(client, keys):  # type: ignore[no-untyped-def]
            # Between the relay's read of candidates and its hand-back, a consumer commits the event.
            streamed_long_ago(session_factory, finished.event_id, 120, "processed")
            return asked(client, keys)

        monkeypatch.setattr(stream, "in_flight_event_ids", consumer_finishes_meanwhile)
        with caplog.at_level(logging.WARNING, logger="app.events.relay"):
            assert relay.turn() == 0
        assert caplog.records == []
        assert streamed_ids(redis_client, consumer.keys) == []

    def test_nothing_is_handed_back_while_the_group_is_behind(  # type: ignore[no-untyped-def]
        self, make_relay, make_consumer, accept_order, redis_client, session_factory
    ) -> None:
        consumer = make_consumer()
        relay = make_relay(refeed_after_s=60, refeed_every_s=0)
        lost, queued = accept_order(1), accept_order(2)
        stream.publish(redis_client, consumer.keys, queued)  # on the stream, not yet read by anyone
        for event in (lost, queued):
            streamed_long_ago(session_factory, event.event_id, 120)
        assert relay.turn() == 0

        stream.read_new(redis_client, consumer.keys.partitions, "busy", count=10, block_ms=10)
        assert relay.turn() == 1
        assert streamed_ids(redis_client, consumer.keys) == [str(queued.event_id), str(lost.event_id)]

    def test_a_relay_that_does_not_hold_the_lock_hands_nothing_back(  # type: ignore[no-untyped-def]
        self, make_relay, make_consumer, accept_order, redis_client, session_factory, engine
    ) -> None:
        consumer = make_consumer()
        lost = accept_order(1)
        streamed_long_ago(session_factory, lost.event_id, 120)
        relay = make_relay(refeed_after_s=60, refeed_every_s=0)
        with engine.connect() as other_relay:
            assert other_relay.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": RELAY_LOCK}).scalar()
            assert relay.turn() is None  # the lock holder's job
            assert published_at(session_factory, lost.event_id) is not None
            other_relay.rollback()
        assert relay.turn() == 1
        assert streamed_ids(redis_client, consumer.keys) == [str(lost.event_id)]

    def test_a_running_relay_that_finds_the_lock_taken_stands_by_and_takes_over_once_it_is_free(  # type: ignore[no-untyped-def]
        self, make_consumer, accept_order, redis_client, session_factory, engine, database_url
    ) -> None:
        """Neither refeeding nor streaming while another relay holds the lock, and asking for it about once a second
        (lock_retry_s) rather than every idle_poll_s; once the lock is free it does both."""
        consumer = make_consumer()
        lost = accept_order(1)
        streamed_long_ago(session_factory, lost.event_id, 120)
        fresh = accept_order(2)
        relay_engine = create_engine(database_url)
        lock_attempts: list[float] = []

        @sqlalchemy.event.listens_for(relay_engine, "before_cursor_execute")
        def count_lock_attempts(_connection, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
            if "pg_try_advisory_xact_lock" in statement:
                lock_attempts.append(time.monotonic())

        relay = Relay(relay_engine, redis_client, consumer.keys, settings=RelaySettings(refeed_after_s=60))
        running = None  # so a failure before the thread starts is reported, not a NameError in `finally`
        try:
            with engine.connect() as other_relay:
                assert other_relay.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": RELAY_LOCK}).scalar()
                running = relay.start_thread()
                time.sleep(2.5)
                assert published_at(session_factory, lost.event_id) is not None
                assert streamed_ids(redis_client, consumer.keys) == []
                assert 2 <= len(lock_attempts) <= 4  # at about 0, 1 and 2 s
                other_relay.rollback()
            deadline = time.monotonic() + 10
            while len(streamed_ids(redis_client, consumer.keys)) < 2:
                assert time.monotonic() < deadline, "the relay did not take over"
                time.sleep(0.05)
            assert streamed_ids(redis_client, consumer.keys) == [str(lost.event_id), str(fresh.event_id)]
        finally:
            relay.stop()
            if running is not None:
                running.join(timeout=10)
            relay_engine.dispose()

    def test_the_redrive_command_hands_back_pending_rows_older_than_asked(  # type: ignore[no-untyped-def]
        self, runner, make_relay, accept_order, redis_client, session_factory, keys
    ) -> None:
        old, _young, processed = accept_order(1), accept_order(2), accept_order(3)
        relay = make_relay()
        assert relay.turn() == 3
        with session_factory.begin() as session:
            session.execute(
                update(EventQueue)
                .where(EventQueue.event_id.in_([old.event_id, processed.event_id]))
                .values(received_at=datetime.now(timezone.utc) - timedelta(seconds=120))
            )
            session.execute(
                update(EventQueue).where(EventQueue.event_id == processed.event_id).values(status="processed")
            )
        result = runner.invoke(args=["events", "redrive", "--older-than", "60"])
        assert (result.exit_code, result.output) == (0, "handed 1 event(s) back to the relay\n")
        assert relay.turn() == 1
        assert streamed_ids(redis_client, keys)[3:] == [str(old.event_id)]
