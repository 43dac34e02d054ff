"""The test signer reproduces Shopify's published vectors, so tests sign exactly as Shopify does."""

from __future__ import annotations

from urllib.parse import parse_qs

from tests.helpers import ShopifySigner


def test_webhook_hmac_matches_the_documented_vector() -> None:
    signer = ShopifySigner(api_key="k", api_secret="hush")
    body = b'{"id":820982911946154508,"email":"jon@example.com"}'
    assert signer.webhook_hmac(body) == "D0UMXmhjwBRi4y66TmhJrDlhQABD7zI2fm3p6/QLMo8="


def test_reserialised_json_changes_the_hmac() -> None:
    signer = ShopifySigner(api_key="k", api_secret="hush")
    body = b'{"id": 820982911946154508, "email": "jon@example.com"}'
    assert signer.webhook_hmac(body) == "8oTAlJ0HtUEbJDFmjrpj7ILB73p0WlxjdkJwg509B48="


def test_app_proxy_signature_matches_the_documented_vector() -> None:
    signer = ShopifySigner(api_key="k", api_secret="hush")
    query = signer.proxy_query(
        shop="shop-name.myshopify.com",
        customer_id="1",
        timestamp=1317327555,
        extra={"path_prefix": "/apps/awesome_reviews", "extra": "1,2"},
    )
    assert parse_qs(query)["signature"] == ["4c68c8624d737112c91818c11017d24d334b524cb5c2b8ba08daa056f7395ddb"]
