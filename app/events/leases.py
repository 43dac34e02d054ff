"""Which stream process reads which partition: a lease per partition in Redis, renewed by the consumer's
housekeeping, taken over when its holder stops renewing it (the process died, or lost Redis).

Each process aims at its fair share, ceil(partitions / live processes): it takes free partitions while it has fewer
and gives its extra ones back (between batches, so nothing is in hand) when more processes have joined. Live
processes are the members of one sorted set, scored with the time their membership expires. A lease held under a
process's own name is its own again at once after a restart with that name.

A lease is for throughput and order, not for correctness: should two processes read one partition for a moment (a
holder paused longer than the lease), the dedupe row still applies each event once.
"""

from __future__ import annotations

import math
import time
import zlib

import redis

from app.events.stream import Partition, StreamKeys

# Take the lease if it is free or already ours; (re)set its expiry either way.
_ACQUIRE = """
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return 1
end
return 0
"""
# Give the lease up only if it is still ours.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


def members_key(namespace: str) -> str:
    return f"{namespace}:stream-members"


class PartitionLeases:
    """The partitions one consumer holds, kept at its fair share by rebalance()."""

    def __init__(self, client: redis.Redis, keys: StreamKeys, consumer: str, *, ttl_ms: int) -> None:
        self.client = client
        self.keys = keys
        self.consumer = consumer
        self.ttl_ms = ttl_ms
        self.owned: list[Partition] = []
        # The fair share at the last rebalance (1 before the first: holding nothing is short of any share).
        self.fair = 1
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(_RELEASE)
        # Where this consumer starts looking for free partitions: spread, so joiners do not all race for partition 0.
        self._offset = zlib.crc32(consumer.encode()) % len(keys.partitions)

    def rebalance(self) -> list[Partition]:
        """Renew what is held, give back what exceeds the fair share, take free partitions up to it; returns the
        partitions newly taken (their earlier pending entries may be this consumer's own, from before a restart)."""
        live = self._live_members()
        fair = self.fair = math.ceil(len(self.keys.partitions) / max(live, 1))
        self.owned = [p for p in self.owned if self._acquire(keys=[p.lease], args=[self.consumer, self.ttl_ms])]
        while len(self.owned) > fair:
            self._release(keys=[self.owned.pop().lease], args=[self.consumer])
        taken = []
        count = len(self.keys.partitions)
        for step in range(count):
            if len(self.owned) >= fair:
                break
            partition = self.keys.partitions[(self._offset + step) % count]
            if partition in self.owned:
                continue
            if self._acquire(keys=[partition.lease], args=[self.consumer, self.ttl_ms]):
                self.owned.append(partition)
                taken.append(partition)
        self.owned.sort(key=lambda p: p.index)
        return taken

    @property
    def short_of_share(self) -> bool:
        """Whether this consumer held fewer partitions than its fair share at the last rebalance: one it could take
        may come free at any moment (another process gives back its extra ones one by one)."""
        return len(self.owned) < self.fair

    def release_all(self) -> None:
        """Give every partition back and leave the membership (a clean stop: others take over at once)."""
        for partition in self.owned:
            self._release(keys=[partition.lease], args=[self.consumer])
        self.owned = []
        self.client.zrem(members_key(self.keys.namespace), self.consumer)

    def _live_members(self) -> int:
        now_ms = int(time.time() * 1000)
        key = members_key(self.keys.namespace)
        pipe = self.client.pipeline(transaction=False)
        pipe.zadd(key, {self.consumer: now_ms + self.ttl_ms})
        pipe.zremrangebyscore(key, "-inf", now_ms)
        pipe.zcard(key)
        return int(pipe.execute()[-1])
