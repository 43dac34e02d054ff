"""Blueprint "install": the authorization-code grant (GET /auth, GET /auth/callback) and the bounce page that gets a
page load its session token (GET /auth/patch-id-token).

Managed installs need none of this: Shopify installs the app and the first admin load exchanges its ID token
(app/shopify/admin_auth.py). The authorization-code grant serves installs Shopify does not manage. Every check comes
before any call to Shopify: the shop's domain first, then the query's hmac, then (on the callback) the state nonce
bound to this browser by a signed cookie and used once, then the shop again; only then is the code exchanged.
"""

from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, current_app, jsonify, make_response, redirect, render_template, request
from shopify_app import app_home_parent_redirect, app_home_patch_id_token
from werkzeug.wrappers import Response

from app.extensions import redis_store
from app.shopify import oauth
from app.shopify.admin_auth import frame_ancestors, shopify_request
from app.shopify.app_config import app_config_for
from app.shopify.context import token_context
from app.shopify.installs import install_with_token
from app.shopify.shop_domains import InvalidShopDomain, shop_domain, shop_handle

bp = Blueprint("install", __name__)


@bp.errorhandler(oauth.OAuthRefused)
def refused(exc: oauth.OAuthRefused) -> tuple[Response, int]:
    current_app.logger.info("install step refused: %s (%s)", exc.code, exc)
    return jsonify(error=exc.code, message=str(exc)), exc.status


@bp.errorhandler(InvalidShopDomain)
def invalid_shop(exc: InvalidShopDomain) -> tuple[Response, int]:
    return jsonify(error="invalid_shop", message=str(exc)), 400


@bp.get("/auth")
def begin_install() -> Response:
    """Send the merchant to Shopify's authorize page, with a state nonce this browser keeps in a signed cookie."""
    shop = shop_domain(request.args.get("shop"))
    settings = current_app.config["SETTINGS"]
    params = _single_valued_query()
    if "hmac" in params:
        oauth.verify_query(params, api_key=settings.shopify_api_key, secrets=settings.webhook_secrets, now=_now())
    if params.get("embedded") == "1":
        # Inside the admin's iframe a cookie would be a third-party one: leave the frame, then start again on top.
        top_level = f"{settings.shopify_app_url}/auth?shop={shop}"
        request_input = shopify_request(settings.shopify_app_url)
        result = app_home_parent_redirect(request_input, app_config_for(settings), top_level, shop_handle(shop))
        return make_response(result.response.body, result.response.status, result.response.headers)
    state = oauth.new_state(shop)
    response = redirect(oauth.authorize_url(settings, shop, state))
    response.set_cookie(
        oauth.STATE_COOKIE,
        oauth.state_cookie(current_app.secret_key, state),
        max_age=oauth.STATE_MAX_AGE_SECONDS,
        path="/auth",
        secure=settings.shopify_app_url.startswith("https://"),
        httponly=True,
        # Lax: the callback is a top-level GET redirect from Shopify, which Lax cookies accompany.
        samesite="Lax",
    )
    return response


@bp.get(oauth.CALLBACK_PATH)
def finish_install() -> Response:
    """Check hmac, state and shop, exchange the code, install the shop, then open the app in the shop's admin."""
    settings = current_app.config["SETTINGS"]
    now = _now()
    params = _single_valued_query()
    oauth.verify_query(params, api_key=settings.shopify_api_key, secrets=settings.webhook_secrets, now=now)
    cookie = request.cookies.get(oauth.STATE_COOKIE)
    state = oauth.check_state(current_app.secret_key, cookie, returned=params.get("state"))
    if not redis_store.client.set(redis_store.key("oauth-state", state.nonce), "used", nx=True, ex=86400):
        raise oauth.OAuthRefused(403, "state_reused", "this install was already completed: begin again at /auth")
    shop = shop_domain(params.get("shop"))
    if shop != state.shop:
        raise oauth.OAuthRefused(403, "shop_mismatch", f"the install was started for {state.shop}, not {shop}")
    code = params.get("code")
    if not code:
        raise oauth.OAuthRefused(400, "missing_code", "the callback carries no authorization code")
    context = token_context()
    install_with_token(context, shop, oauth.exchange_code(context.http, settings, shop, code, now=now), now=now)
    response = redirect(oauth.embedded_app_url(settings, shop))
    response.delete_cookie(oauth.STATE_COOKIE, path="/auth")
    return response


@bp.get("/auth/patch-id-token")
def patch_id_token() -> Response:
    """The bounce page: App Bridge gets a fresh ID token and reloads `shopify-reload` with it."""
    settings = current_app.config["SETTINGS"]
    if settings.development_admin:
        # Development with no Shopify: the stand-in for App Bridge (app/shopify/development.py) does the reload.
        response = make_response(render_template("dev/patch_id_token.html"))
        response.headers["Content-Security-Policy"] = frame_ancestors(None)
        return response
    shop_domain(request.args.get("shop"))  # checked here: shopify_app writes it into the CSP header as it is
    result = app_home_patch_id_token(shopify_request(settings.shopify_app_url), app_config_for(settings))
    return make_response(result.response.body, result.response.status, result.response.headers)


def _single_valued_query() -> dict[str, str]:
    """The query as a dict; a repeated parameter is refused, since which copy was signed would be ambiguous."""
    repeated = sorted(name for name, values in request.args.lists() if len(values) > 1)
    if repeated:
        raise oauth.OAuthRefused(400, "repeated_parameter", f"the query repeats {', '.join(repeated)}")
    return request.args.to_dict()


def _now() -> datetime:
    return datetime.now(timezone.utc)
