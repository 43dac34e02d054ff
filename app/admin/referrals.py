"""Blueprint "admin_referrals": the programme's settings (app.loyalty.referrals.update_settings, audited) and its
conversions, with the review queue of fraud-blocked ones and why each was blocked. A settings save made on a stale
page is refused (409)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from flask import Response, abort, g, make_response, render_template, request, url_for
from sqlalchemy import select

from app.admin.audit import record_change, staff_actor
from app.admin.forms import MAX_POINTS, field_of, fingerprint, optional_decimal, optional_int, optional_whole
from app.admin.shell import admin_blueprint, go_to, with_toast
from app.extensions import db
from app.loyalty import referrals, reports, rewards
from app.loyalty.base.errors import Conflict, InvalidInput
from app.loyalty.referrals.review import ConversionNotFound
from app.loyalty.referrals.settings import ReferralSettings, settings_for
from app.loyalty.reports.referrals import CONVERSION_STATUSES
from app.models import ReferralConversion, Shop
from app.models.base import MAX_BIGINT, MAX_INTEGER
from app.shopify.admin_auth import admin_required

bp = admin_blueprint("admin_referrals", __name__, "/admin/referrals")

FIELDS = tuple(ReferralSettings.__dataclass_fields__)
# Each whole-number setting's smallest and largest value. The settings are stored as JSON, so the limits come from
# their use: points as the adjust form takes them, a reward's (bigint) id, a count per day.
WHOLE_RANGES = {
    "advocate_points": (0, MAX_POINTS),
    "friend_points": (0, MAX_POINTS),
    "friend_reward_id": (1, MAX_BIGINT),
    "max_conversions_per_day": (1, MAX_INTEGER),
}


@bp.get("/")
@admin_required
def index() -> str:
    status = request.args.get("status", "")
    if status and status not in CONVERSION_STATUSES:
        abort(400, description=f"status must be one of {', '.join(CONVERSION_STATUSES)}, got {status[:20]!r}")
    page = reports.conversion_page(db.session, shop_id=g.shop.id, status=status, after=optional_int("after"))
    return render_template(
        "admin/referrals/index.html",
        title="Referrals",
        page=page,
        status=status,
        statuses=CONVERSION_STATUSES,
        **_form_context(_values(settings_for(g.shop)), {}),
    )


@bp.post("/settings")
@admin_required
def save_settings() -> Response:
    values = {name: request.form.get(name, "").strip() for name in FIELDS}
    values["enabled"] = "1" if request.form.get("enabled") else ""
    errors: dict[str, str] = {}
    numbers = {
        name: optional_whole(values[name], name, errors, minimum=low, maximum=high)
        for name, (low, high) in WHOLE_RANGES.items()
    }
    # Compared with order totals, which are NUMERIC(14, 2) like referral_conversions.order_total.
    min_order = optional_decimal(
        values["min_order_amount"],
        "min_order_amount",
        errors,
        column=ReferralConversion.order_total,
        minimum=Decimal(0),
    )
    seen = request.form.get("fingerprint", "")
    # The shop row is locked and read afresh: the settings are one JSON value, written whole.
    shop = db.session.execute(
        select(Shop).where(Shop.id == g.shop.id).with_for_update().execution_options(populate_existing=True)
    ).scalar_one()
    before = settings_for(shop)
    if seen != fingerprint(_values(before)):
        db.session.rollback()
        errors = {"form": "The referral settings were changed since you opened the page: reload it to see the change"}
        # The form keeps the stale fingerprint: saving again is refused again until the page is reloaded.
        stale = render_template("admin/referrals/_settings.html", **_form_context(values, errors, seen=seen))
        return make_response(stale, 409)
    if not errors:
        changes = {
            "enabled": bool(values["enabled"]),
            "advocate_points": numbers["advocate_points"] or 0,
            "friend_points": numbers["friend_points"] or 0,
            "friend_reward_id": numbers["friend_reward_id"],
            "max_conversions_per_day": numbers["max_conversions_per_day"],
            "min_order_amount": min_order or Decimal(0),
            "landing_parameter": values["landing_parameter"] or "ref",
        }
        try:
            if changes["friend_reward_id"] is not None:
                rewards.get_reward(db.session, shop_id=g.shop.id, reward_id=changes["friend_reward_id"])
            saved = referrals.update_settings(db.session, shop=shop, changes=changes)
        except InvalidInput as exc:
            message = str(exc)
            errors[field_of(message.removeprefix("referral_settings."), FIELDS, "form")] = message
        else:
            record_change("referral_settings_changed", ("shop", shop.id), before=asdict(before), after=asdict(saved))
            db.session.commit()
            response = make_response(
                render_template("admin/referrals/_settings.html", **_form_context(_values(saved), {}))
            )
            return with_toast(response, "Referral settings saved")
    db.session.rollback()
    refused = render_template("admin/referrals/_settings.html", **_form_context(values, errors, seen=seen))
    return make_response(refused, 422)


@bp.post("/conversions/<int:conversion_id>/approve")
@admin_required
def approve(conversion_id: int) -> Response:
    return _review(
        conversion_id,
        "approved",
        lambda now: referrals.approve(
            db.session, shop=g.shop, conversion_id=conversion_id, staff=staff_actor(), now=now
        ),
    )


@bp.post("/conversions/<int:conversion_id>/reject")
@admin_required
def reject(conversion_id: int) -> Response:
    reason = request.form.get("reason", "")
    return _review(
        conversion_id,
        "rejected",
        lambda now: referrals.reject(
            db.session, shop=g.shop, conversion_id=conversion_id, staff=staff_actor(), reason=reason, now=now
        ),
    )


def _review(conversion_id: int, decision: str, decide: Callable[[datetime], ReferralConversion]) -> Response:
    """Decide a blocked conversion, audit it with the decision, and show the review queue again."""
    try:
        conversion = decide(datetime.now(timezone.utc))
    except ConversionNotFound as exc:
        abort(404, description=str(exc))
    except Conflict as exc:
        db.session.rollback()
        abort(409, description=str(exc))
    except InvalidInput as exc:
        db.session.rollback()
        abort(422, description=str(exc))
    record_change(
        f"referral_conversion_{decision}",
        ("referral_conversion", conversion_id),
        before={"status": "blocked", "block_reason": conversion.block_reason},
        after={"status": conversion.status, "review_reason": conversion.review_reason},
    )
    db.session.commit()
    return go_to(url_for("admin_referrals.index", status="blocked"), f"Referral conversion {decision}")


def _values(settings: ReferralSettings) -> dict[str, str]:
    values = {name: "" if value is None else str(value) for name, value in asdict(settings).items()}
    values["enabled"] = "1" if settings.enabled else ""
    return values


def _form_context(values: dict[str, Any], errors: dict[str, str], *, seen: str | None = None) -> dict[str, Any]:
    choices = [("", "No reward")] + [
        (str(reward.id), reward.name) for reward in rewards.list_rewards(db.session, shop_id=g.shop.id)
    ]
    shown = seen if seen is not None else fingerprint(_values(settings_for(g.shop)))
    return {"values": values, "errors": errors, "reward_choices": choices, "fingerprint": shown}
