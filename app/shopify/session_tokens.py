"""Verify checkout and customer-account extension session tokens (not admin ID tokens: these carry no iss or sid).

HS256 with the app secret, 10 s leeway on exp/nbf (App Bridge often sends future nbf), aud = the API key,
dest = the bare shop domain, optional sub = gid://shopify/Customer/<id> when the buyer is logged in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import jwt

from app.shopify.webhooks import SHOP_DOMAIN

LEEWAY_SECONDS = 10
CUSTOMER_GID = re.compile(r"^gid://shopify/Customer/(\d+)$")


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
    last_error: Exception | None = None
    for secret in secrets:
        try:
            claims = jwt.decode(
                token,
                secret,
                algorithms=["HS256"],
                audience=api_key,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "dest", "aud"]},
            )
            break
        except jwt.InvalidSignatureError as exc:
            last_error = exc
            continue
        except jwt.PyJWTError as exc:
            raise InvalidSessionToken(f"session token refused: {exc}") from None
    else:
        raise InvalidSessionToken(f"session token refused: {last_error or 'no secret configured'}")

    shop = str(claims["dest"]).removeprefix("https://").rstrip("/").lower()
    if not SHOP_DOMAIN.match(shop):
        raise InvalidSessionToken("dest is not a myshopify.com shop domain")
    customer_id = None
    if claims.get("sub"):
        match = CUSTOMER_GID.match(str(claims["sub"]))
        if not match:
            raise InvalidSessionToken("sub is not a customer gid")
        customer_id = match.group(1)
    return ExtensionSession(shop=shop, customer_id=customer_id)
