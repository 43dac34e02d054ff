"""app.graphql.shopper_keys on real Redis: forgetting a shopper (customers/redact) removes exactly their storefront
keys, whatever operation, variables or window the keys hold, and nobody else's."""

from __future__ import annotations

from app.graphql import rate_limit, read_cache, shopper_keys

SHOP = "first.myshopify.com"


def test_forgetting_a_shopper_removes_their_answers_and_counters_and_no_one_else_s(  # type: ignore[no-untyped-def]
    redis_client, redis_namespace, clean_state
) -> None:
    def keys_of(shop: str, customer: str | None) -> list[str]:
        answers = [
            read_cache.cache_key(
                redis_namespace, shop_domain=shop, customer_id=customer, operation_hash=operation, variables=variables
            )
            for operation, variables in (("a" * 64, {"customerId": customer}), ("b" * 64, None))
        ]
        checks = [
            rate_limit.begin(
                redis_client, redis_namespace, rate_limit.Limits(), shop=shop, customer_id=customer, now=now
            )
            for now in (600.0, 660.0)  # the window now and the one before: both live
        ]
        for check in checks:
            check.verdict()
        for key in answers:
            redis_client.set(key, "stamp\nanswer")
        return answers

    forgotten = keys_of(SHOP, "1234")
    kept = [*keys_of(SHOP, "123"), *keys_of(SHOP, "12345"), *keys_of("second.myshopify.com", "1234")]
    kept += keys_of(SHOP, None)  # a guest
    before = {key.decode() for key in redis_client.scan_iter(match=f"{redis_namespace}:*")}
    counters = {key for key in before if ":ratelimit:shopper:first.myshopify.com:1234:" in key}
    assert len(counters) == 2

    removed = shopper_keys.forget_shopper(redis_client, redis_namespace, shop_domain=SHOP, customer_id="1234")

    assert removed == 4
    after = {key.decode() for key in redis_client.scan_iter(match=f"{redis_namespace}:*")}
    assert before - after == {*forgotten, *counters}
    assert set(kept) <= after
    assert shopper_keys.forget_shopper(redis_client, redis_namespace, shop_domain=SHOP, customer_id="1234") == 0
