"""Blueprint "shopify": POST /webhooks (the install routes are app/shopify/install_routes.py).

The handler only verifies, envelopes and commits the event to the inbox, one INSERT on a pooled connection: the
relay in the stream process puts it on the Redis stream (app/events/relay.py) and the stream process does the work,
so Shopify gets its 200 well inside its 5-second deadline and never waits on Redis.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from werkzeug.wrappers import Response

from app.events import inbox
from app.events.envelope import derive_event_id, parse_timestamp
from app.extensions import InboxUnavailable, inbox_pool
from app.loyalty.base.inbound import InboundEvent
from app.shopify.topics import (
    MalformedPayload,
    check_ids,
    customer_id_of,
    event_type_for,
    may_hold_unstorable_characters,
    without_unstorable_characters,
)
from app.shopify.webhooks import verify_webhook

bp = Blueprint("shopify", __name__)

# The largest realistic order (2,500 line items with their tax lines) is about 2.4 MB of JSON; this leaves room for
# that and refuses anything that could only be abuse well before it costs real memory.
MAX_WEBHOOK_BYTES = 6 * 1024 * 1024


def _not_json_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; JSON (and PostgreSQL's jsonb) do not.
    raise ValueError(f"{name} is not a JSON value")


@bp.post("/webhooks")
def receive_webhook() -> tuple[Response, int]:
    settings = current_app.config["SETTINGS"]
    request.max_content_length = MAX_WEBHOOK_BYTES
    if request.content_length is not None and request.content_length > MAX_WEBHOOK_BYTES:
        message = f"webhook body of {request.content_length} bytes is over the {MAX_WEBHOOK_BYTES} byte limit"
        return jsonify(error="request_entity_too_large", message=message), 413
    raw_body = request.get_data(cache=False)
    check = verify_webhook(request.headers, raw_body, settings.webhook_secrets)
    if not check.ok:
        current_app.logger.warning("webhook refused: %s (%s)", check.code, check.detail)
        return jsonify(error=check.code, message=check.detail), check.status
    assert check.topic and check.shop

    event_type = event_type_for(check.topic)
    if event_type is None:
        # Signed by Shopify but not a topic we subscribe to: acknowledge so Shopify stops retrying.
        return jsonify(status="ignored", topic=check.topic), 200
    payload_json = check.body
    try:
        payload = json.loads(payload_json, parse_constant=_not_json_constant)
        if not isinstance(payload, dict):
            return jsonify(error="invalid_json", message="body must be a JSON object"), 400
        if may_hold_unstorable_characters(payload_json):
            payload = without_unstorable_characters(payload)
            # A number too large for a float (1e309) was parsed as inf, which would be written as Infinity and
            # refused by jsonb: a 400 saying so, not a 500. (Without cleaning, the raw body keeps the number.)
            payload_json = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    except ValueError as exc:
        return jsonify(error="invalid_json", message=f"body is not valid JSON: {exc}"), 400
    except RecursionError:
        return jsonify(error="invalid_json", message="body is nested too deeply"), 400

    try:
        check_ids(check.topic, payload)
        customer_id = customer_id_of(check.topic, payload)
    except MalformedPayload as exc:
        return jsonify(error="invalid_payload", message=str(exc)), 400

    event = InboundEvent(
        event_id=derive_event_id(check.shop, check.topic, check.event_id, check.webhook_id),
        event_type=event_type,
        shop_domain=check.shop,
        customer_id=customer_id,
        timestamp=_occurred_at(check.triggered_at),
        event_data=payload,
    )
    # One autocommitted INSERT: the row is committed before Shopify hears 200, in a single round trip.
    try:
        is_new = inbox_pool.run(
            lambda connection: inbox.record_event(
                connection, event, topic=check.topic, webhook_id=check.webhook_id, payload_json=payload_json
            )
        )
    except inbox.ShopNotInstalled as exc:
        # Signed by Shopify, for a shop that never installed (or was redacted): 200 so Shopify stops retrying.
        return jsonify(status="ignored", message=str(exc)), 200
    except InboxUnavailable as exc:
        # Nothing is recorded, so the delivery must not look accepted: Shopify retries a 5xx.
        current_app.logger.error("webhook not recorded, the inbox is unavailable: %s", exc)
        return jsonify(error="inbox_unavailable", message="the event could not be recorded; retry later"), 503
    return jsonify(status="accepted" if is_new else "duplicate", event_id=str(event.event_id)), 200


def _occurred_at(triggered_at: str | None) -> datetime:
    """When the event happened: X-Shopify-Triggered-At, or the time of receipt when the header is missing, is not a
    time, or lies ahead of the receipt (the event becomes the order's placed_at, which a year-9999 header would keep
    inside every tier window for good). The header is not covered by the HMAC, so it is never a reason to refuse."""
    received = datetime.now(timezone.utc)
    if triggered_at:
        try:
            return min(parse_timestamp(triggered_at), received)
        except ValueError:
            pass
    return received
