"""One storefront GraphQL request, whichever door it came in by (extension token or app proxy): read the operation,
apply the budgets, answer from the read cache when it can, else run it. The caller has verified who is asking.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from typing import Any

from ariadne import graphql_sync
from flask import current_app
from graphql import GraphQLError, GraphQLSchema, validate
from psycopg.pq import TransactionStatus
from sqlalchemy.orm import Session

from app.extensions import db, redis_store
from app.graphql import rate_limit, read_cache
from app.graphql.context import ShopperContext
from app.graphql.limits import VALIDATION_RULES, parse_bounded
from app.graphql.persisted import PersistedOperation, PersistedOperations
from app.graphql.schema import build_schema
from app.loyalty.base.errors import LoyaltyError
from app.loyalty.base.installation import Installation
from app.models import Shop

log = logging.getLogger(__name__)


@cache
def schema() -> GraphQLSchema:
    return build_schema()


@cache
def persisted() -> PersistedOperations:
    return PersistedOperations(schema())


class BadRequest(Exception):
    """The request does not carry a usable GraphQL operation."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]


def body_json(request: Any) -> Any:
    """A request's JSON body; None when it has none or it is not JSON (serve answers that with a 400). JSON nested too
    deeply to parse is not JSON either: Flask's get_json lets its RecursionError through."""
    try:
        return request.get_json(silent=True)
    except RecursionError:
        return None


def _json_field(raw: Any, name: str) -> dict[str, Any] | None:
    """variables or extensions: a JSON object, or JSON text of one (a GET query string carries it as text)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError):
            raise BadRequest(f"{name} must be a JSON object") from None
    if raw is None or isinstance(raw, dict):
        return raw
    raise BadRequest(f"{name} must be a JSON object")


def operation_request(data: Any) -> tuple[dict[str, Any], PersistedOperation | None]:
    """The operation data, with a persisted operation's text filled in; BadRequest when unusable."""
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object with a query (or a persisted query hash)")
    variables = _json_field(data.get("variables"), "variables")
    extensions = _json_field(data.get("extensions"), "extensions") or {}
    persisted_query = extensions.get("persistedQuery") or {}
    if not isinstance(persisted_query, dict):
        raise BadRequest("extensions.persistedQuery must be a JSON object with a sha256Hash")
    wanted = data.get("id") or persisted_query.get("sha256Hash")
    query = data.get("query")
    if wanted is not None:
        operation = persisted().by_hash(str(wanted))
        if operation is None:
            raise BadRequest("persisted query not found: only the operations the extensions ship are persisted")
    elif isinstance(query, str):
        operation = persisted().by_text(query)
    else:
        raise BadRequest("query must be a GraphQL document (a string), or send a persisted query hash")
    name = data.get("operationName")
    body = {"query": operation.text if operation else query, "variables": variables, "operationName": name}
    return body, operation


def _validator(schema_: GraphQLSchema, document: Any, rules: Any = None, **kwargs: Any) -> list[GraphQLError]:
    """Persisted documents were validated when loaded (with every limit); any other is validated now."""
    if id(document) in persisted().documents:
        return []
    return validate(schema_, document, rules=rules, **kwargs)


def _format_error(error: GraphQLError, debug: bool = False) -> dict[str, Any]:
    """Our own errors say what is wrong; anything unexpected is logged and answered without its details."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError | LoyaltyError):
        return error.formatted
    log.error("storefront resolver failed", exc_info=original)
    return {"message": "internal error", "locations": error.formatted.get("locations"), "path": error.path}


def _json(status: int, payload: Any, headers: dict[str, str]) -> Answer:
    return Answer(status, json.dumps(payload, separators=(",", ":")).encode(), headers)


def _transaction_aborted(session: Session) -> bool:
    """Whether a database error left the request's open transaction unusable (PostgreSQL refuses all but ROLLBACK).
    A mutation's unit of work committed before that is kept; its client's retry with the same idempotency key gets
    its result."""
    if not session.in_transaction():
        return False
    connection = session.connection().connection.driver_connection
    return connection.info.transaction_status == TransactionStatus.INERROR


def error_answer(status: int, message: str, headers: dict[str, str], code: str) -> Answer:
    """A refusal before any GraphQL runs, in the app's error shape: {"error": code, "message": ...}."""
    return _json(status, {"error": code, "message": message}, {**headers, "Content-Type": "application/json"})


def serve(
    data: Any,
    *,
    shop_domain: str,
    customer_id: str | None,
    read_only: bool,
    headers: dict[str, str],
    proxy_prefix: str = "/apps/loyalty",
) -> Answer:
    """Answer one operation for a verified shop and shopper (None: a guest)."""
    headers = {**headers, "Content-Type": "application/json", "Cache-Control": "private, no-store"}
    try:
        body, operation = operation_request(data)
    except BadRequest as exc:
        return error_answer(400, str(exc), headers, "bad_request")
    if read_only and operation is not None and not operation.is_query:
        return error_answer(405, "a GET request can only run a query; send mutations with POST", headers, "bad_request")

    key = None
    if operation is not None and operation.name in read_cache.CACHEABLE_OPERATIONS:
        key = read_cache.cache_key(
            redis_store.namespace,
            shop_domain=shop_domain,
            customer_id=customer_id,
            operation_hash=operation.sha256,
            variables=body["variables"],
        )
    # The budgets and the cached answer are asked of Redis first; the snapshot's query runs while Redis answers.
    engine = read_cache.reads_engine(
        current_app.config["SQLALCHEMY_DATABASE_URI"], current_app.config["SETTINGS"].database_connect_args
    )
    with rate_limit.begin(
        redis_store.client,
        redis_store.namespace,
        current_app.config["STOREFRONT_LIMITS"],
        shop=shop_domain,
        customer_id=customer_id,
        now=time.time(),
        cache_key=key,
    ) as pending:
        snap = read_cache.snapshot(engine, shop_domain=shop_domain, customer_id=customer_id)
        verdict = pending.verdict()
    if snap.installation is not Installation.INSTALLED:
        return error_answer(401, f"loyalty is not installed on {shop_domain}", headers, "shop_not_installed")
    if not verdict.allowed:
        headers = {**headers, "Retry-After": str(verdict.retry_after)}
        return error_answer(429, f"too many requests: retry in {verdict.retry_after} s", headers, "rate_limited")
    now = datetime.now(timezone.utc)
    current = read_cache.version(snap, now)
    cached = read_cache.current_answer(verdict.cached, current)
    if cached is not None:
        return Answer(200, cached, headers)

    session = db.session
    shop = session.get(Shop, snap.shop_id)
    context = ShopperContext(
        session=session,
        shop=shop,
        customer_id=customer_id,
        now=now,
        proxy_prefix=proxy_prefix,
        shop_version=snap.shop_version,
    )
    settings = current_app.config["SETTINGS"]
    success, result = graphql_sync(
        schema(),
        body,
        context_value=context,
        introspection=settings.graphql_introspection,
        debug=False,
        query_parser=parse_bounded,
        query_document=operation.document if operation else None,
        query_validator=_validator,
        validation_rules=VALIDATION_RULES,
        require_query=read_only,
        error_formatter=_format_error,
    )
    if _transaction_aborted(session()):
        # A database error in a field aborted the request's transaction: what it wrote is gone (the commit would roll
        # it back without a word), so an answer built on it, such as a referral code created on first ask, is untrue.
        session.rollback()
        return _json(500, {"errors": [{"message": "internal error"}]}, headers)
    # A query may create the shopper's referral link on first ask; a mutation committed its own unit of work.
    session.commit()
    answer = _json(200 if success else 400, result, headers)
    if key is not None and success and not result.get("errors"):
        redis_store.client.set(key, read_cache.stamped(answer.body, current), ex=read_cache.CACHE_SECONDS)
    return answer
