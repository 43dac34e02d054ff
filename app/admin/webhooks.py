"""Blueprint "admin_webhooks": the merchant's outbound webhook endpoints (app.integrations.endpoints): each with its
status (and why it was disabled), adding one (its signing secret shown once), turning it off and on, rotating its
secret, deleting it, and the recent deliveries with their outcome (a failed one can be sent again).

Every action answers with the whole area (`#webhooks`), so the list, the form and the log stay in step; every
service call is scoped to g.shop, so another shop's endpoint or delivery is a 404 and changes nothing.

Endpoints are a paid-plan feature: on a plan without it the page shows what the plan that has it gives and an
upgrade button (POST /billing/subscribe) instead of the form, marks the shop's endpoints paused by the plan, and
adding one or sending a delivery again is refused with 402 and the service's message."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path

from flask import Response, abort, current_app, g, jsonify, make_response, render_template, request

from app.admin.audit import record_change
from app.admin.shell import admin_blueprint, with_toast
from app.config import FEATURE_NAMES
from app.extensions import db
from app.integrations import endpoints
from app.loyalty.base import plans
from app.models import WebhookEndpoint
from app.shopify.admin_auth import admin_required
from app.shopify.token_cipher import TokenCipher, cipher_for

bp = admin_blueprint("admin_webhooks", __name__, "/admin/webhooks")

SUBJECT = "webhook_endpoint"


@bp.get("/")
@admin_required
def index() -> str:
    return _area(fragment=False)


@bp.post("/")
@admin_required
def create() -> Response:
    url = request.form.get("url", "").strip()
    topics = request.form.getlist("topics")
    description = request.form.get("description", "").strip() or None
    try:
        created = endpoints.create_endpoint(
            db.session,
            _cipher(),
            shop_id=g.shop.id,
            url=url,
            topics=topics,
            description=description,
            allow_private=_allow_private(),
        )
    except endpoints.PlanRequired as exc:
        db.session.rollback()
        return _payment_required(exc)
    except endpoints.EndpointError as exc:
        db.session.rollback()
        errors = {_field_of(str(exc)): str(exc)}
        values = {"url": url, "topics": topics, "description": description or ""}
        return make_response(_area(errors=errors, values=values), 422)
    view = endpoints.endpoint_view(created.endpoint)
    record_change(f"{SUBJECT}.created", (SUBJECT, created.endpoint.id), after=view)
    db.session.commit()
    page = _area(secret=(created.endpoint.id, created.secret))
    return with_toast(make_response(page), "Webhook endpoint added")


@bp.post("/<int:endpoint_id>/enable")
@admin_required
def enable(endpoint_id: int) -> Response:
    return _switch(endpoint_id, active=True)


@bp.post("/<int:endpoint_id>/disable")
@admin_required
def disable(endpoint_id: int) -> Response:
    return _switch(endpoint_id, active=False)


@bp.post("/<int:endpoint_id>/rotate")
@admin_required
def rotate(endpoint_id: int) -> Response:
    endpoint = _endpoint(endpoint_id)
    secret = endpoints.rotate_secret(db.session, _cipher(), shop_id=g.shop.id, endpoint_id=endpoint.id)
    record_change(f"{SUBJECT}.secret_rotated", (SUBJECT, endpoint.id))
    db.session.commit()
    return with_toast(make_response(_area(secret=(endpoint.id, secret))), "New signing secret made")


@bp.post("/<int:endpoint_id>/delete")
@admin_required
def delete(endpoint_id: int) -> Response:
    before = endpoints.endpoint_view(_endpoint(endpoint_id))
    endpoints.delete_endpoint(db.session, shop_id=g.shop.id, endpoint_id=endpoint_id)
    record_change(f"{SUBJECT}.deleted", (SUBJECT, endpoint_id), before=before)
    db.session.commit()
    return with_toast(make_response(_area()), "Webhook endpoint deleted")


@bp.post("/deliveries/<uuid:delivery_id>/resend")
@admin_required
def resend(delivery_id: uuid.UUID) -> Response:
    now = datetime.now(timezone.utc)
    try:
        delivery = endpoints.resend(db.session, shop_id=g.shop.id, delivery_id=delivery_id, now=now)
    except endpoints.EndpointNotFound as exc:
        abort(404, description=str(exc))
    except endpoints.PlanRequired as exc:
        return _payment_required(exc)
    except endpoints.EndpointError as exc:
        abort(409, description=str(exc))
    record_change("webhook_delivery.resent", ("webhook_delivery", str(delivery.delivery_id)))
    db.session.commit()
    return with_toast(make_response(_area()), "Delivery queued again: it is sent within a minute")


def _switch(endpoint_id: int, *, active: bool) -> Response:
    before = endpoints.endpoint_view(_endpoint(endpoint_id))
    after = endpoints.endpoint_view(
        endpoints.update_endpoint(db.session, shop_id=g.shop.id, endpoint_id=endpoint_id, active=active)
    )
    action = f"{SUBJECT}.{'enabled' if active else 'disabled'}"
    record_change(action, (SUBJECT, endpoint_id), before=before, after=after)
    db.session.commit()
    return with_toast(make_response(_area()), "Endpoint turned on" if active else "Endpoint turned off")


def _payment_required(exc: endpoints.PlanRequired) -> Response:
    """402 with the service's message, in the shape of every other refusal (werkzeug has no 402 exception to
    abort with); the admin shows the message as a toast."""
    response = jsonify(error="payment_required", message=str(exc))
    response.status_code = 402
    return response


def _field_of(message: str) -> str:
    """The form field a refusal of create_endpoint is about: its topics, its URL, or (the endpoint limit) the form."""
    if "topic" in message:
        return "topics"
    return "url" if "URL" in message or "resolve" in message else "form"


def _endpoint(endpoint_id: int) -> WebhookEndpoint:
    try:
        return endpoints.get_endpoint(db.session, shop_id=g.shop.id, endpoint_id=endpoint_id)
    except endpoints.EndpointNotFound as exc:
        abort(404, description=str(exc))


def _cipher() -> TokenCipher:
    return cipher_for(current_app.config["SETTINGS"], Path(current_app.instance_path))


def _allow_private() -> bool:
    return bool(current_app.config["SETTINGS"].webhooks_allow_private_targets)


def _area(
    *,
    fragment: bool = True,
    errors: dict[str, str] | None = None,
    values: dict[str, object] | None = None,
    secret: tuple[int, str] | None = None,
) -> str:
    upgrade = plans.upgrade_for(endpoints.FEATURE)
    # What the upgrade gives, this page's feature first.
    gives = sorted(upgrade.features, key=lambda feature: (feature != endpoints.FEATURE, feature)) if upgrade else []
    return render_template(
        "admin/webhooks/_area.html" if fragment else "admin/webhooks/index.html",
        title="Webhooks",
        sending_allowed=plans.plan_allows(g.shop, endpoints.FEATURE),
        current_plan=plans.current_plan(g.shop),
        upgrade=upgrade,
        upgrade_features=[FEATURE_NAMES.get(feature, feature) for feature in gives],
        endpoints=[endpoints.endpoint_view(e) for e in endpoints.list_endpoints(db.session, shop_id=g.shop.id)],
        deliveries=[endpoints.delivery_view(d) for d in endpoints.deliveries(db.session, shop_id=g.shop.id, limit=25)],
        topics=endpoints.TOPICS,
        limit=endpoints.MAX_ENDPOINTS_PER_SHOP,
        errors=errors or {},
        values=values or {"url": "", "topics": [], "description": ""},
        secret=secret,
    )
