"""What App Home and extension ID tokens share: the claims a verified token must still carry, and the words for why
Shopify's verifiers refused one (shopify_app only says "expired" or "invalid")."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import jwt

# Every Shopify library allows 10 s of clock skew on exp and nbf ("AppBridge frequently sends future nbf").
LEEWAY_SECONDS = 10
SHOPIFY_ALGORITHM = "HS256"
# The JSON type of each claim Shopify writes: text, or a time in seconds (a NumericDate).
TEXT_CLAIMS = ("iss", "dest", "aud", "sub", "jti", "sid")
TIME_CLAIMS = ("exp", "nbf", "iat")


def mistyped_claim(token: str) -> str | None:
    """Which claim of the token is not of the JSON type Shopify writes it in, as a refusal's reason (None: none is, or
    the token is no JWT, which the verifiers refuse). shopify_app's verifiers take dest apart as text once the
    signature holds and fail on a number or a list, so this runs first; it reads the token unverified, only to refuse
    it."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    for name in TEXT_CLAIMS:
        if name in claims and not isinstance(claims[name], str):
            return f"the {name} claim is not a string"
    for name in TIME_CLAIMS:
        if name in claims and (isinstance(claims[name], bool) or not isinstance(claims[name], int | float)):
            return f"the {name} claim is not a number of seconds"
    return None


def missing_claims(claims: Mapping[str, Any], required: Iterable[str]) -> list[str]:
    """The required claims a token lacks (or carries empty), in the order asked."""
    return [name for name in required if claims.get(name) in (None, "")]


def refusal_reason(token: str, code: str) -> str:
    """Why a verifier refused `token`, given shopify_app's log code; reads the token unverified, only to explain."""
    if code == "expired_id_token":
        return "the token has expired (beyond the 10 s leeway)"
    if code == "invalid_aud":
        return "its audience (aud) is not this app's API key"
    try:
        algorithm = jwt.get_unverified_header(token).get("alg")
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        return f"it is not a JWT ({exc})"
    if algorithm != SHOPIFY_ALGORITHM:
        return f"alg {algorithm!r} is not allowed: Shopify signs these tokens with {SHOPIFY_ALGORITHM}"
    not_before = claims.get("nbf")
    if isinstance(not_before, int | float) and not_before > time.time() + LEEWAY_SECONDS:
        return "it is not valid yet (nbf is beyond the 10 s leeway)"
    return "Signature verification failed: it is not signed with this app's secret"
