"""Fixtures for the app.events tests: stream keys, consumers on the test database, and orders in the inbox."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.events import inbox, stream
from app.events.consumer import ConsumerSettings, StreamConsumer
from app.events.leases import members_key
from app.loyalty.base.inbound import InboundEvent
from app.models import Shop
from tests.events.stream_helpers import order_event


@pytest.fixture
def keys(redis_client: redis.Redis, redis_namespace: str) -> Iterator[stream.StreamKeys]:
    """This run's stream keys, empty before and after the test (no database needed)."""
    keys = stream.StreamKeys.for_namespace(redis_namespace)
    names = [name for p in keys.partitions for name in (p.events, p.dead, p.lease)] + [members_key(redis_namespace)]
    redis_client.delete(*names)
    yield keys
    redis_client.delete(*names)


@pytest.fixture
def make_consumer(
    session_factory: sessionmaker[Session], redis_client: redis.Redis, redis_namespace: str
) -> Callable[..., StreamConsumer]:
    """make_consumer(name, **settings): a consumer of this run's stream, its group created; no re-drive unless
    asked."""

    def make(name: str = "consumer-a", **settings: Any) -> StreamConsumer:
        consumer = StreamConsumer(
            session_factory,
            redis_client,
            redis_namespace,
            name=name,
            settings=ConsumerSettings(**{"block_ms": 10, "redrive_after_s": 3600, **settings}),
        )
        stream.ensure_group(redis_client, consumer.keys)
        return consumer

    return make


@pytest.fixture
def accept_order(engine: Engine, shop: Shop) -> Callable[..., InboundEvent]:
    """accept_order(order_id): an orders/create event of `shop`, committed to the inbox as the webhook does; not
    published (tests put it on the stream, or not)."""

    def accept(order_id: int, *, customer_id: int = 1001) -> InboundEvent:
        event = order_event(shop.domain, order_id, customer_id=customer_id)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            recorded = inbox.record_event(
                connection, event, topic="orders/create", webhook_id=None, payload_json=json.dumps(event.event_data)
            )
        assert recorded
        return event

    return accept
