"""The authorization-code grant, for installs Shopify does not manage: the signed query, the authorize URL, the state
nonce bound to the browser, and the code exchange.

ShopifyAPI does the query HMAC (`Session.validate_hmac`, its canonical form) and the authorize URL
(`Session.create_permission_url`). Its `request_token` is not used: it opens its own connection instead of the one
Shopify client (app/shopify/http.py), and it cannot ask for an expiring token. Freshness of the signed query: ShopifyAPI
accepts a timestamp up to 24 hours old, Node's library 90 seconds either way; this takes the stricter 90 seconds.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import httpx
import shopify
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from app.config import Settings
from app.rules.values import is_ascii_digits
from app.shopify.shop_domains import shop_handle
from app.shopify.tokens import OfflineToken

QUERY_MAX_AGE_SECONDS = 90
STATE_COOKIE = "shopify_app_state"
STATE_MAX_AGE_SECONDS = 600
CALLBACK_PATH = "/auth/callback"


class OAuthRefused(Exception):
    """An install step refused; `status` and `code` are what to answer, the message says why."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class InstallState:
    """The nonce sent to Shopify as `state`, and the shop it was issued for."""

    nonce: str
    shop: str


@cache
def _session_class(api_key: str, secret: str) -> type[shopify.Session]:
    """ShopifyAPI keeps credentials on its Session class; a subclass per pair keeps them off the process-wide class."""
    return type("LoyaltyShopifySession", (shopify.Session,), {"api_key": api_key, "secret": secret})


def verify_query(params: dict[str, str], *, api_key: str, secrets: Sequence[str], now: datetime) -> None:
    """Raise OAuthRefused unless `hmac` signs the query with one of our secrets and its timestamp is fresh."""
    if not params.get("hmac"):
        raise OAuthRefused(401, "missing_hmac", "the query has no hmac: it was not signed by Shopify")
    if not any(_session_class(api_key, secret).validate_hmac(params) for secret in secrets):
        raise OAuthRefused(401, "invalid_hmac", "hmac does not match the query: it was not signed by Shopify")
    raw = params.get("timestamp", "")
    # Seconds since 1970 have 10 digits until 2286; more is no time Shopify signs (and a float cannot hold 400 digits).
    if not is_ascii_digits(raw) or len(raw) > 12:
        raise OAuthRefused(401, "invalid_timestamp", "timestamp is missing or not a number")
    age = abs(now.timestamp() - int(raw))
    if age > QUERY_MAX_AGE_SECONDS:
        raise OAuthRefused(401, "stale_query", f"timestamp is {int(age)} s away; at most {QUERY_MAX_AGE_SECONDS} s")


def authorize_url(settings: Settings, shop: str, state: InstallState) -> str:
    """Where the merchant approves the scopes of the config (offline access: no per-user grant option)."""
    session = _session_class(settings.shopify_api_key, settings.shopify_api_secret)(shop, settings.shopify_api_version)
    scopes = [scope.strip() for scope in settings.shopify_scopes.split(",") if scope.strip()]
    return session.create_permission_url(scopes, settings.shopify_app_url + CALLBACK_PATH, state.nonce)


def new_state(shop: str) -> InstallState:
    """An unguessable nonce (32 random bytes) for one install of `shop`."""
    return InstallState(nonce=secrets.token_hex(32), shop=shop)


def state_cookie(secret_key: str, state: InstallState) -> str:
    """The signed cookie value that binds the nonce to this browser."""
    return _serializer(secret_key).dumps({"nonce": state.nonce, "shop": state.shop})


def check_state(secret_key: str, cookie: str | None, *, returned: str | None) -> InstallState:
    """The state the browser's cookie holds, once it matches the `state` Shopify returned; raises OAuthRefused."""
    if not cookie:
        raise OAuthRefused(403, "missing_state_cookie", "this browser did not start the install: begin at /auth")
    try:
        value = _serializer(secret_key).loads(cookie, max_age=STATE_MAX_AGE_SECONDS, return_timestamp=False)
    except SignatureExpired:
        raise OAuthRefused(403, "expired_state", "the install took too long: begin again at /auth") from None
    except BadSignature:
        raise OAuthRefused(403, "invalid_state_cookie", "the state cookie was not issued by this app") from None
    state = InstallState(nonce=str(value["nonce"]), shop=str(value["shop"]))
    if not returned or not hmac.compare_digest(returned.encode(), state.nonce.encode()):
        raise OAuthRefused(403, "state_mismatch", "state does not match the one this browser was given")
    return state


def exchange_code(http: httpx.Client, settings: Settings, shop: str, code: str, *, now: datetime) -> OfflineToken:
    """Trade the authorization code for an expiring offline token pair; raises OAuthRefused when Shopify will not."""
    try:
        response = http.post(
            f"https://{shop}/admin/oauth/access_token",
            json={
                "client_id": settings.shopify_api_key,
                "client_secret": settings.shopify_api_secret,
                "code": code,
                "expiring": 1,
            },
            headers={"Accept": "application/json"},
        )
    except httpx.HTTPError as exc:
        raise OAuthRefused(
            502, "shopify_unreachable", f"Shopify's token endpoint did not answer ({type(exc).__name__})"
        ) from None
    body = _json_object(response)
    if response.status_code != 200 or not body.get("access_token"):
        error = str(body.get("error") or response.status_code)
        raise OAuthRefused(502, "code_exchange_failed", f"Shopify refused the authorization code ({error})")
    return OfflineToken(
        access_token=str(body["access_token"]),
        scopes=str(body.get("scope", "")),
        expires_at=_after(now, body.get("expires_in")),
        refresh_token=body.get("refresh_token") or None,
        refresh_token_expires_at=_after(now, body.get("refresh_token_expires_in")),
    )


def embedded_app_url(settings: Settings, shop: str) -> str:
    """The app inside the shop's admin, where the merchant lands after an install (built, never taken from input)."""
    return f"https://admin.shopify.com/store/{shop_handle(shop)}/apps/{settings.shopify_api_key}"


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt="loyalty-oauth-state")


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _after(now: datetime, seconds: Any) -> datetime | None:
    return now + timedelta(seconds=int(seconds)) if seconds is not None else None
