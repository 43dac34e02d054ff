"""The theme's door: /proxy/graphql and /proxy/r/<code> accept only Shopify's signed app-proxy requests, and the
shopper is only ever the signed `logged_in_customer_id`."""

from __future__ import annotations

import hashlib
import json
import time
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from app.models import ReferralClick, ReferralLink
from tests.graphql.storefront_helpers import SHOPPER_A, SHOPPER_B, operation, seed_programme
from tests.helpers import GET_LOYALTY_PROFILE

PANEL_HASH = hashlib.sha256(operation("LoyaltyPanel").encode()).hexdigest()


@pytest.fixture
def programme(app, db_session, shop):  # type: ignore[no-untyped-def]
    return seed_programme(db_session, shop)


def proxied(client, shopify, body=None, *, customer=SHOPPER_A, extra=None, **signing):  # type: ignore[no-untyped-def]
    query = shopify.proxy_query(customer_id=customer, extra=extra, **signing)
    if body is None:
        return client.get(f"/proxy/graphql?{query}")
    return client.post(f"/proxy/graphql?{query}", json=body)


def test_a_signed_request_reads_the_signed_shoppers_membership(client, shopify, programme) -> None:  # type: ignore[no-untyped-def]
    response = proxied(client, shopify, {"id": PANEL_HASH})
    assert response.status_code == 200, response.get_json()
    assert "Access-Control-Allow-Origin" not in response.headers  # same origin as the storefront
    me = response.get_json()["data"]["me"]
    assert (me["customer_id"], me["points_balance"]) == (SHOPPER_A, 1_200)
    assert me["referral"]["share_url"].endswith(f"/apps/loyalty/r/{me['referral']['code']}")


def test_get_runs_a_persisted_query_from_the_signed_query_string(client, shopify, programme) -> None:  # type: ignore[no-untyped-def]
    response = proxied(client, shopify, extra={"id": PANEL_HASH})
    assert response.status_code == 200
    assert response.get_json()["data"]["me"]["points_balance"] == 1_200
    mutation = hashlib.sha256(operation("RedeemForCode").encode()).hexdigest()
    refused = proxied(client, shopify, extra={"id": mutation, "variables": json.dumps({"input": {}})})
    assert refused.status_code == 405 and "POST" in refused.get_json()["message"]


def test_a_guest_gets_the_programme_and_cannot_ask_for_a_customer(client, shopify, programme) -> None:  # type: ignore[no-untyped-def]
    guest = proxied(client, shopify, {"id": PANEL_HASH}, customer=None).get_json()["data"]
    assert guest["me"] is None and guest["programme"]["rewards"]
    asked = proxied(
        client, shopify, {"query": GET_LOYALTY_PROFILE, "variables": {"customerId": SHOPPER_A}}, customer=None
    ).get_json()
    assert asked["data"]["loyaltyProfile"] is None and asked["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_nothing_in_the_body_names_another_customer(client, shopify, programme, db_session) -> None:  # type: ignore[no-untyped-def]
    read = proxied(
        client, shopify, {"query": GET_LOYALTY_PROFILE, "variables": {"customerId": SHOPPER_A}}, customer=SHOPPER_B
    ).get_json()
    assert read["data"]["loyaltyProfile"] is None
    spend = proxied(
        client,
        shopify,
        {
            "id": hashlib.sha256(operation("RedeemForCode").encode()).hexdigest(),
            "variables": {"input": {"customerId": SHOPPER_A, "rewardId": str(programme.cheap_reward)}},
        },
        customer=SHOPPER_B,
    ).get_json()["data"]["redeemReward"]
    assert spend["success"] is False and spend["redemption_id"] is None and spend["new_balance"] == 0


def test_another_shops_signature_sees_only_that_shop(client, shopify, programme, other_shop) -> None:  # type: ignore[no-untyped-def]
    me = proxied(client, shopify, {"id": PANEL_HASH}, shop="other-shop.myshopify.com").get_json()["data"]["me"]
    assert me["points_balance"] == 0


def _tampered(shopify, field: str, value: str) -> str:  # type: ignore[no-untyped-def]
    query = shopify.proxy_query(customer_id=SHOPPER_B)
    pairs = [pair.split("=", 1) for pair in query.split("&")]
    return urlencode([(k, value if k == field else v) for k, v in pairs])


@pytest.mark.parametrize(
    ("make_query", "reason"),
    [
        (lambda s: _tampered(s, "logged_in_customer_id", SHOPPER_A), "invalid signature"),
        (lambda s: _tampered(s, "signature", "0" * 64), "invalid signature"),
        (lambda s: s.proxy_query(customer_id=SHOPPER_A, timestamp=int(time.time()) - 91), "timestamp too old"),
        (lambda s: s.proxy_query(customer_id=SHOPPER_A, timestamp=int(time.time()) + 300), "timestamp too old"),
        (lambda s: _tampered(s, "timestamp", "soon"), "invalid timestamp"),
        (
            lambda s: "&".join(
                p for p in s.proxy_query(customer_id=SHOPPER_A).split("&") if not p.startswith("signature=")
            ),
            "missing signature",
        ),
        (lambda s: s.proxy_query(customer_id=SHOPPER_A, secret="another-apps-secret"), "invalid signature"),
        (
            lambda s: s.proxy_query(
                customer_id=SHOPPER_A, extra={"shop": ["test-shop.myshopify.com", "other-shop.myshopify.com"]}
            ),
            "multiple shop parameters",
        ),
        (
            lambda s: s.proxy_query(customer_id=SHOPPER_A, extra={"logged_in_customer_id": [SHOPPER_A, SHOPPER_B]}),
            "logged_in_customer_id is repeated",
        ),
        (lambda s: s.proxy_query(customer_id="gid://shopify/Customer/1"), "not a customer id"),
        (lambda s: s.proxy_query(customer_id=SHOPPER_A, shop="evil.example.com"), "myshopify.com"),
        (lambda s: "", "missing timestamp"),
        # Not ASCII: the signature comparison raised TypeError, a 500 anyone could cause with no credentials.
        (lambda s: _tampered(s, "signature", "\u00e9"), "signature is not a hex HMAC-SHA256"),
        (
            lambda s: s.proxy_query(customer_id=SHOPPER_A, extra={"path_prefix": ["@evil.example", "/apps/loyalty"]}),
            "path_prefix is repeated",
        ),
        (
            lambda s: s.proxy_query(customer_id=SHOPPER_A, extra={"path_prefix": "javascript:alert(1)//"}),
            "not an app proxy path",
        ),
    ],
    ids=[
        "customer-swapped",
        "forged-signature",
        "stale",
        "future",
        "bad-timestamp",
        "no-signature",
        "wrong-secret",
        "two-shops",
        "two-customers",
        "gid-customer",
        "not-myshopify",
        "nothing",
        "non-ascii-signature",
        "two-path-prefixes",
        "foreign-path-prefix",
    ],
)
def test_the_signature_matrix_refuses_with_401_and_a_reason(client, shopify, programme, make_query, reason) -> None:  # type: ignore[no-untyped-def]
    response = client.post(f"/proxy/graphql?{make_query(shopify)}", json={"id": PANEL_HASH})
    assert response.status_code == 401, response.get_json()
    body = response.get_json()
    assert body["error"] == "invalid_proxy_signature" and reason in body["message"]


def test_an_uninstalled_or_unknown_shop_is_401(client, shopify, programme) -> None:  # type: ignore[no-untyped-def]
    response = proxied(client, shopify, {"id": PANEL_HASH}, shop="never-installed.myshopify.com")
    assert response.status_code == 401 and response.get_json()["error"] == "shop_not_installed"


def test_a_referral_link_records_the_click_and_lands_the_friend_with_the_code(  # type: ignore[no-untyped-def]
    client, shopify, programme, db_session
) -> None:
    me = proxied(client, shopify, {"id": PANEL_HASH}).get_json()["data"]["me"]
    code = me["referral"]["code"]
    landing = client.get(
        f"/proxy/r/{code}?{shopify.proxy_query(customer_id=None)}",
        headers={"X-Forwarded-For": "203.0.113.9, 10.0.0.1", "User-Agent": "friend-browser"},
    )
    assert landing.status_code == 302 and landing.headers["Location"] == f"/?ref={code}"
    click = db_session.execute(select(ReferralClick)).scalar_one()
    assert click.ip_hash and "203.0.113.9" not in click.ip_hash and click.user_agent == "friend-browser"
    again = proxied(client, shopify, {"id": PANEL_HASH}).get_json()["data"]["me"]["referral"]
    assert again["clicks"] == 1
    unknown = client.get(f"/proxy/r/REF-NOPE?{shopify.proxy_query(customer_id=None)}")
    assert unknown.status_code == 302 and unknown.headers["Location"] == "/"
    assert db_session.execute(select(ReferralLink)).scalars().all()[0].code == code
    unsigned = client.get(f"/proxy/r/{code}")
    assert unsigned.status_code == 401


def test_a_referral_landing_with_a_nul_lands_without_a_500(client, shopify, programme, db_session) -> None:  # type: ignore[no-untyped-def]
    code = proxied(client, shopify, {"id": PANEL_HASH}).get_json()["data"]["me"]["referral"]["code"]
    query = shopify.proxy_query(customer_id=None)
    for path in ("%00", f"{code}%00"):  # no link has such a code: the friend lands in the shop, as for a typo
        landing = client.get(f"/proxy/r/{path}?{query}")
        assert (landing.status_code, landing.headers["Location"]) == (302, "/")
    landing = client.get(
        f"/proxy/r/{code}?{query}", headers={"User-Agent": "friend\x00browser", "Referer": "https://blog.example/\x00"}
    )
    assert (landing.status_code, landing.headers["Location"]) == (302, f"/?ref={code}")
    click = db_session.execute(select(ReferralClick)).scalar_one()
    assert (click.user_agent, click.landing_page) == ("friendbrowser", "https://blog.example/")
