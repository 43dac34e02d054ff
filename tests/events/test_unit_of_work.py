"""app.events.unit_of_work on real PostgreSQL and Redis: commit, then publish the app events the transaction staged;
nothing is published for a transaction that does not commit, and a Redis failure after the commit loses nothing."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.events.stream import StreamKeys
from app.events.unit_of_work import unit_of_work
from app.loyalty.base.app_events import record_app_event
from app.models import EventQueue, Shop
from tests.events.stream_helpers import stream_entries


def stage_tier_change(session: Session, shop: Shop, customer_id: str, now: datetime) -> uuid.UUID:
    """Stage a tier_changed app event in the session's transaction (an inbox row, published by whoever commits)."""
    event_id = record_app_event(
        session,
        shop_id=shop.id,
        event_type="tier_changed",
        key=f"tier:{customer_id}:1",
        customer_id=customer_id,
        subject=("profile", customer_id),
        data={"to_tier": {"name": "Silver"}},
        now=now,
    )
    assert event_id is not None
    return event_id


def published_envelopes(client: redis.Redis, keys: StreamKeys) -> list[dict[str, object]]:
    return [json.loads(fields["envelope"]) for _, fields in stream_entries(client, keys)]


def inbox_ids(session: Session) -> list[uuid.UUID]:
    return list(session.execute(select(EventQueue.event_id)).scalars())


def test_what_the_transaction_staged_is_published_once_after_it_committed(  # type: ignore[no-untyped-def]
    session_factory, redis_client, keys, shop, now
) -> None:
    with session_factory() as session:
        with unit_of_work(session, redis_client, keys):
            event_id = stage_tier_change(session, shop, "1001", now)
            assert stream_entries(redis_client, keys) == []
        with unit_of_work(session, redis_client, keys):
            pass  # the next unit of work on this session has nothing of its own to publish
    [envelope] = published_envelopes(redis_client, keys)
    assert (envelope["event_id"], envelope["event_type"], envelope["shop_domain"], envelope["customer_id"]) == (
        str(event_id),
        "tier_changed",
        shop.domain,
        "1001",
    )
    assert envelope["event_data"] == {"to_tier": {"name": "Silver"}}


def test_a_block_that_raises_is_rolled_back_and_publishes_nothing(  # type: ignore[no-untyped-def]
    session_factory, redis_client, keys, shop, now
) -> None:
    with session_factory() as session:
        with pytest.raises(RuntimeError, match="rule evaluation failed"), unit_of_work(session, redis_client, keys):
            stage_tier_change(session, shop, "1001", now)
            raise RuntimeError("rule evaluation failed")
        assert stream_entries(redis_client, keys) == []
        # The session goes on clean: the next unit of work commits only its own work.
        with unit_of_work(session, redis_client, keys):
            kept = stage_tier_change(session, shop, "1002", now)
    with session_factory() as session:
        assert inbox_ids(session) == [kept]
    assert [envelope["event_id"] for envelope in published_envelopes(redis_client, keys)] == [str(kept)]


def test_a_commit_that_fails_publishes_nothing(session_factory, redis_client, keys, shop, now, refuse) -> None:  # type: ignore[no-untyped-def]
    refuse("event_queue", at_commit=True)
    with session_factory() as session, pytest.raises(DBAPIError, match="event_queue refused by the test"):
        with unit_of_work(session, redis_client, keys):
            stage_tier_change(session, shop, "1001", now)
    assert stream_entries(redis_client, keys) == []
    with session_factory() as session:
        assert inbox_ids(session) == []


def test_a_redis_failure_after_the_commit_leaves_the_event_for_re_drive(  # type: ignore[no-untyped-def]
    session_factory, redis_client, keys, shop, now, make_consumer
) -> None:
    # Nothing listens on port 1; no retries, so the failure is immediate.
    unreachable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
    with session_factory() as session, unit_of_work(session, unreachable, keys):
        event_id = stage_tier_change(session, shop, "1001", now)
    with session_factory() as session:
        row = session.execute(select(EventQueue)).scalar_one()
        assert (row.event_id, row.status) == (event_id, "pending")
    assert make_consumer(redrive_after_s=60).redrive() == 1  # staged at `now`, long enough ago
    assert [envelope["event_id"] for envelope in published_envelopes(redis_client, keys)] == [str(event_id)]
