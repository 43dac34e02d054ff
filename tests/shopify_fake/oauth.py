"""`POST /admin/oauth/access_token`: authorization code, token exchange and refresh grants, with Shopify's errors.

Field names follow Shopify's token exchange and expiring-offline-token pages and the official libraries (shared
contract §1.2-1.4). Errors use the OAuth 2.0 body `{"error", "error_description"}` with HTTP 400 (401 for bad
client credentials), which is what Shopify's libraries branch on (`invalid_subject_token`, `invalid_grant`, ...).
"""

from __future__ import annotations

import hmac
import time
from typing import Any
from urllib.parse import urlsplit

import jwt

from tests.shopify_fake.state import State

TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
OFFLINE_TOKEN_TYPE = "urn:shopify:params:oauth:token-type:offline-access-token"
ONLINE_TOKEN_TYPE = "urn:shopify:params:oauth:token-type:online-access-token"
# Shopify's libraries all allow 10 s of clock skew on ID tokens ("AppBridge frequently sends future nbf").
LEEWAY_SECONDS = 10

Answer = tuple[int, dict[str, Any]]


def _error(error: str, description: str, status: int = 400) -> Answer:
    return status, {"error": error, "error_description": description}


def _flag(value: Any) -> bool:
    """`expiring` arrives as 1, "1", true or "true" depending on the client; anything else means no."""
    return str(value).lower() in {"1", "true"}


def answer_token_request(state: State, shop: str, params: dict[str, Any]) -> Answer:
    """Answers one token request for `shop` (from the Host header) with its status and JSON body."""
    config = state.config
    if params.get("client_id") != config.api_key or not hmac.compare_digest(
        str(params.get("client_secret", "")).encode(), config.api_secret.encode()
    ):
        return _error("invalid_client", "Client authentication failed: unknown client_id or wrong client_secret.", 401)
    grant_type = params.get("grant_type")
    if grant_type is None and "code" in params:
        return _authorization_code(state, shop, params)
    if grant_type == TOKEN_EXCHANGE_GRANT:
        return _token_exchange(state, shop, params)
    if grant_type == "refresh_token":
        return _refresh(state, shop, params)
    return _error("unsupported_grant_type", f"grant_type {grant_type!r} is not supported.")


def _authorization_code(state: State, shop: str, params: dict[str, Any]) -> Answer:
    with state.lock:
        issued_for = state.authorization_codes.pop(str(params["code"]), None)
    if issued_for != shop:
        return _error("invalid_request", "The authorization code was not found or was already used")
    return 200, state.issue_tokens(shop, expiring=_flag(params.get("expiring")))


def _token_exchange(state: State, shop: str, params: dict[str, Any]) -> Answer:
    if params.get("subject_token_type") != ID_TOKEN_TYPE:
        return _error("invalid_request", f"subject_token_type must be {ID_TOKEN_TYPE}.")
    requested = params.get("requested_token_type")
    if requested not in (OFFLINE_TOKEN_TYPE, ONLINE_TOKEN_TYPE):
        return _error("invalid_request", f"requested_token_type must be {OFFLINE_TOKEN_TYPE} or {ONLINE_TOKEN_TYPE}.")
    try:
        claims = jwt.decode(
            str(params.get("subject_token", "")),
            state.config.api_secret,
            algorithms=["HS256"],
            audience=state.config.api_key,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "nbf", "iat", "aud", "dest", "sub"]},
        )
    except jwt.PyJWTError as error:
        return _error("invalid_subject_token", f"The subject token is invalid: {error}.")
    # Only App Home (and admin/POS extension) ID tokens are exchangeable; they carry iss = the shop's admin.
    # Checkout and customer-account tokens have no iss and are refused.
    dest_host = urlsplit(str(claims["dest"])).hostname
    if dest_host != shop or urlsplit(str(claims.get("iss", ""))).hostname != shop:
        return _error("invalid_subject_token", "The subject token was not issued by this shop's admin.")
    online = requested == ONLINE_TOKEN_TYPE
    answer = state.issue_tokens(shop, expiring=_flag(params.get("expiring")), online=online)
    if online:
        answer["associated_user_scope"] = answer["scope"]
        answer["associated_user"] = {
            "id": int(claims["sub"]),
            "first_name": "Staff",
            "last_name": "Member",
            "email": f"staff-{claims['sub']}@example.com",
            "email_verified": True,
            "account_owner": False,
            "locale": "en",
            "collaborator": False,
        }
    return 200, answer


def _refresh(state: State, shop: str, params: dict[str, Any]) -> Answer:
    """Rotates the pair: the refresh token used here stops working at once.

    Shopify's 2026-08-28 changelog keeps the previous refresh token usable until its replacement is first used; the
    fake takes the stricter reading (single use), so a client that loses a refresh response must re-exchange.
    """
    with state.lock:
        refresh = state.refresh_tokens.get(str(params.get("refresh_token", "")))
        if refresh is None or refresh.shop != shop or refresh.used or refresh.expires_at <= time.time():
            return _error("invalid_grant", "The refresh token is invalid, expired, or has been revoked.")
        refresh.used = True
        return 200, state.issue_tokens(shop, expiring=True)
