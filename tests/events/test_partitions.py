"""Partitions of the stream: routing by shop and customer, Redis Cluster hash tags, leases that share the partitions
among stream processes (and pass on when one stops or dies), and trimming that keeps every unacknowledged entry."""

from __future__ import annotations

import re
import threading
import time
import uuid
from datetime import datetime, timezone

import redis

from app.events import stream
from app.events.leases import PartitionLeases
from app.loyalty.base.inbound import InboundEvent
from tests.events.stream_helpers import order_event, pending

SHOP = "test-shop.myshopify.com"


def hash_tag(key: str) -> str:
    """What Redis Cluster hashes: the text between the first { and the next }."""
    return re.search(r"\{([^}]*)\}", key).group(1)


def customerless(shop: str) -> InboundEvent:
    return InboundEvent(
        event_id=uuid.uuid4(),
        event_type="app_uninstalled",
        shop_domain=shop,
        customer_id=None,
        timestamp=datetime.now(timezone.utc),
        event_data={},
    )


class TestRouting:
    def test_a_customers_events_all_go_to_one_partition_and_customers_spread_over_all(self, keys) -> None:  # type: ignore[no-untyped-def]
        assert len(keys.partitions) == 4  # the default of LOYALTY_STREAM_PARTITIONS
        for customer in range(50):
            routes = {keys.route(order_event(SHOP, n, customer_id=customer)) for n in range(5)}
            assert len(routes) == 1
        used = {keys.route(order_event(SHOP, 1, customer_id=customer)).index for customer in range(200)}
        assert used == {0, 1, 2, 3}

    def test_routing_is_the_same_in_every_process_and_events_without_a_customer_go_by_shop(self, keys) -> None:  # type: ignore[no-untyped-def]
        # crc32 of "shop|customer", not Python's hash(), which differs between processes.
        again = stream.StreamKeys.for_namespace(keys.namespace)
        event = order_event(SHOP, 1, customer_id=1001)
        assert keys.route(event) == again.route(event)
        shops = [f"shop-{n}.myshopify.com" for n in range(40)]
        assert all(keys.route(customerless(shop)) == keys.route(customerless(shop)) for shop in shops)
        assert len({keys.route(customerless(shop)).index for shop in shops}) == 4

    def test_a_partitions_keys_share_one_hash_tag_and_partitions_differ(self, keys) -> None:  # type: ignore[no-untyped-def]
        tags = []
        for partition in keys.partitions:
            assert hash_tag(partition.events) == hash_tag(partition.dead) == hash_tag(partition.lease)
            tags.append(hash_tag(partition.events))
        assert len(set(tags)) == len(tags)

    def test_publish_puts_each_event_on_its_partition_in_order(self, redis_client, keys) -> None:  # type: ignore[no-untyped-def]
        events = [order_event(SHOP, n, customer_id=customer) for n in range(3) for customer in (11, 12, 13, 14)]
        for event in events:
            stream.publish(redis_client, keys, event)
        for partition in keys.partitions:
            stored = [fields[b"event_id"].decode() for _id, fields in redis_client.xrange(partition.events)]
            assert stored == [str(e.event_id) for e in events if keys.route(e) == partition]


class TestLeases:
    def test_two_processes_split_the_partitions_and_the_survivor_of_a_clean_stop_takes_them_all(  # type: ignore[no-untyped-def]
        self, redis_client, keys
    ) -> None:
        first = PartitionLeases(redis_client, keys, "first", ttl_ms=60_000)
        second = PartitionLeases(redis_client, keys, "second", ttl_ms=60_000)
        assert len(first.rebalance()) == 4  # alone: everything
        second.rebalance()
        assert second.owned == []  # nothing free yet
        first.rebalance()  # sees a second member: gives back what exceeds its half
        second.rebalance()
        assert len(first.owned) == len(second.owned) == 2
        assert not set(first.owned) & set(second.owned)
        for partition in first.owned:
            assert redis_client.get(partition.lease) == b"first"

        first.release_all()
        second.rebalance()
        assert len(second.owned) == 4

    def test_a_consumer_short_of_its_share_soon_takes_a_partition_freed_later(  # type: ignore[no-untyped-def]
        self, redis_client, keys, make_consumer
    ) -> None:
        """Another process gives its extra partitions back one by one; a consumer that took the first is short of its
        share. It looked again only at its next housekeeping (5 s in production), and the partition given back next
        was read by nobody until then: in the pipeline bench, event age p99 4.7 s instead of 0.06 s."""
        other = PartitionLeases(redis_client, keys, "other", ttl_ms=60_000)
        assert len(other.rebalance()) == 4
        consumer = make_consumer("short", housekeeping_every_s=60)
        redis_client.delete(other.owned[0].lease)  # the other process gives one back
        consumer.run_once()
        assert len(consumer.leases.owned) == 1 and consumer.leases.short_of_share  # two processes: 2 each
        redis_client.delete(other.owned[1].lease)  # and another, just after
        time.sleep(0.3)
        consumer.run_once()
        assert len(consumer.leases.owned) == 2

    def test_a_dead_processs_partitions_are_taken_over_once_its_lease_expires(self, redis_client, keys) -> None:  # type: ignore[no-untyped-def]
        dead = PartitionLeases(redis_client, keys, "dead", ttl_ms=300)
        alive = PartitionLeases(redis_client, keys, "alive", ttl_ms=300)
        dead.rebalance()
        assert alive.rebalance() == []  # held by a process that stops renewing now
        time.sleep(0.4)
        assert len(alive.rebalance()) == 4

    def test_a_restart_under_the_same_name_has_its_partitions_back_at_once(self, redis_client, keys) -> None:  # type: ignore[no-untyped-def]
        before = PartitionLeases(redis_client, keys, "stream-1", ttl_ms=60_000)
        before.rebalance()
        after = PartitionLeases(redis_client, keys, "stream-1", ttl_ms=60_000)  # the process was SIGKILLed
        assert len(after.rebalance()) == 4

    def test_many_processes_rebalancing_at_once_never_hold_one_partition_twice(self, redis_client, keys) -> None:  # type: ignore[no-untyped-def]
        leases = [PartitionLeases(redis_client, keys, f"p{n}", ttl_ms=60_000) for n in range(6)]
        start = threading.Barrier(len(leases))

        def rebalance(lease: PartitionLeases) -> None:
            lease.client = redis.Redis(connection_pool=redis_client.connection_pool)
            start.wait()
            for _ in range(5):
                lease.rebalance()

        threads = [threading.Thread(target=rebalance, args=(lease,)) for lease in leases]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        held = [partition for lease in leases for partition in lease.owned]
        assert len(held) == len(set(held))
        for lease in leases:
            for partition in lease.owned:
                assert redis_client.get(partition.lease).decode() == lease.consumer


class TestTrim:
    def test_trimming_drops_only_what_the_group_acknowledged(self, redis_client, keys) -> None:  # type: ignore[no-untyped-def]
        partition = keys.route(order_event(SHOP, 1))
        stream.ensure_group(redis_client, keys)
        ids = [stream.publish(redis_client, keys, order_event(SHOP, n)) for n in range(10)]
        read = stream.read_new(redis_client, [partition], "a", count=6, block_ms=10)
        stream.ack(redis_client, read[0], read[1], read[3], read[5])  # ids[2] and ids[4] stay pending

        assert stream.trim(redis_client, partition) == 2  # ids[0], ids[1]: acknowledged, older than any pending
        left = [entry_id.decode() for entry_id, _fields in redis_client.xrange(partition.events)]
        assert left == ids[2:]  # the pending ones, what lies between them, and the 4 never delivered
        assert set(pending(redis_client, keys)) == {ids[2], ids[4]}

        stream.ack(redis_client, read[2], read[4])
        stream.trim(redis_client, partition)
        # Everything delivered is acknowledged: only the last delivered entry's position is kept, and the new ones.
        left = [entry_id.decode() for entry_id, _fields in redis_client.xrange(partition.events)]
        assert left == ids[5:]
        assert [m.stream_id for m in stream.read_new(redis_client, [partition], "a", count=10, block_ms=10)] == ids[6:]

    def test_a_stream_nobody_has_read_is_not_trimmed(self, redis_client, keys) -> None:  # type: ignore[no-untyped-def]
        partition = keys.route(order_event(SHOP, 1))
        stream.ensure_group(redis_client, keys)
        for n in range(3):
            stream.publish(redis_client, keys, order_event(SHOP, n))
        assert stream.trim(redis_client, partition) == 0
        assert redis_client.xlen(partition.events) == 3


def test_two_consumers_share_the_partitions_and_process_every_event_once(  # type: ignore[no-untyped-def]
    make_consumer, accept_order, redis_client, session_factory
) -> None:
    from tests.events.test_consumer import processed_ids

    consumers = [make_consumer(f"worker-{n}", housekeeping_every_s=0.05, block_ms=20) for n in range(2)]
    events = [accept_order(n, customer_id=2000 + n % 16) for n in range(1, 81)]
    for event in events:
        stream.publish(redis_client, consumers[0].keys, event)
    loops = [threading.Thread(target=consumer.run) for consumer in consumers]
    for loop in loops:
        loop.start()
    deadline = time.monotonic() + 60
    while sum(c.processed for c in consumers) < len(events) and time.monotonic() < deadline:
        time.sleep(0.05)
    # The events may all be processed before the leases settle (batches are quick): the share is the steady state.
    while [len(consumer.leases.owned) for consumer in consumers] != [2, 2] and time.monotonic() < deadline:
        time.sleep(0.05)
    held = [len(consumer.leases.owned) for consumer in consumers]
    for consumer in consumers:
        consumer.stop()
    for loop in loops:
        loop.join(timeout=30)
    assert processed_ids(session_factory) == {event.event_id for event in events}
    assert sum(c.processed for c in consumers) == len(events) and sum(c.duplicates for c in consumers) == 0
    assert held == [2, 2]
    assert pending(redis_client, consumers[0].keys) == {}
    # Stopped cleanly: the partitions are free for whoever starts next.
    assert all(redis_client.get(p.lease) is None for p in consumers[0].keys.partitions)
