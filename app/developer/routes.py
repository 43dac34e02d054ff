"""GET /docs (the repository's docs/) and GET /graphql (the GraphQL explorer, where introspection is allowed)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, url_for
from werkzeug.wrappers import Response

from app.developer.docs import render, titles

bp = Blueprint("developer", __name__)


@bp.get("/docs")
@bp.get("/docs/")
def docs_index() -> str:
    return render_template("developer/docs_index.html", pages=titles())


@bp.get("/docs/<name>")
def docs_page(name: str) -> str:
    page = render(name)
    if page is None:
        abort(404, description=f"no page {name!r} in docs/; see /docs for the list")
    return render_template("developer/doc.html", page=page, pages=titles())


@bp.get("/graphql")
def explorer() -> str | Response:
    """GraphiQL on the storefront schema, served from web/static/vendor (no CDN). Off unless introspection is
    allowed (LOYALTY_GRAPHQL_INTROSPECTION; on by default outside production). Outside production the headers come
    pre-filled with a demo shopper's session token, so queries run at once."""
    settings = current_app.config["SETTINGS"]
    if not settings.graphql_introspection:
        abort(404, description="the GraphQL explorer is off: set LOYALTY_GRAPHQL_INTROSPECTION=true to turn it on")
    headers = {}
    if not settings.is_production:
        from app.commands.demo import demo_shopper_token

        headers = {"Authorization": f"Bearer {demo_shopper_token(settings, '1001')}"}
    return render_template("developer/graphiql.html", endpoint=url_for("graphql.storefront_graphql"), headers=headers)
