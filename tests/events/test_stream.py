"""app.events.stream on real Redis: group reads, the pending list, stale claims with exponential back-off,
acknowledgement, dead letters, and the views re-drive and monitoring rely on."""

from __future__ import annotations

import json
import threading

import pytest
import redis

from app.events import stream
from app.events.envelope import from_fields, to_envelope
from tests.events.stream_helpers import BASE_MS, MARGIN_MS, entries, order_event, pending, set_idle

SHOP = "test-shop.myshopify.com"


@pytest.fixture
def keys(keys: stream.StreamKeys) -> stream.StreamKeys:
    """One partition: these tests are about what each partition does (test_partitions.py covers routing)."""
    return stream.StreamKeys.for_namespace(keys.namespace, partitions=1)


def publish_orders(client: redis.Redis, keys: stream.StreamKeys, *order_ids: int) -> list[str]:
    return [stream.publish(client, keys, order_event(SHOP, order_id)) for order_id in order_ids]


def ack_ids(client: redis.Redis, keys: stream.StreamKeys, *stream_ids: str) -> None:
    stream.ack(client, *(stream.Message(keys.partitions[0], stream_id, None) for stream_id in stream_ids))


def test_the_redis_client_parses_replies_with_hiredis(redis_client) -> None:  # type: ignore[no-untyped-def]
    """pyproject asks for redis[hiredis]: a batch's XREADGROUP parsed in Python cost about 3.5 ms of CPU, 0.4 ms
    with hiredis."""
    connection = redis_client.connection_pool.get_connection()
    try:
        assert type(connection._parser).__name__ == "_HiredisParser"
    finally:
        redis_client.connection_pool.release(connection)


def test_publish_writes_the_fixed_envelope_with_its_id_and_type_beside_it(redis_client, keys) -> None:  # type: ignore[no-untyped-def]
    event = order_event(SHOP, 7)
    stream_id = stream.publish(redis_client, keys, event)
    [(entry_id, fields)] = entries(redis_client, keys.partitions[0].events)
    assert entry_id == stream_id
    assert (fields["event_id"], fields["event_type"]) == (str(event.event_id), "order_created")
    assert json.loads(fields["envelope"]) == to_envelope(event)
    assert from_fields(redis_client.xrange(keys.partitions[0].events)[0][1]) == event


def test_a_group_created_after_publishing_delivers_what_was_already_there(redis_client, keys) -> None:  # type: ignore[no-untyped-def]
    first, second = publish_orders(redis_client, keys, 1, 2)
    stream.ensure_group(redis_client, keys)
    stream.ensure_group(redis_client, keys)  # a second process starting: the group is kept, not reset
    assert [m.stream_id for m in stream.read_new(redis_client, keys.partitions, "a", count=10, block_ms=10)] == [
        first,
        second,
    ]
    stream.ensure_group(redis_client, keys)
    assert stream.read_new(redis_client, keys.partitions, "a", count=10, block_ms=10) == []


def test_each_new_entry_goes_to_one_consumer_and_stays_pending_until_acknowledged(redis_client, keys) -> None:  # type: ignore[no-untyped-def]
    stream.ensure_group(redis_client, keys)
    one, two, three = publish_orders(redis_client, keys, 1, 2, 3)
    read_by_a = stream.read_new(redis_client, keys.partitions, "a", count=2, block_ms=10)
    read_by_b = stream.read_new(redis_client, keys.partitions, "b", count=10, block_ms=10)
    assert [(m.stream_id, m.deliveries) for m in read_by_a] == [(one, 1), (two, 1)]
    assert [m.stream_id for m in read_by_b] == [three]
    assert pending(redis_client, keys) == {one: ("a", 1), two: ("a", 1), three: ("b", 1)}

    ack_ids(redis_client, keys, one)
    assert [m.stream_id for m in stream.read_own_pending(redis_client, keys.partitions[0], "a", count=10)] == [two]
    assert stream.read_own_pending(redis_client, keys.partitions[0], "a", count=10)[0].fields == read_by_a[1].fields
    assert [m.stream_id for m in stream.read_own_pending(redis_client, keys.partitions[0], "b", count=10)] == [three]


@pytest.mark.parametrize("deliveries", [1, 2, 3, 4, 6, 11, 15])
def test_a_pending_entry_is_claimed_only_after_base_times_two_to_the_deliveries_minus_one(  # type: ignore[no-untyped-def]
    redis_client, keys, deliveries: int
) -> None:
    """The back-off claim_stale promises: delivered n times, retried after BASE * 2^(n-1) idle, at most
    MAX_RETRY_WAIT_MS (here from the sixth delivery on)."""
    stream.ensure_group(redis_client, keys)
    [stream_id] = publish_orders(redis_client, keys, 1)
    stream.read_new(redis_client, keys.partitions, "crashed", count=1, block_ms=10)
    wait_ms = min(BASE_MS * 2 ** (deliveries - 1), stream.MAX_RETRY_WAIT_MS)

    set_idle(redis_client, keys, stream_id, wait_ms - MARGIN_MS, deliveries=deliveries)
    assert stream.claim_stale(redis_client, keys.partitions[0], "retrier", base_idle_ms=BASE_MS) == []
    assert pending(redis_client, keys) == {stream_id: ("crashed", deliveries)}

    set_idle(redis_client, keys, stream_id, wait_ms)
    [claimed] = stream.claim_stale(redis_client, keys.partitions[0], "retrier", base_idle_ms=BASE_MS)
    assert (claimed.stream_id, claimed.deliveries) == (stream_id, deliveries + 1)
    assert from_fields(claimed.fields).event_data["id"] == 1
    assert pending(redis_client, keys) == {stream_id: ("retrier", deliveries + 1)}
    # Claiming restarted its idle clock: nobody takes it again before its next, longer wait.
    assert stream.claim_stale(redis_client, keys.partitions[0], "another", base_idle_ms=BASE_MS) == []


def test_claims_pick_every_due_entry_and_leave_the_ones_still_backing_off(redis_client, keys) -> None:  # type: ignore[no-untyped-def]
    stream.ensure_group(redis_client, keys)
    due_once, backing_off, due_thrice, acked = publish_orders(redis_client, keys, 1, 2, 3, 4)
    stream.read_new(redis_client, keys.partitions, "crashed", count=4, block_ms=10)
    set_idle(redis_client, keys, due_once, BASE_MS)
    set_idle(redis_client, keys, backing_off, 3 * BASE_MS, deliveries=3)  # waits 4 * BASE
    set_idle(redis_client, keys, due_thrice, 4 * BASE_MS, deliveries=3)
    set_idle(redis_client, keys, acked, BASE_MS)
    ack_ids(redis_client, keys, acked)

    claimed = stream.claim_stale(redis_client, keys.partitions[0], "retrier", base_idle_ms=BASE_MS)
    assert [(m.stream_id, m.deliveries) for m in claimed] == [(due_once, 2), (due_thrice, 4)]
    assert pending(redis_client, keys)[backing_off] == ("crashed", 3)


def test_two_claimers_at_once_never_both_take_an_entry(redis_client, keys) -> None:  # type: ignore[no-untyped-def]
    stream.ensure_group(redis_client, keys)
    stream_ids = publish_orders(redis_client, keys, *range(300))
    stream.read_new(redis_client, keys.partitions, "crashed", count=300, block_ms=10)
    redis_client.xclaim(
        keys.partitions[0].events,
        stream.GROUP,
        "crashed",
        min_idle_time=0,
        message_ids=stream_ids,
        idle=BASE_MS,
        justid=True,
    )
    claimed: dict[str, list[str]] = {}
    start = threading.Barrier(4)

    def claim(name: str) -> None:
        client = redis.Redis(connection_pool=redis_client.connection_pool)
        start.wait()
        claimed[name] = [
            m.stream_id for m in stream.claim_stale(client, keys.partitions[0], name, base_idle_ms=BASE_MS, count=300)
        ]

    threads = [threading.Thread(target=claim, args=(f"claimer-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    taken = [stream_id for ids in claimed.values() for stream_id in ids]
    assert sorted(taken) == sorted(stream_ids)  # every entry claimed, and by one claimer only
    holders = pending(redis_client, keys)
    assert all(holders[stream_id][0] == name for name, ids in claimed.items() for stream_id in ids)


def test_dead_letter_names_the_message_with_its_error_then_acknowledges_it(redis_client, keys) -> None:  # type: ignore[no-untyped-def]
    stream.ensure_group(redis_client, keys)
    keep, doomed = publish_orders(redis_client, keys, 1, 2)
    messages = stream.read_new(redis_client, keys.partitions, "a", count=2, block_ms=10)
    stream.dead_letter(redis_client, messages[1], "ValueError: " + "x" * 3000)

    [(_, letter)] = entries(redis_client, keys.partitions[0].dead)
    original = {key.decode(): value.decode() for key, value in messages[1].fields.items()}
    # The envelope (the payload, personal data included) stays in the inbox and the dead_letters row, which the
    # GDPR redactions reach; the dead-letter stream only names the event.
    assert letter == {
        "stream_id": doomed,
        "error": ("ValueError: " + "x" * 3000)[:2000],
        "event_id": original["event_id"],
        "event_type": "order_created",
    }
    assert pending(redis_client, keys) == {keep: ("a", 1)}


def test_caught_up_means_every_entry_has_been_handed_to_the_group(redis_client, keys) -> None:  # type: ignore[no-untyped-def]
    assert stream.caught_up(redis_client, keys)  # no stream yet
    publish_orders(redis_client, keys, 1)
    assert not stream.caught_up(redis_client, keys)  # an entry and no group to hand it to
    stream.ensure_group(redis_client, keys)
    assert not stream.caught_up(redis_client, keys)
    stream.read_new(redis_client, keys.partitions, "a", count=10, block_ms=10)
    assert stream.caught_up(redis_client, keys)  # delivered; being processed is not "behind"
    publish_orders(redis_client, keys, 2)
    assert not stream.caught_up(redis_client, keys)


def test_in_flight_ids_are_the_events_delivered_and_not_yet_acknowledged(redis_client, keys) -> None:  # type: ignore[no-untyped-def]
    stream.ensure_group(redis_client, keys)
    events = [order_event(SHOP, n) for n in range(4)]
    stream_ids = [stream.publish(redis_client, keys, event) for event in events]
    stream.read_new(redis_client, keys.partitions, "a", count=3, block_ms=10)  # the fourth is not delivered yet
    ack_ids(redis_client, keys, stream_ids[0])
    redis_client.xdel(keys.partitions[0].events, stream_ids[2])  # trimmed while pending: its event id is gone with it
    assert stream.in_flight_event_ids(redis_client, keys) == {str(events[1].event_id)}


def test_group_info_reports_length_pending_lag_and_consumers(redis_client, keys) -> None:  # type: ignore[no-untyped-def]
    assert stream.group_info(redis_client, keys) == {"length": 0, "pending": 0, "lag": 0, "consumers": 0}
    first, _, _ = publish_orders(redis_client, keys, 1, 2, 3)
    stream.ensure_group(redis_client, keys)
    stream.read_new(redis_client, keys.partitions, "a", count=2, block_ms=10)
    ack_ids(redis_client, keys, first)
    assert stream.group_info(redis_client, keys) == {"length": 3, "pending": 1, "lag": 1, "consumers": 1}


def test_a_due_entry_behind_a_hundred_backing_off_ones_is_still_claimed(redis_client, keys) -> None:  # type: ignore[no-untyped-def]
    """claim_stale reads XPENDING once (count=100, oldest first) and skips what is still backing off, so 100 older
    entries in back-off (events that keep failing, or refunds waiting for their order) hide every entry behind them:
    a crashed consumer's messages there are not reclaimed until the older ones end."""
    stream.ensure_group(redis_client, keys)
    stream_ids = publish_orders(redis_client, keys, *range(101))
    stream.read_new(redis_client, keys.partitions, "crashed", count=101, block_ms=10)
    redis_client.xclaim(
        keys.partitions[0].events,
        stream.GROUP,
        "crashed",
        min_idle_time=0,
        message_ids=stream_ids[:100],
        idle=BASE_MS,
        retrycount=5,  # each waits 16 * BASE before its next try
        justid=True,
    )
    set_idle(redis_client, keys, stream_ids[100], BASE_MS)  # delivered once, due now
    claimed = stream.claim_stale(redis_client, keys.partitions[0], "retrier", base_idle_ms=BASE_MS)
    assert [m.stream_id for m in claimed] == [stream_ids[100]]
