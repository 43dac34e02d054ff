"""Blueprint "admin_settings": the shop's points policies and what its points are called
(app.loyalty.ledger.update_policies), with the time zone and currency the rules see (Shopify's, shown, not edited
here). A save made on a stale page is refused (409)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Response, g, make_response, render_template, request

from app.admin.audit import record_change
from app.admin.forms import field_of, fingerprint, optional_decimal, optional_whole
from app.admin.shell import admin_blueprint, with_toast
from app.extensions import db
from app.loyalty import ledger
from app.loyalty.base.errors import InvalidInput
from app.loyalty.ledger.policies import MAX_DAYS, MAX_REDEMPTION_RATE, MIN_REDEMPTION_RATE
from app.models import Shop
from app.shopify.admin_auth import admin_required

bp = admin_blueprint("admin_settings", __name__, "/admin/settings")

FIELDS = tuple(ledger.Policies.__dataclass_fields__)
CHECKBOXES = ("refund_redeemed_points", "test_orders_earn")
EXPIRY_OPTIONS = [
    ("never", "Points never expire"),
    ("after_earning", "A set number of days after they are earned"),
    ("inactivity", "After a customer is inactive for a number of days"),
]
EARN_ON_OPTIONS = [
    ("created", "When the order is placed (orders/create)"),
    ("paid", "When the order is paid (orders/paid): unpaid orders wait"),
    ("fulfilled", "When the order is fulfilled (orders/fulfilled)"),
]
NEGATIVE_OPTIONS = [
    ("cap", "Stop at zero (record what could not be taken back)"),
    ("allow", "Allow a negative balance"),
]


@bp.get("/")
@admin_required
def index() -> str:
    return _page(_values(ledger.policies_of(g.shop)), {})


@bp.post("/")
@admin_required
def save() -> Response:
    values = {name: request.form.get(name, "").strip() for name in FIELDS}
    for checkbox in CHECKBOXES:
        values[checkbox] = "1" if request.form.get(checkbox) else ""
    shop = db.session.get(Shop, g.shop.id, with_for_update=True)
    before = ledger.policies_of(shop)
    errors: dict[str, str] = {}
    if request.form.get("fingerprint") != fingerprint(_values(before)):
        db.session.rollback()
        errors["form"] = "These settings were changed since you opened the page: reload it to see the change"
        return make_response(_page(values, errors, fragment=True, seen=request.form.get("fingerprint", "")), 409)
    days = optional_whole(values["points_expiry_days"], "points_expiry_days", errors, minimum=1, maximum=MAX_DAYS)
    window = optional_whole(values["return_window_days"], "return_window_days", errors, minimum=0, maximum=MAX_DAYS)
    rate = optional_decimal(
        values["redemption_points_per_unit"],
        "redemption_points_per_unit",
        errors,
        column=Shop.redemption_points_per_unit,
        minimum=MIN_REDEMPTION_RATE,
        maximum=MAX_REDEMPTION_RATE,
        required=True,
    )
    if not errors:
        try:
            saved = ledger.update_policies(
                db.session,
                shop=shop,
                policies=ledger.Policies(
                    points_expiry_policy=values["points_expiry_policy"],
                    points_expiry_days=days,
                    return_window_days=window or 0,
                    negative_balance_policy=values["negative_balance_policy"],
                    refund_redeemed_points=bool(values["refund_redeemed_points"]),
                    test_orders_earn=bool(values["test_orders_earn"]),
                    # A form without the field (an older page) leaves the setting as it was.
                    orders_earn_on=values["orders_earn_on"] or before.orders_earn_on,
                    redemption_points_per_unit=rate,  # type: ignore[arg-type]
                    points_name=values["points_name"],
                ),
            )
        except InvalidInput as exc:
            errors[field_of(str(exc), FIELDS, "form")] = str(exc)
        else:
            record_change("settings_changed", ("shop", shop.id), before=asdict(before), after=asdict(saved))
            db.session.commit()
            return with_toast(make_response(_page(_values(saved), {}, fragment=True)), "Settings saved")
    db.session.rollback()
    return make_response(_page(values, errors, fragment=True), 422)


def _values(policies: ledger.Policies) -> dict[str, str]:
    values = {name: "" if value is None else str(value) for name, value in asdict(policies).items()}
    for checkbox in CHECKBOXES:
        values[checkbox] = "1" if getattr(policies, checkbox) else ""
    return values


def _page(values: dict[str, Any], errors: dict[str, str], *, fragment: bool = False, seen: str | None = None) -> str:
    return render_template(
        "admin/settings/_form.html" if fragment else "admin/settings/index.html",
        title="Settings",
        values=values,
        errors=errors,
        fingerprint=seen if seen is not None else fingerprint(_values(ledger.policies_of(g.shop))),
        expiry_options=EXPIRY_OPTIONS,
        earn_on_options=EARN_ON_OPTIONS,
        negative_options=NEGATIVE_OPTIONS,
        shop=g.shop,
    )
