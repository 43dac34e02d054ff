"""Blueprint "development": the admin without Shopify, registered only in development mode (Settings.development_admin,
never in production).

`GET /dev/app-bridge.js` is a stand-in for App Bridge's `shopify.idToken()`: it asks `POST /dev/id-token` for an App
Home ID token, which this module signs for the demo shop with the development secret exactly as Shopify signs one, so
the admin's real verification path (app/shopify/admin_auth.py) runs unchanged. The token endpoint answers only
loopback clients that send the `X-Loyalty-Development` header (a header a cross-site page cannot add without a CORS
preflight, which this app never grants).
"""

from __future__ import annotations

import ipaddress
import time
import uuid

import jwt
from flask import Blueprint, Response, abort, current_app, render_template, request
from sqlalchemy.orm import Session

from app.config import Settings
from app.models import Shop
from app.shopify.tokens import DEVELOPMENT_TOKEN, OfflineToken, TokenContext, forget_tokens, store_offline_token

bp = Blueprint("development", __name__)

DEMO_SHOP = "loyalty-demo.myshopify.com"
# The staff user the stand-in signs in as (App Home tokens name one in `sub`; audit logs record it).
DEVELOPMENT_STAFF_USER_ID = "1"
ID_TOKEN_LIFETIME_SECONDS = 60
REQUIRED_HEADER = "X-Loyalty-Development"


def sign_app_home_token(settings: Settings, *, shop: str = DEMO_SHOP, issued_at: int | None = None) -> str:
    """An App Home ID token for `shop`, signed with the app's secret (the claims App Bridge's tokens carry)."""
    iat = int(time.time()) if issued_at is None else issued_at
    claims = {
        "iss": f"https://{shop}/admin",
        "dest": f"https://{shop}",
        "aud": settings.shopify_api_key,
        "sub": DEVELOPMENT_STAFF_USER_ID,
        "exp": iat + ID_TOKEN_LIFETIME_SECONDS,
        "nbf": iat,
        "iat": iat,
        "jti": str(uuid.uuid4()),
        "sid": str(uuid.uuid4()),
    }
    return jwt.encode(claims, settings.shopify_api_secret, algorithm="HS256")


def connect_demo_shop(session: Session, shop: Shop, context: TokenContext) -> str:
    """In development, connect the demo shop without Shopify; returns what was done, for the seed to print.

    With no SHOPIFY_ADMIN_ORIGIN it stores the encrypted DEVELOPMENT_TOKEN marker: the admin treats the shop as
    connected and the Admin API client sends nothing anywhere. With SHOPIFY_ADMIN_ORIGIN set (a fake Shopify) it
    drops that marker, so the first admin load exchanges a real token there.
    """
    settings = context.settings
    stored = context.cipher.decrypt(shop.access_token) if shop.access_token else None
    if settings.shopify_admin_origin is None:
        if stored is None:
            token = OfflineToken(access_token=DEVELOPMENT_TOKEN, scopes=settings.shopify_scopes)
            store_offline_token(session, shop=shop, token=token, cipher=context.cipher)
        return "connected without Shopify (nothing is sent to Shopify)"
    if stored == DEVELOPMENT_TOKEN:
        forget_tokens(session, shop)
    return f"the first admin load exchanges a token at {settings.shopify_admin_origin}"


@bp.before_request
def development_only() -> None:
    settings = current_app.config["SETTINGS"]
    if not settings.development_admin:
        abort(404)


@bp.get("/dev/app-bridge.js")
def app_bridge_standin() -> Response:
    """The stand-in for App Bridge's script: `shopify.idToken()`, its fetch patch, and the bounce page's reload."""
    settings = current_app.config["SETTINGS"]
    body = render_template("dev/app_bridge_standin.js", api_key=settings.shopify_api_key, shop=DEMO_SHOP)
    return Response(body, mimetype="text/javascript", headers={"Cache-Control": "no-store"})


@bp.post("/dev/id-token")
def id_token() -> Response:
    """A fresh App Home ID token for the demo shop, as text."""
    if not _from_loopback() or request.headers.get(REQUIRED_HEADER) != "1":
        abort(403, description=f"development tokens are for this machine's browser, with the {REQUIRED_HEADER} header")
    token = sign_app_home_token(current_app.config["SETTINGS"])
    return Response(token, mimetype="text/plain", headers={"Cache-Control": "no-store"})


def _from_loopback() -> bool:
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False
