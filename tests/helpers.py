"""Signs requests exactly as Shopify does (webhook HMAC, extension session tokens, app-proxy signatures).

Built from Shopify's documented formats (see shared/reference/shopify-contract.md §2, §3, §5), independent of the
app's own verification code, and pinned by Shopify's published test vectors in tests/shopify/test_signer.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

import jwt

# The storefront operations DESIGN.md fixes, verbatim: the tests run exactly what the extensions send.
GET_LOYALTY_PROFILE = """
query GetLoyaltyProfile($customerId: String!) {
  loyaltyProfile(customerId: $customerId) {
    points_balance
    current_tier { name level }
    next_tier { name min_points_required }
    tier_progress_percentage
  }
}
"""
REDEEM_REWARD = """
mutation RedeemReward($input: RedeemRewardInput!) {
  redeemReward(input: $input) { success message points_deducted new_balance }
}
"""


@dataclass
class SignedWebhook:
    body: bytes
    headers: dict[str, str]


@dataclass
class ShopifySigner:
    api_key: str
    api_secret: str

    def webhook_hmac(self, body: bytes, secret: str | None = None) -> str:
        digest = hmac.new((secret or self.api_secret).encode(), body, hashlib.sha256).digest()
        return base64.b64encode(digest).decode()

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
        """A webhook delivery: raw JSON body plus Shopify's headers, HMAC over the exact bytes."""
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
        return jwt.encode(claims, secret or self.api_secret, algorithm=algorithm)

    def proxy_query(
        self,
        *,
        shop: str = "test-shop.myshopify.com",
        customer_id: str | None = None,
        timestamp: int | None = None,
        extra: dict[str, str] | None = None,
        secret: str | None = None,
    ) -> str:
        """The query string Shopify's app proxy appends, signed: sorted `k=v` pairs joined with no separator."""
        params = {
            "shop": shop,
            "logged_in_customer_id": customer_id or "",
            "path_prefix": "/apps/loyalty",
            "timestamp": str(int(time.time()) if timestamp is None else timestamp),
            **(extra or {}),
        }
        message = "".join(f"{key}={params[key]}" for key in sorted(params))
        params["signature"] = hmac.new(
            (secret or self.api_secret).encode(), message.encode(), hashlib.sha256
        ).hexdigest()
        return urlencode(params)


def order_payload(
    order_id: int = 820982911946154508,
    *,
    customer_id: int | None = 115310627314723954,
    total: str = "150.00",
    subtotal: str | None = None,
    currency: str = "USD",
    created_at: str = "2026-03-02T10:29:00-05:00",
    **fields: Any,
) -> dict[str, Any]:
    """An `orders/create` body in Shopify's REST Order shape (money as strings, ids beyond 2^53)."""
    payload: dict[str, Any] = {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "name": "#1001",
        "order_number": 1001,
        "email": "jon@example.com",
        "created_at": created_at,
        "currency": currency,
        "presentment_currency": currency,
        "financial_status": "paid",
        "source_name": "web",
        "total_price": total,
        "subtotal_price": subtotal or total,
        "total_discounts": "0.00",
        "total_tax": "0.00",
        "discount_codes": [],
        "note_attributes": [],
        "tags": "",
        "landing_site": "/",
        "line_items": [
            {
                "id": 866550311766439020,
                "product_id": 632910392,
                "variant_id": 808950810,
                "sku": "IPOD2008PINK",
                "title": "IPod Nano - 8GB",
                "vendor": "Apple",
                "quantity": 1,
                "price": subtotal or total,
            }
        ],
        "shipping_address": {"country_code": "US", "address1": "123 Amoebobacterieae St", "zip": "40202"},
        "customer": None,
    }
    if customer_id is not None:
        payload["customer"] = {
            "id": customer_id,
            "admin_graphql_api_id": f"gid://shopify/Customer/{customer_id}",
            "email": "jon@example.com",
            "first_name": "Jon",
            "last_name": "Snow",
        }
    payload.update(fields)
    return payload
