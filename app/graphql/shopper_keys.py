"""The storefront's Redis keys that name a shopper: the read cache's kept answers (read_cache.py) and the per-shopper
rate-limit counters (rate_limit.py), and the one way to remove them all.

Both are keyed `<namespace>:<kind>:<shop domain>:<customer id>:<rest>` (`storefront` answers, `ratelimit:shopper`
counters), so a shopper's keys are found by one SCAN whatever operation, variables or window the rest holds. A
customers/redact removes them once the database part has committed (app/events/consumer.py): a kept answer is never
served once the profile row changed, but it still holds what it answered until it expires.
"""

from __future__ import annotations

import re

import redis

CACHE = "storefront"
SHOPPER_COUNTER = "ratelimit:shopper"
# SCAN's MATCH is a glob: a literal part must have these escaped.
_GLOB_SPECIALS = re.compile(r"([*?\[\]\\])")


def shopper_prefix(namespace: str, kind: str, *, shop_domain: str, customer_id: str | None) -> str:
    """Where every key of this kind for this shopper (None: a guest of the shop) begins."""
    return f"{namespace}:{kind}:{shop_domain}:{customer_id or '-'}:"


def forget_shopper(client: redis.Redis, namespace: str, *, shop_domain: str, customer_id: str) -> int:
    """Delete every storefront key of this shopper (kept answers, rate-limit counters); returns how many went.

    Idempotent. A read in flight may still keep an answer after this (it expires within read_cache.CACHE_SECONDS)."""
    prefixes = tuple(
        shopper_prefix(namespace, kind, shop_domain=shop_domain, customer_id=customer_id)
        for kind in (CACHE, SHOPPER_COUNTER)
    )
    # One pass over the keyspace for both kinds (a redaction is rare; SCAN does not block Redis as KEYS would).
    pattern = f"{_literal(namespace)}:*:{_literal(shop_domain)}:{_literal(customer_id)}:*"
    found = {key for key in client.scan_iter(match=pattern, count=1000) if key.decode().startswith(prefixes)}
    return int(client.unlink(*found)) if found else 0


def _literal(text: str) -> str:
    return _GLOB_SPECIALS.sub(r"\\\1", text)
