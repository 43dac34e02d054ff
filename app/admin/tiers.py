"""Blueprint "admin_tiers": the tier ladder (names, thresholds, basis, period, multipliers, benefits).
A save made on a page opened before someone else saved the ladder is refused (409).

Before saving, "Preview" runs the real save and recalculation inside a transaction that is rolled back, and says
how many members would move. Saving stores the ladder through app.loyalty.tiers (which writes the audit row), then
enqueues the recalculation as a Huey task whose progress the page polls (app.tasks.progress).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from flask import Response, g, make_response, render_template, request
from sqlalchemy import func, select

from app.admin.audit import staff_actor
from app.admin.forms import fingerprint, optional_decimal
from app.admin.shell import admin_blueprint, with_toast
from app.extensions import db
from app.loyalty import tiers
from app.loyalty.base.errors import InvalidInput
from app.loyalty.processing import recalculate_tiers
from app.loyalty.tiers.configuration import BASES, MAX_EARN_MULTIPLIER, PERIODS
from app.models import CustomerLoyaltyProfile, Shop, TierDefinition
from app.shopify.admin_auth import admin_required
from app.tasks import progress

bp = admin_blueprint("admin_tiers", __name__, "/admin/tiers")

TIER_FIELDS = ("name", "threshold", "retention_threshold", "earn_multiplier", "benefits")
# Each number of a tier row: its column, its smallest value and its largest (None: the column's).
NUMBER_FIELDS = {
    "threshold": (TierDefinition.threshold, Decimal(0), None),
    "retention_threshold": (TierDefinition.retention_threshold, Decimal(0), None),
    "earn_multiplier": (TierDefinition.earn_multiplier, Decimal("0.001"), MAX_EARN_MULTIPLIER),
}
NUMBER_LABELS = {
    "threshold": "threshold",
    "retention_threshold": "keep it with",
    "earn_multiplier": "points multiplier",
}
MAX_TIERS = 12
BASIS_LABELS = {"points_earned": "Points earned", "amount_spent": "Amount spent", "orders_placed": "Orders placed"}
PERIOD_LABELS = {
    "lifetime": "Lifetime",
    "calendar_year": "Calendar year",
    "rolling_12_months": "Rolling 12 months",
}
SERVICE_FIELD = re.compile(r"^tiers\[(\d+)\]\.(\w+)")


@bp.get("/")
@admin_required
def index() -> str:
    return _page(_saved_values(), {})


def _saved_values() -> dict[str, Any]:
    """The shop's ladder, basis and period as the form shows them."""
    ladder = tiers.ladder(db.session, shop_id=g.shop.id)
    rows = [
        {
            "name": tier.name,
            "threshold": str(tier.threshold),
            "retention_threshold": "" if tier.retention_threshold is None else str(tier.retention_threshold),
            "earn_multiplier": str(tier.earn_multiplier),
            "benefits": tier.benefits.get("text", ""),
        }
        for tier in ladder
    ]
    return {"basis": g.shop.tier_basis, "period": g.shop.tier_period, "rows": rows}


@bp.post("/preview")
@admin_required
def preview() -> Response:
    """Save and recalculate in a transaction that is rolled back: how many members the change would move."""
    errors: dict[str, str] = {}
    values, specs, rows_of = _submitted(errors)
    if errors:  # the banner lists them without their fields, so each says which tier and number it is about
        errors = {key: f"{_where(key, values)}: {message}" for key, message in errors.items()}
    moved = None
    try:
        if not errors:
            _save(specs, values)
            report = recalculate_tiers(db.session, shop_id=g.shop.id, now=datetime.now(timezone.utc))
            moved = None if report.skipped else report.counts["tier_changes"]
    except InvalidInput as exc:
        _place_error(str(exc), rows_of, errors)
    finally:
        db.session.rollback()  # a preview: the tier changes (and their app events) are never committed
    status = 422 if errors else 200
    return make_response(render_template("admin/tiers/_preview.html", moved=moved, errors=errors), status)


@bp.post("/")
@admin_required
def save() -> Response:
    errors: dict[str, str] = {}
    values, specs, rows_of = _submitted(errors)
    seen = request.form.get("fingerprint", "")
    # The shop row's lock (save_ladder takes it too) keeps a concurrent save from passing this check at the same time.
    db.session.execute(
        select(Shop).where(Shop.id == g.shop.id).with_for_update().execution_options(populate_existing=True)
    )
    if seen != fingerprint(_saved_values()):
        db.session.rollback()
        errors["form"] = "Someone changed the tier ladder since you opened this page: reload it to see their change"
        # The form keeps the stale fingerprint: saving again is refused again until the page is reloaded.
        return make_response(_page(values, errors, fragment=True, seen=seen), 409)
    try:
        if not errors:
            _save(specs, values)
    except InvalidInput as exc:
        _place_error(str(exc), rows_of, errors)
    if errors:
        db.session.rollback()
        return make_response(_page(values, errors, fragment=True, seen=seen), 422)
    members = db.session.execute(select(func.count()).where(CustomerLoyaltyProfile.shop_id == g.shop.id)).scalar_one()
    db.session.commit()
    progress.start(g.shop.id, progress.TIER_RECALCULATION, total=members)
    from app.tasks.sweeps import recalculate_tiers as recalculate_task  # loads Huey only when a ladder is saved

    recalculate_task(g.shop.id)
    return with_toast(make_response(_page(values, {}, fragment=True)), "Tier ladder saved")


@bp.get("/progress")
@admin_required
def recalculation_progress() -> str:
    return render_template("admin/tiers/_progress.html", progress=progress.read(g.shop.id, progress.TIER_RECALCULATION))


def _save(specs: list[tiers.TierSpec], values: dict[str, Any]) -> None:
    tiers.save_ladder(
        db.session,
        shop_id=g.shop.id,
        specs=specs,
        actor=staff_actor(),
        now=datetime.now(timezone.utc),
        basis=values["basis"],
        period=values["period"],
    )


def _submitted(errors: dict[str, str]) -> tuple[dict[str, Any], list[tiers.TierSpec], list[int]]:
    """The form's values, the ladder as specs (rows without a name are left out: that removes a tier), and for each
    spec the form row it came from. Levels follow the rows' order. A number that is not one, or that its column
    cannot hold, goes into `errors` under its field (`tiers-1-threshold`)."""
    rows = []
    for index in range(MAX_TIERS):
        if f"tiers-{index}-name" not in request.form:
            break
        rows.append({field: request.form.get(f"tiers-{index}-{field}", "").strip() for field in TIER_FIELDS})
    specs, rows_of = [], []
    for index, row in enumerate(rows):
        if not row["name"]:
            continue
        numbers = {
            field: optional_decimal(
                row[field],
                f"tiers-{index}-{field}",
                errors,
                column=column,
                minimum=minimum,
                maximum=maximum,
                required=field == "threshold",
            )
            for field, (column, minimum, maximum) in NUMBER_FIELDS.items()
        }
        specs.append(
            tiers.TierSpec(
                name=row["name"],
                level=len(specs) + 1,
                threshold=numbers["threshold"] or Decimal(0),  # with an error when blank: never saved
                retention_threshold=numbers["retention_threshold"],
                earn_multiplier=numbers["earn_multiplier"] or Decimal(1),
                benefits={"text": row["benefits"]} if row["benefits"] else {},
            )
        )
        rows_of.append(index)
    values = {"basis": request.form.get("basis", ""), "period": request.form.get("period", ""), "rows": rows}
    return values, specs, rows_of


def _where(key: str, values: dict[str, Any]) -> str:
    """Which tier and number a field's key (`tiers-1-threshold`) is, as the preview's banner names it."""
    _, index, field = key.split("-", 2)
    return f"{values['rows'][int(index)]['name']}, {NUMBER_LABELS[field]}"


def _place_error(message: str, rows_of: list[int], errors: dict[str, str]) -> None:
    """Put the service's error next to the field it names (`tiers[1].threshold …`), else above the form."""
    named = SERVICE_FIELD.match(message)
    if named and int(named.group(1)) < len(rows_of) and named.group(2) in TIER_FIELDS:
        errors[f"tiers-{rows_of[int(named.group(1))]}-{named.group(2)}"] = message
    elif message.startswith(("basis", "period")):
        errors[message.split(" ", 1)[0]] = message
    else:
        errors["form"] = message


def _page(values: dict[str, Any], errors: dict[str, str], *, fragment: bool = False, seen: str | None = None) -> str:
    rows = [row for row in values["rows"] if any(row.values())]
    if len(rows) < MAX_TIERS:
        rows.append({field: "" for field in TIER_FIELDS})  # one empty row to add a tier
    return render_template(
        "admin/tiers/_form.html" if fragment else "admin/tiers/index.html",
        title="Tiers",
        values=values,
        rows=rows,
        errors=errors,
        fingerprint=seen if seen is not None else fingerprint(_saved_values()),
        bases=[(basis, BASIS_LABELS[basis]) for basis in BASES],
        periods=[(period, PERIOD_LABELS[period]) for period in PERIODS],
        progress=progress.read(g.shop.id, progress.TIER_RECALCULATION),
    )
