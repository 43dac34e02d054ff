"""Fixtures for the app.events tests: stream keys, consumers on the test database, and orders in the inbox."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
import redis
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from app.events import inbox, stream
from app.events.consumer import ConsumerSettings, StreamConsumer
from app.events.leases import members_key
from app.events.relay import Relay, RelaySettings
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
    """make_consumer(name, **settings): a consumer of this run's stream, its group created."""

    def make(name: str = "consumer-a", **settings: Any) -> StreamConsumer:
        consumer = StreamConsumer(
            session_factory,
            redis_client,
            redis_namespace,
            name=name,
            settings=ConsumerSettings(**{"block_ms": 10, **settings}),
        )
        stream.ensure_group(redis_client, consumer.keys)
        return consumer

    return make


@pytest.fixture
def inbox_connection(database_url: str) -> Iterator[psycopg.Connection]:
    """An autocommit psycopg connection to the test database, as /webhooks gets from its pool."""
    url = make_url(database_url)
    _args, connect_args = url.get_dialect()().create_connect_args(url)
    with psycopg.connect(**connect_args, autocommit=True) as connection:
        yield connection


@pytest.fixture
def accept_order(inbox_connection: psycopg.Connection, shop: Shop) -> Callable[..., InboundEvent]:
    """accept_order(order_id): an orders/create event of `shop`, committed to the inbox as the webhook does; not
    streamed (tests run the relay, or put it on the stream themselves, or not)."""

    def accept(order_id: int, *, customer_id: int = 1001) -> InboundEvent:
        event = order_event(shop.domain, order_id, customer_id=customer_id)
        recorded = inbox.record_event(
            inbox_connection, event, topic="orders/create", webhook_id=None, payload_json=json.dumps(event.event_data)
        )
        assert recorded
        return event

    return accept


@pytest.fixture
def make_relay(engine: Engine, redis_client: redis.Redis, redis_namespace: str) -> Callable[..., Relay]:
    """make_relay(client=None, **settings): a relay of this run's inbox to this run's stream."""

    def make(client: redis.Redis | None = None, **settings: Any) -> Relay:
        keys = stream.StreamKeys.for_namespace(redis_namespace)
        return Relay(engine, client or redis_client, keys, settings=RelaySettings(**settings))

    return make
