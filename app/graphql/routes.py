"""POST /graphql for checkout and customer-account extensions (Bearer session token), with CORS preflight.

Extension code runs on a Shopify origin and authenticates with a Bearer token, never cookies, so the CORS answer is
`*` without credentials.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import cache

from ariadne import graphql_sync
from flask import Blueprint, current_app, jsonify, request
from graphql import GraphQLSchema
from sqlalchemy import select
from werkzeug.wrappers import Response

from app.extensions import db
from app.graphql.context import ShopperContext
from app.graphql.limits import RootFieldLimit, parse_bounded
from app.graphql.schema import build_schema
from app.loyalty.base.installation import Installation, installation_of
from app.models import Shop
from app.shopify.session_tokens import (
    InvalidSessionToken,
    bearer_token,
    verify_extension_token,
)

bp = Blueprint("graphql", __name__)

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Expose-Headers": "X-Shopify-API-Request-Failure-Reauthorize-Url",
    "Access-Control-Max-Age": "7200",
}


@cache
def schema() -> GraphQLSchema:
    return build_schema()


@bp.route("/graphql", methods=["OPTIONS"])
def preflight() -> tuple[str, int, dict[str, str]]:
    return "", 204, CORS_HEADERS


@bp.post("/graphql")
def storefront_graphql() -> tuple[Response, int, dict[str, str]]:
    settings = current_app.config["SETTINGS"]
    try:
        token = bearer_token(request.headers.get("Authorization"))
        shopper = verify_extension_token(token, api_key=settings.shopify_api_key, secrets=settings.webhook_secrets)
    except InvalidSessionToken as exc:
        return jsonify(error="invalid_session_token", message=str(exc)), 401, CORS_HEADERS

    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return jsonify(error="bad_request", message="body must be a JSON object with a query"), 400, CORS_HEADERS

    shop = db.session.execute(select(Shop).where(Shop.domain == shopper.shop)).scalar_one_or_none()
    if installation_of(shop) is not Installation.INSTALLED:
        db.session.rollback()
        message = f"loyalty is not installed on {shopper.shop}"
        return jsonify(error="shop_not_installed", message=message), 401, CORS_HEADERS
    context = ShopperContext(
        session=db.session, shop=shop, customer_id=shopper.customer_id, now=datetime.now(timezone.utc)
    )
    success, result = graphql_sync(
        schema(),
        data,
        context_value=context,
        introspection=settings.graphql_introspection,
        debug=False,
        query_parser=parse_bounded,
        validation_rules=[RootFieldLimit],
    )
    db.session.rollback()  # reads only here; a mutation committed its own transaction
    return jsonify(result), 200 if success else 400, CORS_HEADERS
