"""Signs requests exactly as Shopify does: webhooks, App Home ID tokens, extension tokens, app-proxy and OAuth queries.

Built from Shopify's documented formats (shared contract §1.2, §2.1, §3.1-3.2, §5.1-5.3), independent of the app's own
verification code, and pinned by Shopify's published test vectors in tests/shopify_fake/test_signing.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

import jwt

QueryValue = str | Sequence[str]

# The test app's credentials: the app under test is configured with them, and the fake and the signers use them.
TEST_API_KEY = "test-api-key"
TEST_API_SECRET = "shpss_test_secret_0123456789abcdef"


@dataclass
class SignedWebhook:
    body: bytes
    headers: dict[str, str]


def _values(value: QueryValue) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


@dataclass
class ShopifySigner:
    api_key: str
    api_secret: str

    def _secret(self, secret: str | None) -> bytes:
        return (secret or self.api_secret).encode()

    def webhook_hmac(self, body: bytes, secret: str | None = None) -> str:
        """Base64 HMAC-SHA256 of the raw body bytes: the `X-Shopify-Hmac-Sha256` header."""
        return base64.b64encode(hmac.new(self._secret(secret), body, hashlib.sha256).digest()).decode()

    def signed_webhook(
        self,
        topic: str,
        payload: dict[str, Any] | bytes,
        *,
        shop: str = "test-shop.myshopify.com",
        event_id: str | None = None,
        webhook_id: str | None = None,
        api_version: str = "2026-10",
        triggered_at: str | None = None,
        secret: str | None = None,
    ) -> SignedWebhook:
        """A webhook delivery: raw JSON body plus every `X-Shopify-*` header, HMAC over the exact bytes."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Shop-Domain": shop,
            "X-Shopify-API-Version": api_version,
            "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
            "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
            "X-Shopify-Triggered-At": triggered_at or datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "X-Shopify-Hmac-Sha256": self.webhook_hmac(body, secret),
        }
        return SignedWebhook(body=body, headers=headers)

    def app_home_token(
        self,
        *,
        shop: str = "test-shop.myshopify.com",
        user_id: str = "69523243207",
        audience: str | None = None,
        lifetime: int = 60,
        issued_at: int | None = None,
        secret: str | None = None,
        algorithm: str = "HS256",
        **claims: Any,
    ) -> str:
        """An App Bridge ID token for the embedded admin: iss = shop admin, dest = shop, sub = staff user, 60 s.

        `claims` override or add claims (a mismatched `iss`, a future `nbf`); a claim given as None is left out.
        """
        iat = int(time.time()) if issued_at is None else issued_at
        payload: dict[str, Any] = {
            "iss": f"https://{shop}/admin",
            "dest": f"https://{shop}",
            "aud": audience or self.api_key,
            "sub": user_id,
            "exp": iat + lifetime,
            "nbf": iat,
            "iat": iat,
            "jti": str(uuid.uuid4()),
            "sid": str(uuid.uuid4()),
            # Shopify's own signature over the session; opaque to apps, present in every real token.
            "sig": secrets.token_hex(32),
            **claims,
        }
        return jwt.encode(
            {k: v for k, v in payload.items() if v is not None}, self._secret(secret), algorithm=algorithm
        )

    def session_token(
        self,
        *,
        shop: str = "test-shop.myshopify.com",
        customer_id: str | None = None,
        audience: str | None = None,
        lifetime: int = 300,
        issued_at: int | None = None,
        secret: str | None = None,
        algorithm: str = "HS256",
    ) -> str:
        """A checkout / customer-account extension token: no iss or sid, bare-domain dest, sub = customer gid."""
        iat = int(time.time()) if issued_at is None else issued_at
        claims: dict[str, Any] = {
            "dest": shop,
            "aud": audience or self.api_key,
            "exp": iat + lifetime,
            "nbf": iat,
            "iat": iat,
            "jti": str(uuid.uuid4()),
        }
        if customer_id is not None:
            claims["sub"] = f"gid://shopify/Customer/{customer_id}"
        return jwt.encode(claims, self._secret(secret), algorithm=algorithm)

    def proxy_query(
        self,
        *,
        shop: str = "test-shop.myshopify.com",
        customer_id: str | None = None,
        timestamp: int | None = None,
        extra: Mapping[str, QueryValue] | None = None,
        secret: str | None = None,
    ) -> str:
        """The query string Shopify's app proxy appends, signed.

        The signed message is the sorted `key=value` pairs with a multi-valued parameter's values joined by commas,
        concatenated with no separator; the signature is its hex HMAC. The query repeats multi-valued parameters.
        """
        params: dict[str, list[str]] = {
            "shop": [shop],
            "logged_in_customer_id": [customer_id or ""],
            "path_prefix": ["/apps/loyalty"],
            "timestamp": [str(int(time.time()) if timestamp is None else timestamp)],
            **{key: _values(value) for key, value in (extra or {}).items()},
        }
        message = "".join(f"{key}={','.join(params[key])}" for key in sorted(params))
        params["signature"] = [hmac.new(self._secret(secret), message.encode(), hashlib.sha256).hexdigest()]
        return urlencode(params, doseq=True)

    def oauth_query(self, params: Mapping[str, str], *, secret: str | None = None) -> str:
        """An install or OAuth-callback query signed with `hmac`: sorted `key=value` pairs joined by `&`, hex HMAC."""
        message = "&".join(f"{key}={params[key]}" for key in sorted(params))
        digest = hmac.new(self._secret(secret), message.encode(), hashlib.sha256).hexdigest()
        return urlencode({**params, "hmac": digest})
