"""Verify a webhook delivery: the base64 HMAC-SHA256 of the raw body with the app secret (and the previous secret, for
the hour after a rotation during which Shopify may still sign with it), then the headers every delivery carries.

The check is the one Shopify's `shopify_app` does in `verify_webhook_req` (`_body_hmac_in_header`): HMAC-SHA256 of
the body's UTF-8 bytes, base64, `hmac.compare_digest`, current secret first. It is done here rather than through
that function because the function also parses and re-serialises the whole JSON body to redact a log line we never
use: on /webhooks, the hottest path of the app, that was more CPU than the HMAC and every other check together
(about 60 µs of a 3 KB order, tens of milliseconds for a 2.4 MB one), and it raised RecursionError on deep nesting.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from app.shopify.shop_domains import is_shop_domain


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
    # The body as text when ok: decoded here, once, since a body that is not UTF-8 is refused before anything else.
    body: str = ""


# The inbox keeps the webhook id (event_queue.webhook_id, 128 characters); Shopify's is a UUID.
WEBHOOK_ID_MAX_LENGTH = 128


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    return value.strip() if value else None


def verify_webhook(headers: Mapping[str, str], raw_body: bytes, secrets: Sequence[str]) -> WebhookCheck:
    """Check the signature first (nothing else is trusted before it), then the headers Shopify always sends."""
    if not secrets:
        raise ValueError("at least one app secret is needed")
    try:
        # Shopify signs UTF-8 bodies only; the HMAC is over the raw bytes, never over re-serialised JSON.
        body = raw_body.decode("utf-8")
    except UnicodeDecodeError:
        return WebhookCheck(False, "invalid_hmac", "the body is not UTF-8, so Shopify did not sign it", 401)
    received = _header(headers, "X-Shopify-Hmac-Sha256")
    if not received:
        # Shopify's App Review expects 401 for any unauthenticated compliance webhook, so a missing header is 401
        # like a wrong one (shopify_app would answer 400).
        return WebhookCheck(False, "missing_hmac_header", "X-Shopify-Hmac-Sha256 header is missing", 401)
    if not any(hmac.compare_digest(_signature(secret, raw_body), received.encode()) for secret in secrets[:2]):
        return WebhookCheck(False, "invalid_hmac", "X-Shopify-Hmac-Sha256 does not match the body", 401)

    shop = _header(headers, "X-Shopify-Shop-Domain") or ""
    topic = _header(headers, "X-Shopify-Topic")
    if not is_shop_domain(shop):
        return WebhookCheck(
            False, "invalid_shop", "X-Shopify-Shop-Domain is missing or not a myshopify.com domain", 400
        )
    if not topic:
        return WebhookCheck(False, "missing_topic", "X-Shopify-Topic header is missing", 400)
    webhook_id = _header(headers, "X-Shopify-Webhook-Id")
    event_id = _header(headers, "X-Shopify-Event-Id")
    if not webhook_id and not event_id:
        return WebhookCheck(False, "missing_id", "X-Shopify-Event-Id and X-Shopify-Webhook-Id are both missing", 400)
    if webhook_id and len(webhook_id) > WEBHOOK_ID_MAX_LENGTH:
        message = (
            f"X-Shopify-Webhook-Id is {len(webhook_id)} characters long; Shopify's are at most {WEBHOOK_ID_MAX_LENGTH}"
        )
        return WebhookCheck(False, "invalid_webhook_id", message, 400)
    return WebhookCheck(
        True,
        shop=shop.lower(),
        topic=topic,
        webhook_id=webhook_id,
        event_id=event_id,
        triggered_at=_header(headers, "X-Shopify-Triggered-At"),
        api_version=_header(headers, "X-Shopify-API-Version"),
        body=body,
    )


def _signature(secret: str, body: bytes) -> bytes:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
