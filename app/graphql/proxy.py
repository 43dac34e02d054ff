"""The theme's door, through Shopify's app proxy: `/apps/loyalty/graphql` and `/apps/loyalty/r/<code>` on the shop's
storefront arrive here as `/proxy/graphql` and `/proxy/r/<code>`, signed by Shopify.

Same origin as the storefront page, so no CORS. The shop and shopper come from the verified signature only
(`logged_in_customer_id`, blank for a guest); the body is just the operation.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, Response, current_app, redirect, request
from sqlalchemy import select

from app.extensions import db
from app.graphql.execution import body_json, error_answer, serve
from app.graphql.routes import respond
from app.loyalty import referrals
from app.loyalty.base.errors import ReferralNotFound
from app.loyalty.base.installation import Installation, installation_of
from app.loyalty.referrals.settings import settings_for
from app.models import Shop
from app.shopify.app_proxy import PROXY_PARAMETERS, InvalidProxyRequest, ProxySession, verify_proxy_request

bp = Blueprint("proxy", __name__, url_prefix="/proxy")


def _verified() -> ProxySession:
    settings = current_app.config["SETTINGS"]
    return verify_proxy_request(request.url, method=request.method, secrets=settings.webhook_secrets)


def _operation_from_query() -> dict[str, Any]:
    """A GET's operation: the storefront caller's own query parameters (query or id, variables, operationName)."""
    return {key: value for key, value in request.args.items() if key not in PROXY_PARAMETERS}


@bp.route("/graphql", methods=["GET", "POST"])
def proxy_graphql() -> Response:
    try:
        shopper = _verified()
    except InvalidProxyRequest as exc:
        return respond(error_answer(401, str(exc), {}, "invalid_proxy_signature"))
    is_get = request.method == "GET"
    data = _operation_from_query() if is_get else body_json(request)
    return respond(
        serve(
            data,
            shop_domain=shopper.shop,
            customer_id=shopper.customer_id,
            read_only=is_get,
            headers={},
            proxy_prefix=shopper.path_prefix,
        )
    )


@bp.get("/r/<code>")
def referral_landing(code: str) -> Response:
    """A friend follows a referral link: record the click (the IP only salted and hashed) and send them to the shop
    with the code in the landing parameter, where the widget shows the friend's offer and the order carries it."""
    try:
        shopper = _verified()
    except InvalidProxyRequest as exc:
        return respond(error_answer(401, str(exc), {}, "invalid_proxy_signature"))
    session = db.session
    shop = session.execute(select(Shop).where(Shop.domain == shopper.shop)).scalar_one_or_none()
    if installation_of(shop) is not Installation.INSTALLED:
        session.rollback()
        return respond(error_answer(404, f"loyalty is not installed on {shopper.shop}", {}, "shop_not_installed"))
    assert shop is not None
    parameter = settings_for(shop).landing_parameter
    forwarded = request.headers.get("X-Forwarded-For", "")
    try:
        referrals.record_click(
            session,
            shop=shop,
            code=code,
            ip=forwarded.split(",")[0].strip() or request.remote_addr,
            user_agent=request.headers.get("User-Agent"),
            landing_page=request.headers.get("Referer"),
            now=datetime.now(timezone.utc),
        )
        session.commit()
        target = f"/?{parameter}={code.strip().upper()}"
    except ReferralNotFound:  # an unknown or mistyped code: the friend still lands in the shop, with no offer
        session.rollback()
        target = "/"
    return redirect(target, code=302)
