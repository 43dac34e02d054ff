"""POST /graphql for checkout and customer-account extensions (Bearer session token), with CORS preflight.

Extension code runs on a Shopify origin (Shopify's web workers: `Origin` is https://extensions.shopifycdn.com, or
`null`) and authenticates with a Bearer token, never cookies, so the CORS answer is `*` without credentials.
"""

from __future__ import annotations

import time
from collections import OrderedDict

import jwt
from flask import Blueprint, Response, current_app, request

from app.graphql.execution import Answer, body_json, error_answer, serve
from app.graphql.rate_limit import Limits
from app.shopify.session_tokens import ExtensionSession, InvalidSessionToken, bearer_token, verify_extension_token

bp = Blueprint("graphql", __name__)

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Expose-Headers": "X-Shopify-API-Request-Failure-Reauthorize-Url",
    "Access-Control-Max-Age": "7200",
}


@bp.record_once
def _configure(state) -> None:  # type: ignore[no-untyped-def]
    """STOREFRONT_LIMITS: a rate_limit.Limits, or its fields as a dict (a gunicorn factory call can pass that)."""
    limits = state.app.config.get("STOREFRONT_LIMITS", Limits())
    state.app.config["STOREFRONT_LIMITS"] = Limits(**limits) if isinstance(limits, dict) else limits


# Tokens verified in this process, until they expire: an extension sends the same token for its whole lifetime (up
# to 5 minutes), and its signature check is a third of a cached read's cost.
VERIFIED_TOKENS_MAX = 10_000
_verified: OrderedDict[tuple[str, str, tuple[str, ...]], tuple[ExtensionSession, float]] = OrderedDict()


def _shopper(token: str, *, api_key: str, secrets: tuple[str, ...]) -> ExtensionSession:
    key = (token, api_key, secrets)  # verified for these credentials only
    known = _verified.get(key)
    if known is not None and known[1] > time.time():
        return known[0]
    shopper = verify_extension_token(token, api_key=api_key, secrets=secrets)
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]  # present: verify_extension_token says so
    _verified[key] = (shopper, float(expires))
    while len(_verified) > VERIFIED_TOKENS_MAX:
        _verified.popitem(last=False)
    return shopper


def respond(answer: Answer) -> Response:
    return Response(answer.body, status=answer.status, headers=answer.headers)


@bp.route("/graphql", methods=["OPTIONS"])
def preflight() -> tuple[str, int, dict[str, str]]:
    return "", 204, CORS_HEADERS


@bp.post("/graphql")
def storefront_graphql() -> Response:
    settings = current_app.config["SETTINGS"]
    try:
        token = bearer_token(request.headers.get("Authorization"))
        shopper = _shopper(token, api_key=settings.shopify_api_key, secrets=settings.webhook_secrets)
    except InvalidSessionToken as exc:
        return respond(error_answer(401, str(exc), CORS_HEADERS, "invalid_session_token"))
    data = body_json(request)
    return respond(
        serve(data, shop_domain=shopper.shop, customer_id=shopper.customer_id, read_only=False, headers=CORS_HEADERS)
    )
