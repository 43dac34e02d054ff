"""The signers reproduce Shopify's published vectors and claim sets, so tests sign exactly as Shopify does."""

from __future__ import annotations

import time
from urllib.parse import parse_qs

import jwt

from tests.shopify_fake.signing import ShopifySigner

SIGNER = ShopifySigner(api_key="k", api_secret="hush")
APP = ShopifySigner(api_key="test-api-key", api_secret="shpss_test_secret_0123456789abcdef")


def test_webhook_hmac_matches_the_documented_vector() -> None:
    body = b'{"id":820982911946154508,"email":"jon@example.com"}'
    assert SIGNER.webhook_hmac(body) == "D0UMXmhjwBRi4y66TmhJrDlhQABD7zI2fm3p6/QLMo8="


def test_reserialised_json_changes_the_hmac() -> None:
    body = b'{"id": 820982911946154508, "email": "jon@example.com"}'
    assert SIGNER.webhook_hmac(body) == "8oTAlJ0HtUEbJDFmjrpj7ILB73p0WlxjdkJwg509B48="


def test_a_signed_webhook_carries_every_shopify_header() -> None:
    delivery = APP.signed_webhook("orders/paid", {"id": 1}, shop="a.myshopify.com", event_id="e-1", webhook_id="w-1")

    assert delivery.body == b'{"id":1}'
    assert {name: value for name, value in delivery.headers.items() if name != "X-Shopify-Triggered-At"} == {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/paid",
        "X-Shopify-Shop-Domain": "a.myshopify.com",
        "X-Shopify-API-Version": "2026-10",
        "X-Shopify-Webhook-Id": "w-1",
        "X-Shopify-Event-Id": "e-1",
        "X-Shopify-Hmac-Sha256": APP.webhook_hmac(b'{"id":1}'),
    }
    assert delivery.headers["X-Shopify-Triggered-At"].endswith("+00:00")


def test_app_proxy_signature_matches_the_documented_vector() -> None:
    query = SIGNER.proxy_query(
        shop="shop-name.myshopify.com",
        customer_id="1",
        timestamp=1317327555,
        extra={"path_prefix": "/apps/awesome_reviews", "extra": ["1", "2"]},
    )

    params = parse_qs(query)
    assert params["signature"] == ["4c68c8624d737112c91818c11017d24d334b524cb5c2b8ba08daa056f7395ddb"]
    assert params["extra"] == ["1", "2"]  # a multi-valued parameter repeats in the query


def test_oauth_query_hmac_matches_the_documented_vector() -> None:
    query = SIGNER.oauth_query(
        {"shop": "some-shop.myshopify.com", "code": "a94a110d86d2452eb3e2af4cfb8a3828", "timestamp": "1337178173"}
    )

    assert parse_qs(query)["hmac"] == ["2cb1a277650a659f1b11e92a4a64275b128e037f2c3390e3c8fd2d8721dac9e2"]


def test_an_app_home_token_has_the_claims_of_a_real_one() -> None:
    now = int(time.time())
    token = APP.app_home_token(shop="a.myshopify.com", user_id="42", issued_at=now)

    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, APP.api_secret, algorithms=["HS256"], audience=APP.api_key)
    assert set(claims) == {"iss", "dest", "aud", "sub", "exp", "nbf", "iat", "jti", "sid", "sig"}
    assert (claims["iss"], claims["dest"], claims["sub"]) == (
        "https://a.myshopify.com/admin",
        "https://a.myshopify.com",
        "42",
    )
    assert (claims["iat"], claims["nbf"], claims["exp"]) == (now, now, now + 60)


def test_an_app_home_token_claim_can_be_overridden_or_left_out() -> None:
    token = APP.app_home_token(shop="a.myshopify.com", iss="https://evil.test/admin", sid=None)

    claims = jwt.decode(token, APP.api_secret, algorithms=["HS256"], audience=APP.api_key)
    assert claims["iss"] == "https://evil.test/admin" and "sid" not in claims


def test_an_extension_token_has_no_issuer_or_session_and_a_bare_domain() -> None:
    signed_in = APP.session_token(shop="a.myshopify.com", customer_id="7")
    guest = APP.session_token(shop="a.myshopify.com")

    claims = jwt.decode(signed_in, APP.api_secret, algorithms=["HS256"], audience=APP.api_key)
    assert set(claims) == {"dest", "aud", "sub", "exp", "nbf", "iat", "jti"}
    assert (claims["dest"], claims["sub"], claims["exp"] - claims["iat"]) == (
        "a.myshopify.com",
        "gid://shopify/Customer/7",
        300,
    )
    assert "sub" not in jwt.decode(guest, APP.api_secret, algorithms=["HS256"], audience=APP.api_key)
