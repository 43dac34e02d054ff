"""app.graphql.rate_limit on real Redis: a check whose reply is never read leaves nothing for the next check that is
handed the same pooled connection."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from app.graphql import rate_limit
from tests.redis_proxy import StallingRedisProxy


@pytest.fixture
def slow_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client whose replies arrive 0.2 s after Redis sent them, as over a slow network: a check abandoned right
    after its EVAL went out leaves the reply in flight, where redis-py's own check of a pooled connection (data
    already waiting on it) cannot see it."""
    with StallingRedisProxy(redis_url, reply_delay_s=0.2) as proxy:
        client = redis.Redis.from_url(proxy.url)
        yield client
        client.close()


def test_a_reply_left_unread_never_reaches_the_next_check_on_that_connection(  # type: ignore[no-untyped-def]
    slow_client, redis_client, redis_namespace, clean_state
) -> None:
    namespace = f"{redis_namespace}:pending-check"
    redis_client.set(f"{namespace}:cache:first", "first answer")
    redis_client.set(f"{namespace}:cache:second", "second answer")
    window = int(600.0 // rate_limit.WINDOW_SECONDS)
    second_shop_counter = f"{namespace}:ratelimit:shop:second.myshopify.com:{window}"
    redis_client.set(second_shop_counter, 1)  # one request of this window already counted

    with (
        pytest.raises(RuntimeError, match="snapshot failed"),
        rate_limit.begin(
            slow_client,
            namespace,
            rate_limit.Limits(),
            shop="first.myshopify.com",
            customer_id="1",
            now=600.0,
            cache_key=f"{namespace}:cache:first",
        ),
    ):
        raise RuntimeError("the database snapshot failed")  # before the reply was read

    with rate_limit.begin(
        slow_client,
        namespace,
        rate_limit.Limits(per_shop=1),
        shop="second.myshopify.com",
        customer_id=None,
        now=600.0,
        cache_key=f"{namespace}:cache:second",
    ) as check:
        verdict = check.verdict()
    # Its own reply: its shop's second request of the window (over a budget of 1) and its own cache key's value.
    # The first check's reply said [1, 1, b"first answer"]: allowed, and the other cache's value.
    assert verdict == rate_limit.Verdict(allowed=False, retry_after=60, cached=b"second answer")
    assert redis_client.get(second_shop_counter) == b"2"
    assert redis_client.get(f"{namespace}:ratelimit:shop:first.myshopify.com:{window}") == b"1"  # its EVAL did run
