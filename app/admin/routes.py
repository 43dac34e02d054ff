"""Blueprint "admin": the embedded admin's home, `GET /`, showing that the shop is connected.

The embedded admin issue builds the shell and its pages here, each behind `admin_required`.
"""

from __future__ import annotations

from flask import Blueprint, g, render_template, request

from app.shopify.admin_auth import admin_required

bp = Blueprint("admin", __name__)


@bp.get("/")
@admin_required
def home() -> str:
    """The home page; an htmx request gets only its connection fragment."""
    template = "admin/_connection.html" if request.headers.get("HX-Request") else "admin/home.html"
    return render_template(template, shop=g.shop, staff_user_id=g.staff_user_id)
