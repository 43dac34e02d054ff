"""Blueprint "admin": the dashboard at `GET /`, the page Shopify admin opens first."""

from __future__ import annotations

from flask import g, render_template, request

from app.admin.shell import admin_blueprint
from app.shopify.admin_auth import admin_required

bp = admin_blueprint("admin", __name__)


@bp.get("/")
@admin_required
def home() -> str:
    """The dashboard; an htmx request for the connection card gets only that fragment."""
    if request.headers.get("HX-Request") and not request.headers.get("HX-Boosted"):
        return render_template("admin/_connection.html", shop=g.shop, staff_user_id=g.staff_user_id)
    return render_template("admin/dashboard.html", title="Dashboard", shop=g.shop, staff_user_id=g.staff_user_id)
