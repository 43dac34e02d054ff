"""What every admin area shares: its blueprint, the navigation, toasts and form helpers.

An area is `bp = admin_blueprint("admin_customers", __name__, "/admin/customers")`, each view decorated with
`admin_required`, added to `AREAS` in app/admin/__init__.py. The blueprint refuses a write (POST, PUT, PATCH,
DELETE) that does not carry the session token in `Authorization: Bearer`: a browser never adds that header to a
request another site makes it send, so this is the admin's CSRF protection (a page load's `id_token` in the URL is
accepted for GET only).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for

from app.admin.alerts import merchant_alerts
from app.loyalty.base.errors import InvalidInput
from app.shopify.admin_auth import frame_ancestors

# The areas of the navigation, in order: (label, endpoint), each shown once its view is registered. "Rules" names a
# blueprint, not a view: the rule builder's ("admin_rules", under /admin/rules), linked at its shortest GET url.
NAVIGATION = (
    ("Dashboard", "admin.home"),
    ("Customers", "admin_customers.index"),
    ("Rewards", "admin_rewards.index"),
    ("Tiers", "admin_tiers.index"),
    ("Referrals", "admin_referrals.index"),
    ("Rules", "admin_rules"),
    ("Settings", "admin_settings.index"),
    ("Webhooks", "admin_webhooks.index"),
    ("Operations", "admin_operations.index"),
)
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    active: bool


def admin_blueprint(name: str, import_name: str, url_prefix: str | None = None) -> Blueprint:
    """A blueprint for one admin area, whose writes must carry the session token as a Bearer header."""
    blueprint = Blueprint(name, import_name, url_prefix=url_prefix)
    blueprint.before_request(_writes_carry_the_session_token)
    blueprint.before_request(_no_nul_in_text)
    return blueprint


def _writes_carry_the_session_token() -> Response | None:
    if request.method not in WRITE_METHODS or request.headers.get("Authorization", "").startswith("Bearer "):
        return None
    response = jsonify(
        error="session_token_required",
        message="changes are accepted only from the admin's own requests, with the session token in Authorization",
    )
    response.status_code = 403
    response.headers["Content-Security-Policy"] = frame_ancestors(None)
    return response


def _no_nul_in_text() -> Response | None:
    """A 400 for a NUL character in the path, the query, a form field or a file name: PostgreSQL's text cannot hold
    one and nothing a merchant means contains one, so every admin area refuses it here, before a view reads it (a
    search, a customer id or a reward name with one was a 500). A CSV file's contents are the import's to check."""
    texts = [(name, str(value)) for name, value in (request.view_args or {}).items()]
    texts += request.args.items(multi=True)
    if request.method in WRITE_METHODS:
        texts += request.form.items(multi=True)
        texts += [(name, upload.filename or "") for name, upload in request.files.items(multi=True)]
    for name, value in texts:
        if "\x00" in name or "\x00" in value:
            field = name.replace("\x00", "")[:60] or "a field"
            message = f"{field} contains a NUL character, which cannot be stored"
            response = jsonify(error="invalid_text", message=message)
            response.status_code = 400
            response.headers["Content-Security-Policy"] = frame_ancestors(None)
            return response
    return None


def admin_navigation() -> list[NavItem]:
    """The navigation entries that exist in this app, the current area marked active."""
    items = []
    current = request.blueprint
    for label, endpoint in NAVIGATION:
        blueprint, _, view = endpoint.partition(".")
        if view:
            url = url_for(endpoint) if endpoint in current_app.view_functions else None
        else:
            url = _landing_url(blueprint)
        if url is None:
            continue
        items.append(NavItem(label=label, url=url, active=current == blueprint))
    return items


def _landing_url(blueprint: str) -> str | None:
    """The shortest GET url without arguments of a blueprint registered by another area, or None if absent."""
    if blueprint not in current_app.blueprints:
        return None
    candidates = [
        rule.rule
        for rule in current_app.url_map.iter_rules()
        if rule.endpoint.startswith(f"{blueprint}.") and not rule.arguments and "GET" in (rule.methods or ())
    ]
    return min(candidates, key=len) if candidates else None


def with_toast(response: Response, message: str, *, error: bool = False) -> Response:
    """Have the page show `message` as a toast (App Bridge's under Shopify) once htmx has swapped the response."""
    response.headers["HX-Trigger"] = json.dumps({"loyalty:toast": {"message": message, "error": error}})
    return response


def go_to(url: str, message: str | None = None) -> Response:
    """After a change, send htmx to another page (an htmx request, so it carries the session token)."""
    response = Response(status=204)
    response.headers["HX-Location"] = json.dumps({"path": url, "target": "body"})
    if message:
        with_toast(response, message)
    return response


def new_form_key() -> str:
    """A fresh idempotency key for a form: the service applies a change once per key, so a double submit is one."""
    return uuid.uuid4().hex


def form_key() -> str:
    """The submitted form's idempotency key (a malformed or missing key is refused, never made up)."""
    raw = request.form.get("idempotency_key", "")
    try:
        return uuid.UUID(raw).hex
    except ValueError:
        raise InvalidInput("the form is missing its idempotency key: reload the page and try again") from None


def template_helpers() -> dict[str, Any]:
    """What every admin template may call (registered as a context processor)."""
    return {"admin_navigation": admin_navigation, "merchant_alerts": merchant_alerts}
