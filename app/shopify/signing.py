"""Producing Shopify-style webhook signatures, for the demo's sample orders and outbound test tooling."""

from __future__ import annotations

import base64
import hashlib
import hmac


def sign_webhook_body(secret: str, body: bytes) -> str:
    """base64 HMAC-SHA256 of the raw body, the value of X-Shopify-Hmac-Sha256."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
