"""Helpers for the app.events tests: read the group's pending list, and move a pending entry's idle clock the way
Redis itself allows (XCLAIM … IDLE … RETRYCOUNT … JUSTID), so back-off thresholds are checked to the millisecond
without sleeping through them."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.events import stream
from app.loyalty.base.inbound import InboundEvent
from app.models import Base
from tests.helpers import order_payload

# A back-off base long enough that no test run outlasts it by accident; entries are aged with set_idle instead.
BASE_MS = 10_000
# Time a test may take between setting an entry's idle clock and the claim that reads it.
MARGIN_MS = 500


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def pending(client: redis.Redis, keys: stream.StreamKeys) -> dict[str, tuple[str, int]]:
    """The group's pending list over every partition: stream id -> (consumer that holds it, times delivered)."""
    return {stream_id: (holder, times) for _p, stream_id, holder, times in _pending_entries(client, keys)}


def _pending_entries(client: redis.Redis, keys: stream.StreamKeys) -> list[tuple[stream.Partition, str, str, int]]:
    found = []
    for partition in keys.partitions:
        try:
            entries = client.xpending_range(partition.events, stream.GROUP, min="-", max="+", count=10_000)
        except redis.ResponseError:
            continue  # no stream or group there yet
        found += [(partition, text(e["message_id"]), text(e["consumer"]), int(e["times_delivered"])) for e in entries]
    return found


def set_idle(
    client: redis.Redis, keys: stream.StreamKeys, stream_id: str, idle_ms: int, *, deliveries: int | None = None
) -> None:
    """Make a pending entry look idle for `idle_ms` (and, if given, delivered `deliveries` times); same holder."""
    [(partition, holder, times)] = [
        (partition, holder, times)
        for partition, pending_id, holder, times in _pending_entries(client, keys)
        if pending_id == stream_id
    ]
    client.xclaim(
        partition.events,
        stream.GROUP,
        holder,
        min_idle_time=0,
        message_ids=[stream_id],
        idle=idle_ms,
        retrycount=deliveries or times,
        justid=True,
    )


def entries(client: redis.Redis, key: str) -> list[tuple[str, dict[str, str]]]:
    """Every entry of a stream, fields decoded."""
    return [(text(i), {text(k): text(v) for k, v in f.items()}) for i, f in client.xrange(key)]


def stream_entries(client: redis.Redis, keys: stream.StreamKeys) -> list[tuple[str, dict[str, str]]]:
    """Every entry of every partition, partition after partition (a customer's entries, all in one, keep order)."""
    return [entry for partition in keys.partitions for entry in entries(client, partition.events)]


def dead_entries(client: redis.Redis, keys: stream.StreamKeys) -> list[tuple[str, dict[str, str]]]:
    """Every entry of every partition's dead-letter stream."""
    return [entry for partition in keys.partitions for entry in entries(client, partition.dead)]


def count(session: Session, model: type[Base]) -> int:
    return session.execute(select(func.count()).select_from(model)).scalar_one()


def order_event(shop_domain: str, order_id: int, *, customer_id: int = 1001) -> InboundEvent:
    """An orders/create event as the webhook builds it (a fresh event id each time)."""
    return InboundEvent(
        event_id=uuid.uuid4(),
        event_type="order_created",
        shop_domain=shop_domain,
        customer_id=str(customer_id),
        timestamp=datetime(2026, 3, 2, 15, 29, tzinfo=timezone.utc),
        event_data=order_payload(order_id, customer_id=customer_id),
    )
