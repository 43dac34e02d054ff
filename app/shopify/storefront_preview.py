"""Development mode's stand-in for a shop's storefront: a page that renders the theme app extension's real Liquid
blocks (with python-liquid, Shopify's `t`, `asset_url` and `json` filters and the blocks' schema defaults), and a
stand-in for Shopify's app proxy at `/apps/loyalty/*` that signs each request as Shopify does and forwards it to
`/proxy/*`, so the widget runs the same verification path as on a real store. Registered only in development.

The shopper is chosen with `/dev/storefront?customer=<id>` (blank: a guest), kept in a cookie as a storefront's
session would be.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request, send_from_directory
from liquid import Environment, FileSystemLoader
from markupsafe import Markup

from app.paths import PROJECT_ROOT
from app.shopify.app_proxy import CUSTOMER_ID, sign_proxy_query
from app.shopify.development import DEMO_SHOP

bp = Blueprint("storefront_preview", __name__)

THEME = PROJECT_ROOT / "extensions" / "loyalty-theme"
PROXY_PREFIX = "/apps/loyalty"
CUSTOMER_COOKIE = "loyalty_dev_customer"
_SCHEMA = re.compile(r"{%-?\s*schema\s*-?%}(.*?){%-?\s*endschema\s*-?%}", re.S)


@bp.before_request
def development_only() -> None:
    if not current_app.config["SETTINGS"].development_admin:
        abort(404)


def _translate(key: str) -> str:
    value: Any = _locale()
    for part in key.split("."):
        value = value[part]
    return str(value)


@cache
def _locale() -> dict[str, Any]:
    return json.loads((THEME / "locales" / "en.default.json").read_text())


@cache
def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(THEME / "snippets", ext=".liquid"))
    env.filters["t"] = _translate
    env.filters["asset_url"] = lambda name: f"/dev/theme-assets/{name}"
    env.filters["json"] = lambda value: json.dumps(value)
    return env


def render_block(name: str, customer_id: str | None) -> str:
    """One block of the theme app extension as Shopify would render it, with its settings' defaults."""
    source = (THEME / "blocks" / f"{name}.liquid").read_text()
    schema = json.loads(_SCHEMA.search(source).group(1))  # type: ignore[union-attr]
    settings = {field["id"]: field.get("default", "") for field in schema.get("settings", [])}
    template = _environment().from_string(_SCHEMA.sub("", source))
    return template.render(
        block={"settings": settings},
        customer={"id": customer_id} if customer_id else None,
        routes={"account_login_url": "/account/login", "account_register_url": "/account/register"},
    )


@bp.get("/dev/storefront")
def storefront() -> Response:
    """A page standing in for a theme, with the app embed (launcher) and the loyalty page block rendered."""
    customer = request.args.get("customer", request.cookies.get(CUSTOMER_COOKIE, ""))
    if customer and not CUSTOMER_ID.fullmatch(customer):
        abort(400, description="customer must be a numeric Shopify customer id, or blank for a guest")
    html = render_template(
        "dev/storefront.html",
        shop=DEMO_SHOP,
        customer=customer or None,
        embed=Markup(render_block("loyalty-launcher", customer or None)),
        page_block=Markup(render_block("loyalty-page", customer or None)),
        show_page_block=request.args.get("page") == "1",
    )
    response = Response(html, mimetype="text/html")
    response.set_cookie(CUSTOMER_COOKIE, customer, httponly=True, samesite="Lax")
    return response


@bp.get("/dev/theme-assets/<path:name>")
def theme_asset(name: str) -> Response:
    return send_from_directory(Path(THEME / "assets"), name, max_age=0)


@bp.route(f"{PROXY_PREFIX}/<path:rest>", methods=["GET", "POST"])
def app_proxy(rest: str) -> Response:
    """Shopify's app proxy: sign the storefront request's query with the shop and shopper, forward to /proxy/*."""
    settings = current_app.config["SETTINGS"]
    query = sign_proxy_query(
        request.args.to_dict(),
        secret=settings.shopify_api_secret,
        shop=DEMO_SHOP,
        customer_id=request.cookies.get(CUSTOMER_COOKIE) or None,
        path_prefix=PROXY_PREFIX,
    )
    return redirect(f"/proxy/{rest}?{query}", code=307)  # 307: a POST stays a POST with its body
