"""Blueprint "billing": choose the paid plan (`POST /billing/subscribe`) and come back from Shopify's approval
(`GET /billing/confirm`), both inside the embedded admin behind `admin_required`."""

from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, Response, current_app, g, jsonify, make_response, render_template, request
from shopify_app import app_home_parent_redirect

from app.config import Plan
from app.extensions import db
from app.loyalty.base import plans
from app.loyalty.base.plans import current_plan, plan_by_key
from app.shopify.admin_api import AdminApiError
from app.shopify.admin_auth import admin_required, shopify_request
from app.shopify.app_config import app_config_for
from app.shopify.billing import refresh_plan, subscribe
from app.shopify.context import admin_api
from app.shopify.shop_domains import shop_handle
from app.shopify.tokens import ShopNotConnected

bp = Blueprint("billing", __name__)
# The id the development admin's approved plan is recorded under, followed by the plan's key.
DEVELOPMENT_SUBSCRIPTION = "gid://shopify/AppSubscription/development-"


def _error(status: int, code: str, message: str) -> Response:
    response = jsonify(error=code, message=message)
    response.status_code = status
    return response


@bp.post("/billing/subscribe")
@admin_required
def subscribe_to_plan() -> Response:
    """Create the chosen plan's subscription and send the merchant, out of the iframe, to approve it."""
    settings = current_app.config["SETTINGS"]
    plan = plan_by_key(str(request.form.get("plan", "")).strip())
    if plan is None:
        return _error(
            400, "unknown_plan", f"plan must be one of the configured plans; got {request.form.get('plan')!r}"
        )
    if plan.price <= 0:
        return _error(400, "free_plan", "the free plan needs no subscription")
    if settings.development_admin:
        return _approve_in_development(plan)
    handle = shop_handle(g.shop.domain)
    return_url = f"https://admin.shopify.com/store/{handle}/apps/{settings.shopify_api_key}/billing/confirm"
    try:
        _, confirmation_url = subscribe(
            admin_api(), g.shop, plan, return_url=return_url, test=not settings.is_production
        )
    except ShopNotConnected as exc:
        return _error(409, "shop_not_connected", str(exc))
    except AdminApiError as exc:
        return _error(502, "shopify_refused", str(exc))
    # shopify_app answers a fetch (Authorization header) with 401 and a reauthorize header that App Bridge's fetch
    # follows; htmx sends XMLHttpRequest, which App Bridge does not patch, so it gets the document answer instead:
    # a script that opens the approval page at the top level, which htmx runs when it swaps the answer in.
    incoming = shopify_request(settings.shopify_app_url)
    if request.headers.get("HX-Request"):
        incoming["headers"] = {k: v for k, v in incoming["headers"].items() if k.lower() != "authorization"}
    redirect = app_home_parent_redirect(incoming, app_config_for(settings), confirmation_url, handle)
    response = make_response(redirect.response.body, redirect.response.status)
    for name, value in redirect.response.headers.items():
        response.headers[name] = value
    return response


def _approve_in_development(plan: Plan) -> Response:
    """The development admin has no Shopify to approve a charge (its shop is connected without one): the plan is
    recorded as approved, as /billing/confirm records what Shopify says, and the page reloads with it. Nothing is
    charged or sent; never in production (Settings.development_admin)."""
    now = datetime.now(timezone.utc)
    note = plans.apply_subscription(
        g.shop,
        subscription_id=f"{DEVELOPMENT_SUBSCRIPTION}{plan.key}",
        name=plan.name,
        status="ACTIVE",
        created_at=now,
        updated_at=now,
        reported_now=True,
    )
    db.session.commit()
    response = jsonify(plan=plan.key, status=g.shop.subscription_status, note=note)
    response.headers["HX-Refresh"] = "true"
    return response


@bp.get("/billing/confirm")
@admin_required
def confirm() -> Response | str:
    """Where Shopify sends the merchant after the approval page: record the plan Shopify now has active."""
    try:
        plan = refresh_plan(admin_api(), db.session, g.shop)
        db.session.commit()
    except ShopNotConnected as exc:
        db.session.rollback()
        return _error(409, "shop_not_connected", str(exc))
    except AdminApiError as exc:
        db.session.rollback()
        return _error(502, "shopify_unavailable", str(exc))
    if request.headers.get("HX-Request"):
        return jsonify(plan=plan.key, status=g.shop.subscription_status)
    return render_template("admin/billing.html", plan=plan, status=g.shop.subscription_status)


@bp.get("/billing")
@admin_required
def show() -> Response:
    plan = current_plan(g.shop)
    return jsonify(plan=plan.key, name=plan.name, features=sorted(plan.features), status=g.shop.subscription_status)
