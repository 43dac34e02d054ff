"""The cached GetLoyaltyProfile: an answer kept for one shopper is never served to another, whichever door asks (an
extension's token or the app proxy), and a kept answer whose row versions are gone is never served at all."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from app.graphql import read_cache
from app.loyalty.base.installation import Installation
from tests.graphql.storefront_helpers import SHOPPER_A, SHOPPER_B, earn_points, seed_programme
from tests.helpers import GET_LOYALTY_PROFILE

ASK_FOR_A = {"query": GET_LOYALTY_PROFILE, "variables": {"customerId": SHOPPER_A}}


@pytest.fixture
def programme(app, db_session, shop):  # type: ignore[no-untyped-def]
    return seed_programme(db_session, shop)


def by_token(client, shopify, customer, body=ASK_FOR_A):  # type: ignore[no-untyped-def]
    token = shopify.session_token(shop="test-shop.myshopify.com", customer_id=customer)
    return client.post("/graphql", json=body, headers={"Authorization": f"Bearer {token}"}).get_json()


def by_proxy(client, shopify, customer, body=ASK_FOR_A):  # type: ignore[no-untyped-def]
    return client.post(f"/proxy/graphql?{shopify.proxy_query(customer_id=customer)}", json=body).get_json()


def kept_answers(redis_client, redis_namespace) -> list[bytes]:  # type: ignore[no-untyped-def]
    return list(redis_client.scan_iter(match=f"{redis_namespace}:storefront:*"))


def test_a_kept_answer_is_never_served_to_another_shopper(  # type: ignore[no-untyped-def]
    client, shopify, programme, redis_client, redis_namespace
) -> None:
    assert by_token(client, shopify, SHOPPER_A)["data"]["loyaltyProfile"]["points_balance"] == 1_200
    assert len(kept_answers(redis_client, redis_namespace)) == 1
    # B sends A's very request, by either door: the answer kept for A is not theirs to read.
    for door in (by_token, by_proxy):
        refused = door(client, shopify, SHOPPER_B)
        assert refused["data"]["loyaltyProfile"] is None
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert len(kept_answers(redis_client, redis_namespace)) == 1  # a refusal is never kept
    own = {"query": GET_LOYALTY_PROFILE, "variables": {"customerId": SHOPPER_B}}
    assert by_proxy(client, shopify, SHOPPER_B, own)["data"]["loyaltyProfile"]["points_balance"] == 40
    # A guest (a blank customer on the proxy) is refused too.
    guest = by_proxy(client, shopify, None)
    assert guest["data"]["loyaltyProfile"] is None
    assert by_token(client, shopify, SHOPPER_A)["data"]["loyaltyProfile"]["points_balance"] == 1_200


def test_a_balance_change_retires_the_kept_answer_for_both_doors(  # type: ignore[no-untyped-def]
    client, shopify, db_session, shop, programme, redis_client, redis_namespace
) -> None:
    assert by_proxy(client, shopify, SHOPPER_A)["data"]["loyaltyProfile"]["points_balance"] == 1_200
    assert by_token(client, shopify, SHOPPER_A)["data"]["loyaltyProfile"]["points_balance"] == 1_200
    earn_points(db_session, shop, SHOPPER_A, 300, datetime.now(timezone.utc))
    db_session.commit()
    # The kept answers are still in Redis, stamped with the old row version: neither door serves them.
    assert kept_answers(redis_client, redis_namespace)
    assert by_token(client, shopify, SHOPPER_A)["data"]["loyaltyProfile"]["points_balance"] == 1_500
    assert by_proxy(client, shopify, SHOPPER_A)["data"]["loyaltyProfile"]["points_balance"] == 1_500


@pytest.mark.parametrize(
    ("zone", "before", "after"),
    [
        # Local midnight of 1 January: 18:30 UTC in India, 18:15 in Nepal, 03:30 in Newfoundland, 13:30 in Adelaide.
        ("Asia/Kolkata", datetime(2026, 12, 31, 18, 29), datetime(2026, 12, 31, 18, 31)),
        ("Asia/Kathmandu", datetime(2026, 12, 31, 18, 14), datetime(2026, 12, 31, 18, 16)),
        ("America/St_Johns", datetime(2027, 1, 1, 3, 29), datetime(2027, 1, 1, 3, 31)),
        ("Australia/Adelaide", datetime(2026, 12, 31, 13, 29), datetime(2026, 12, 31, 13, 31)),
    ],
)
def test_a_calendar_year_answer_is_retired_at_the_shops_own_new_year(zone: str, before, after) -> None:  # type: ignore[no-untyped-def]
    """Tier progress over a calendar year starts again at the local new year; an answer kept a minute before it must
    not be served a minute after, even where that midnight falls inside a UTC hour."""
    snap = read_cache.Snapshot(1, Installation.INSTALLED, "calendar_year", zone, "10", "20")
    kept = read_cache.version(snap, before.replace(tzinfo=timezone.utc))
    assert read_cache.version(snap, after.replace(tzinfo=timezone.utc)) != kept
    # Within a local year the stamp stays, so the answer is not rebuilt every hour.
    assert read_cache.version(snap, (before - timedelta(hours=5)).replace(tzinfo=timezone.utc)) == kept


def test_a_rolling_window_answer_is_at_most_a_quarter_of_an_hour_behind() -> None:
    snap = read_cache.Snapshot(1, Installation.INSTALLED, "rolling_12_months", "UTC", "10", "20")
    at = datetime(2026, 12, 1, 14, 0, tzinfo=timezone.utc)
    assert read_cache.version(snap, at + timedelta(minutes=14)) == read_cache.version(snap, at)
    assert read_cache.version(snap, at + timedelta(minutes=15)) != read_cache.version(snap, at)
    lifetime = read_cache.Snapshot(1, Installation.INSTALLED, "lifetime", "UTC", "10", "20")
    assert read_cache.version(lifetime, at + timedelta(days=400)) == read_cache.version(lifetime, at)
