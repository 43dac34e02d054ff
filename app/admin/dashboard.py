"""Blueprint "admin": the dashboard at `GET /`, the page Shopify admin opens first, and its chart data.

The range is the last 7, 30 or 90 days (`?days=`), ending now; the figures are app.loyalty.reports' aggregates.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flask import Response, abort, g, jsonify, render_template, request

from app.admin.shell import admin_blueprint
from app.extensions import db
from app.loyalty import reports
from app.rules.values import is_ascii_digits
from app.shopify.admin_auth import admin_required

bp = admin_blueprint("admin", __name__)

RANGES = (7, 30, 90)


@bp.get("/")
@admin_required
def home() -> str:
    """The dashboard; an htmx request for the connection card gets only that fragment."""
    if request.headers.get("HX-Request") and not request.headers.get("HX-Boosted"):
        return render_template("admin/_connection.html", shop=g.shop, staff_user_id=g.staff_user_id)
    days = _days()
    now = datetime.now(timezone.utc)
    figures = reports.dashboard_figures(db.session, shop=g.shop, start=now - timedelta(days=days), end=now, now=now)
    daily = reports.daily_points(db.session, shop=g.shop, start=now - timedelta(days=days), end=now)
    return render_template(
        "admin/dashboard.html",
        title="Dashboard",
        shop=g.shop,
        staff_user_id=g.staff_user_id,
        figures=figures,
        daily=daily,
        days=days,
        range_options=[(str(option), f"Last {option} days") for option in RANGES],
    )


@bp.get("/admin/dashboard/points.json")
@admin_required
def points_series() -> Response:
    """Points issued and redeemed per day of the range, for the time-series chart."""
    days = _days()
    now = datetime.now(timezone.utc)
    daily = reports.daily_points(db.session, shop=g.shop, start=now - timedelta(days=days), end=now)
    return jsonify(
        labels=[row.day.isoformat() for row in daily],
        datasets=[
            {"label": "Issued", "data": [row.issued for row in daily]},
            {"label": "Redeemed", "data": [row.redeemed for row in daily]},
        ],
    )


@bp.get("/admin/dashboard/revenue.json")
@admin_required
def revenue_bars() -> Response:
    """Revenue from members' orders against everyone else's, for the bar chart."""
    days = _days()
    now = datetime.now(timezone.utc)
    figures = reports.dashboard_figures(db.session, shop=g.shop, start=now - timedelta(days=days), end=now, now=now)
    return jsonify(
        labels=["Members", "Non-members"],
        datasets=[
            {"label": f"Revenue ({g.shop.currency})", "data": [str(figures.member_revenue), str(figures.other_revenue)]}
        ],
    )


def _days() -> int:
    raw = request.args.get("days", "30")
    if not is_ascii_digits(raw) or int(raw) not in RANGES:
        abort(400, description=f"days must be one of {', '.join(map(str, RANGES))}, got {raw[:20]!r}")
    return int(raw)
