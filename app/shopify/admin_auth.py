"""`admin_required`: the one guard of every embedded-admin view.

A guarded view runs only for a verified App Home ID token (app/shopify/app_home.py) of an installed shop, and finds
`g.shop` (the Shop row of the token's verified `dest`, never of a query or form value) and `g.staff_user_id` (the
token's `sub`, for audit logs). Page loads carry the token as `id_token` in the query (a load without one is sent to
the bounce page that gets one); htmx and fetch requests carry `Authorization: Bearer` (web/static/js/session_token.js).

Install happens here: the first page load of a shop with no usable stored token exchanges its ID token for an
expiring offline token (app/shopify/installs.py), which creates the shop or re-activates an uninstalled one. A Bearer
request never installs: a reinstall always begins with Shopify loading the app's page, so a fetch from a shop that is
not installed comes from a page opened before the uninstall and is refused, without asking Shopify anything.

Every response of a guarded view (refusals and errors included) carries
`Content-Security-Policy: frame-ancestors https://<shop> https://admin.shopify.com;` so that only that shop's admin
may frame it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from functools import wraps
from typing import Any, TypeVar

from flask import after_this_request, current_app, g, jsonify, make_response, request
from shopify_app import RequestInput, Res
from werkzeug.wrappers import Response

from app.extensions import db
from app.loyalty.base.installation import Installation, installation_of
from app.shopify.app_home import verify_app_home
from app.shopify.context import token_context
from app.shopify.installs import InstallRefused, install_with_id_token
from app.shopify.tokens import find_shop, needs_token_exchange

View = TypeVar("View", bound=Callable[..., Any])
ADMIN_ORIGIN = "https://admin.shopify.com"


def admin_required(view: View) -> View:
    """Run `view` only for a verified, installed shop; it finds `g.shop` and `g.staff_user_id`."""

    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        after_this_request(_frame_ancestors)
        refusal = _authenticate()
        if refusal is not None:
            return refusal
        return view(*args, **kwargs)

    return guarded  # type: ignore[return-value]


def frame_ancestors(shop: str | None) -> str:
    """The CSP that lets only the shop's admin frame the page (only Shopify's admin, before the shop is known)."""
    shop_origin = f" https://{shop}" if shop else ""
    return f"frame-ancestors{shop_origin} {ADMIN_ORIGIN};"


def _frame_ancestors(response: Response) -> Response:
    shop = g.get("shop")
    response.headers["Content-Security-Policy"] = frame_ancestors(shop.domain if shop is not None else None)
    # Admin pages show one shop's data and carry a session token in their URL: no cache may keep them.
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _authenticate() -> Response | None:
    """Set g.shop and g.staff_user_id, or answer the refusal."""
    settings = current_app.config["SETTINGS"]
    check = verify_app_home(shopify_request(settings.shopify_app_url), settings)
    if not check.ok:
        current_app.logger.info("admin request refused: %s (%s)", check.code, check.detail)
        return _refusal(check.refusal, "invalid_session_token", check.detail)
    assert check.shop is not None and check.id_token is not None
    now = datetime.now(timezone.utc)
    shop = find_shop(db.session, check.shop)
    if needs_token_exchange(shop, now):
        if not check.is_page_load and installation_of(shop) is not Installation.INSTALLED:
            message = f"loyalty is not installed on {check.shop}: open it from the Shopify admin to install it"
            return _error(401, "shop_not_installed", message)
        try:
            install_with_id_token(
                token_context(),
                check.shop,
                check.id_token,
                invalid_token_response=check.invalid_token_response,
                now=now,
            )
        except InstallRefused as exc:
            current_app.logger.warning("token exchange refused for %s: %s", check.shop, exc.code)
            if exc.code == "invalid_subject_token":
                return _refusal(exc.response, "invalid_session_token", "Shopify refused the session token")
            return _error(502, "token_exchange_failed", str(exc))
        db.session.rollback()  # the install committed in its own session: read the row as it is now
        shop = find_shop(db.session, check.shop)
    g.shop = shop
    g.staff_user_id = check.staff_user_id
    return None


def shopify_request(app_url: str) -> RequestInput:
    """This request in shopify_app's shape, its URL on the app's public origin (its bounce redirects point there)."""
    query = request.query_string.decode()
    return {
        "method": request.method,
        "headers": dict(request.headers),
        "url": f"{app_url}{request.path}" + (f"?{query}" if query else ""),
        "body": "",
    }


def _refusal(suggested: Res | None, code: str, message: str) -> Response:
    """shopify_app's suggested answer (a bounce redirect, or 401 with the retry header), with a JSON body."""
    if suggested is not None and suggested.status in (301, 302, 303, 307):
        response = make_response("", suggested.status)
    else:
        response = _error(suggested.status if suggested is not None else 401, code, message)
    for name, value in (suggested.headers if suggested is not None else {}).items():
        response.headers[name] = value
    return response


def _error(status: int, code: str, message: str) -> Response:
    response = jsonify(error=code, message=message)
    response.status_code = status
    return response
