"""Each shop's Admin GraphQL leaky bucket as Shopify last reported it, shared by every worker through Redis.

Shopify charges a query's requested cost up front from a per-app-and-shop bucket that refills at `restoreRate`
points a second, and answers THROTTLED when the bucket cannot pay. Every answer carries
`extensions.cost.throttleStatus` (`maximumAvailable`, `currentlyAvailable`, `restoreRate`): we keep the latest one per
shop in Redis and, before each call, reserve the call's expected cost from it atomically (a Lua script), so that
several workers calling for one shop wait their turn instead of each finding the bucket empty. The size and rate are
read from Shopify's answers, never assumed (they differ by plan).

A shop we have not heard about yet has no state: the first call goes straight out and teaches us the bucket.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis

# Keep a little in the bucket for other apps' calls already in flight and for the estimate being low: wait before
# the bucket runs dry rather than when it has.
SAFETY_MARGIN = 0.1
# Forget a shop's state after a quiet minute: the bucket has refilled by then, and Redis keeps nothing stale.
STATE_TTL_S = 60

# KEYS[1] the shop's hash; ARGV: now, cost, margin fraction, ttl. Returns the seconds to wait (as a string; Lua
# numbers become integers on their way to Redis' reply), "0" after reserving the cost.
_RESERVE = """
local state = redis.call('HMGET', KEYS[1], 'available', 'maximum', 'rate', 'at')
if not state[1] then return '0' end
local now, cost, margin = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local maximum, rate = tonumber(state[2]), tonumber(state[3])
local available = math.min(maximum, tonumber(state[1]) + math.max(0, now - tonumber(state[4])) * rate)
local needed = cost + maximum * margin
if available >= needed or rate <= 0 then
  redis.call('HSET', KEYS[1], 'available', available - cost, 'at', now)
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
  return '0'
end
return tostring((needed - available) / rate)
"""


class ShopThrottle:
    """Reserve before a call (`wait_needed`), record what Shopify said after it (`record`)."""

    def __init__(self, client: redis.Redis, namespace: str, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.namespace = namespace
        self.clock = clock
        self._reserve = client.register_script(_RESERVE)

    def _key(self, shop_domain: str) -> str:
        return f"{self.namespace}:shopify:bucket:{shop_domain}"

    def wait_needed(self, shop_domain: str, cost: int) -> float:
        """0 after reserving `cost` points of the shop's bucket; else how long until it holds them (nothing taken)."""
        answer = self._reserve(keys=[self._key(shop_domain)], args=[self.clock(), cost, SAFETY_MARGIN, STATE_TTL_S])
        return float(answer)

    def record(self, shop_domain: str, extensions: dict[str, Any] | None) -> None:
        """Keep the bucket from an answer's `extensions.cost.throttleStatus` (ignored when the answer had none)."""
        status = ((extensions or {}).get("cost") or {}).get("throttleStatus")
        if not isinstance(status, dict):
            return
        try:
            values = {
                "available": float(status["currentlyAvailable"]),
                "maximum": float(status["maximumAvailable"]),
                "rate": float(status["restoreRate"]),
                "at": self.clock(),
            }
        except (KeyError, TypeError, ValueError):
            return  # a malformed block teaches us nothing; the next answer will
        key = self._key(shop_domain)
        with self.client.pipeline() as pipe:
            pipe.hset(key, mapping=values)
            pipe.expire(key, STATE_TTL_S)
            pipe.execute()

    def refill_time(self, extensions: dict[str, Any] | None) -> float | None:
        """After THROTTLED: the seconds until the bucket holds the query's requested cost, from the answer's block."""
        cost = (extensions or {}).get("cost") or {}
        status = cost.get("throttleStatus")
        try:
            requested = float(cost["requestedQueryCost"])
            available = float(status["currentlyAvailable"])  # type: ignore[index]
            rate = float(status["restoreRate"])  # type: ignore[index]
        except (KeyError, TypeError, ValueError):
            return None
        return max(requested - available, 0.0) / rate if rate > 0 else None
