"""Verify a webhook delivery: base64 HMAC-SHA256 of the raw body with the app secret (the previous secret too, for
the hour after a rotation during which Shopify may still sign with it)."""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from app.shopify.signing import sign_webhook_body

SHOP_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")


@dataclass(frozen=True)
class WebhookCheck:
    """The verdict on one delivery; `status` is what to answer when not ok (400 malformed, 401 bad signature)."""

    ok: bool
    code: str = "ok"
    detail: str = ""
    status: int = 200
    shop: str | None = None
    topic: str | None = None
    webhook_id: str | None = None
    event_id: str | None = None
    triggered_at: str | None = None
    api_version: str | None = None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    return value.strip() if value else None


def verify_webhook(headers: Mapping[str, str], raw_body: bytes, secrets: Sequence[str]) -> WebhookCheck:
    """Check the signature first (nothing else is trusted before it), then the headers Shopify always sends."""
    signature = _header(headers, "X-Shopify-Hmac-Sha256")
    if not signature:
        return WebhookCheck(False, "missing_hmac_header", "X-Shopify-Hmac-Sha256 header is missing", 401)
    if not any(hmac.compare_digest(signature, sign_webhook_body(secret, raw_body)) for secret in secrets):
        return WebhookCheck(False, "invalid_hmac", "X-Shopify-Hmac-Sha256 does not match the body", 401)

    shop = (_header(headers, "X-Shopify-Shop-Domain") or "").lower()
    topic = _header(headers, "X-Shopify-Topic")
    if not SHOP_DOMAIN.match(shop):
        return WebhookCheck(
            False, "invalid_shop", "X-Shopify-Shop-Domain is missing or not a myshopify.com domain", 400
        )
    if not topic:
        return WebhookCheck(False, "missing_topic", "X-Shopify-Topic header is missing", 400)
    webhook_id = _header(headers, "X-Shopify-Webhook-Id")
    event_id = _header(headers, "X-Shopify-Event-Id")
    if not webhook_id and not event_id:
        return WebhookCheck(False, "missing_id", "X-Shopify-Event-Id and X-Shopify-Webhook-Id are both missing", 400)
    return WebhookCheck(
        True,
        shop=shop,
        topic=topic,
        webhook_id=webhook_id,
        event_id=event_id,
        triggered_at=_header(headers, "X-Shopify-Triggered-At"),
        api_version=_header(headers, "X-Shopify-API-Version"),
    )
