"""Verify checkout and customer-account extension session tokens (not admin ID tokens: these carry no iss or sid).

Shopify's `verify_checkout_ui_ext_req` checks HS256 with the app secret (the previous one too, during a rotation), a
10 s leeway on exp and nbf, and aud = the API key. On top of it, the stricter reading of the contract: exp must be
present (shopify_app accepts a token without one), every claim of the JSON type Shopify writes (id_tokens), dest a
myshopify.com domain (bare, as these tokens carry it), and sub, when present, a customer gid (the buyer is logged in).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from shopify_app import verify_checkout_ui_ext_req

from app.shopify.app_config import app_config
from app.shopify.id_tokens import missing_claims, mistyped_claim, refusal_reason
from app.shopify.shop_domains import InvalidShopDomain, shop_domain

CUSTOMER_GID = re.compile(r"^gid://shopify/Customer/(\d+)$")
REQUIRED_CLAIMS = ("exp", "dest", "aud")


class InvalidSessionToken(Exception):
    """The token is missing, malformed, expired, for another app, or not signed by our secret."""


@dataclass(frozen=True)
class ExtensionSession:
    shop: str
    customer_id: str | None


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header."""
    if not authorization or not authorization.startswith("Bearer "):
        raise InvalidSessionToken("Authorization header must be 'Bearer <session token>'")
    return authorization[len("Bearer ") :].strip()


def verify_extension_token(token: str, *, api_key: str, secrets: Sequence[str]) -> ExtensionSession:
    """Decode and check the token; the shop and customer come from its verified claims only."""
    mistyped = mistyped_claim(token)
    if mistyped is not None:
        raise InvalidSessionToken(f"session token refused: {mistyped}")
    # The checkout and customer-account verifiers of shopify_app are one check (its non-exchangeable ID token
    # verifier); one endpoint serves both extensions, so the checkout one stands for both.
    request = {"method": "POST", "headers": {"Authorization": f"Bearer {token}"}, "url": "", "body": ""}
    result = verify_checkout_ui_ext_req(request, app_config(api_key=api_key, secrets=secrets))
    if not result.ok or result.id_token is None:
        raise InvalidSessionToken(f"session token refused: {refusal_reason(token, result.log.code)}")
    claims = result.id_token.claims
    missing = missing_claims(claims, REQUIRED_CLAIMS)
    if missing:
        raise InvalidSessionToken(f"session token refused: the {', '.join(missing)} claim is missing")
    try:
        shop = shop_domain(str(claims["dest"]).removeprefix("https://"))
    except InvalidShopDomain:
        raise InvalidSessionToken("session token refused: dest is not a myshopify.com shop domain") from None
    customer_id = None
    if claims.get("sub"):
        match = CUSTOMER_GID.match(str(claims["sub"]))
        if not match:
            raise InvalidSessionToken("session token refused: sub is not a customer gid")
        customer_id = match.group(1)
    return ExtensionSession(shop=shop, customer_id=customer_id)
