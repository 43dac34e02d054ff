"""Merchants' webhook endpoints: create (the secret shown once), list, change, rotate, re-enable, delete; the
delivery log and a manual resend. The service the admin's pages and `flask webhooks` call; every function is
scoped to one shop, so one shop can never see or touch another's endpoints.

Outbound webhooks are a paid-plan feature (FEATURE): without it a shop adds no endpoint and sends no delivery again
(PlanRequired), and app.integrations.outbound_webhooks makes no new delivery; what the shop has is kept, so turning
endpoints off, rotating their secrets and deleting them still work, and deliveries resume once it pays again."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.integrations.targets import UnsafeTarget, check_url, resolve
from app.loyalty.base import plans
from app.loyalty.base.merchant_webhooks import TOPICS
from app.models import Shop, WebhookDelivery, WebhookEndpoint
from app.shopify.token_cipher import TokenCipher

MAX_ENDPOINTS_PER_SHOP = 10
# The plan feature (app.config.BILLING_PLANS) without which a shop adds no endpoint and gets no new delivery.
FEATURE = "outbound_webhooks"
# What the admin shows beside the URL: a note, not a document.
MAX_DESCRIPTION_LENGTH = 500


class EndpointError(ValueError):
    """A refused endpoint change; the message says what is wrong (HTTP 422)."""


class EndpointNotFound(LookupError):
    """No such endpoint or delivery in this shop (HTTP 404)."""


class PlanRequired(EndpointError):
    """The shop's plan in force does not include outbound webhooks (HTTP 402); the message names the plan that does."""


def sending_allowed(session: Session, *, shop_id: int) -> bool:
    """Whether the shop's plan in force includes outbound webhooks: without it, no endpoint is added and no new
    delivery is made (its endpoints are kept, paused, until it pays again)."""
    shop = session.get(Shop, shop_id)
    return shop is not None and plans.plan_allows(shop, FEATURE)


def _require_plan(session: Session, shop_id: int, action: str) -> None:
    if sending_allowed(session, shop_id=shop_id):
        return
    shop = session.get(Shop, shop_id)
    current = plans.current_plan(shop).name if shop is not None else plans.FREE_PLAN.name
    upgrade = plans.upgrade_for(FEATURE)
    offer = f"part of the {upgrade.name} plan" if upgrade is not None else "not part of any plan"
    raise PlanRequired(f"webhook endpoints are {offer}, and this shop is on the {current} plan: upgrade to {action}")


@dataclass(frozen=True)
class CreatedEndpoint:
    endpoint: WebhookEndpoint
    secret: str  # shown to the merchant now and never again


def _checked_topics(topics: list[str]) -> list[str]:
    unknown = sorted(set(topics) - set(TOPICS))
    if unknown:
        raise EndpointError(f"unknown topic(s) {', '.join(unknown)}; topics are {', '.join(TOPICS)}")
    if not topics:
        raise EndpointError(f"choose at least one topic of {', '.join(TOPICS)}")
    return sorted(set(topics))


def _checked_url(url: str, *, allow_private: bool) -> str:
    try:
        check_url(url, allow_private=allow_private)
        resolve(url, allow_private=allow_private)
    except UnsafeTarget as exc:
        raise EndpointError(str(exc)) from None
    return url


def _checked_description(description: str | None) -> str | None:
    if description is not None and len(description) > MAX_DESCRIPTION_LENGTH:
        raise EndpointError(f"the description is longer than {MAX_DESCRIPTION_LENGTH} characters")
    return description


def new_secret() -> str:
    return "lwhsec_" + secrets.token_urlsafe(32)


def create_endpoint(
    session: Session,
    cipher: TokenCipher,
    *,
    shop_id: int,
    url: str,
    topics: list[str],
    description: str | None = None,
    allow_private: bool = False,
) -> CreatedEndpoint:
    """Add an endpoint; returns it with its signing secret, which is stored encrypted and never shown again. Raises
    PlanRequired when the shop's plan does not include outbound webhooks."""
    _require_plan(session, shop_id, "add one")
    count = len(list_endpoints(session, shop_id=shop_id))
    if count >= MAX_ENDPOINTS_PER_SHOP:
        raise EndpointError(f"a shop may have at most {MAX_ENDPOINTS_PER_SHOP} webhook endpoints")
    secret = new_secret()
    endpoint = WebhookEndpoint(
        shop_id=shop_id,
        url=_checked_url(url, allow_private=allow_private),
        secret=cipher.encrypt(secret),
        event_types=_checked_topics(topics),
        description=_checked_description(description),
    )
    session.add(endpoint)
    session.flush()
    return CreatedEndpoint(endpoint=endpoint, secret=secret)


def list_endpoints(session: Session, *, shop_id: int) -> list[WebhookEndpoint]:
    query = select(WebhookEndpoint).where(WebhookEndpoint.shop_id == shop_id).order_by(WebhookEndpoint.id)
    return list(session.execute(query).scalars())


def get_endpoint(session: Session, *, shop_id: int, endpoint_id: int) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.shop_id != shop_id:
        raise EndpointNotFound(f"no webhook endpoint {endpoint_id} in this shop")
    return endpoint


def update_endpoint(
    session: Session,
    *,
    shop_id: int,
    endpoint_id: int,
    url: str | None = None,
    topics: list[str] | None = None,
    description: str | None = None,
    active: bool | None = None,
    allow_private: bool = False,
) -> WebhookEndpoint:
    """Change an endpoint; turning it on again clears an automatic disable and its failure count."""
    endpoint = get_endpoint(session, shop_id=shop_id, endpoint_id=endpoint_id)
    if url is not None:
        endpoint.url = _checked_url(url, allow_private=allow_private)
    if topics is not None:
        endpoint.event_types = _checked_topics(topics)
    if description is not None:
        endpoint.description = _checked_description(description)
    if active is not None:
        endpoint.active = active
        if active:
            endpoint.disabled_at = None
            endpoint.disabled_reason = None
            endpoint.consecutive_failures = 0
    session.flush()
    return endpoint


def rotate_secret(session: Session, cipher: TokenCipher, *, shop_id: int, endpoint_id: int) -> str:
    """A new signing secret for the endpoint (shown once); deliveries from now on are signed with it."""
    endpoint = get_endpoint(session, shop_id=shop_id, endpoint_id=endpoint_id)
    secret = new_secret()
    endpoint.secret = cipher.encrypt(secret)
    session.flush()
    return secret


def delete_endpoint(session: Session, *, shop_id: int, endpoint_id: int) -> None:
    """Remove the endpoint; its delivery log stays (endpoint_id becomes NULL)."""
    session.delete(get_endpoint(session, shop_id=shop_id, endpoint_id=endpoint_id))
    session.flush()


def deliveries(
    session: Session, *, shop_id: int, endpoint_id: int | None = None, limit: int = 50
) -> list[WebhookDelivery]:
    """The delivery log, newest first: topic, status, attempts, response status and time."""
    query = select(WebhookDelivery).where(WebhookDelivery.shop_id == shop_id)
    if endpoint_id is not None:
        query = query.where(WebhookDelivery.endpoint_id == endpoint_id)
    return list(session.execute(query.order_by(WebhookDelivery.id.desc()).limit(min(limit, 500))).scalars())


def resend(session: Session, *, shop_id: int, delivery_id: uuid.UUID, now: datetime) -> WebhookDelivery:
    """Queue a delivery again at once (same delivery id, so a receiver that has it already can drop it). Sending
    again is a new delivery: PlanRequired when the shop's plan does not include outbound webhooks."""
    delivery = session.execute(
        select(WebhookDelivery).where(WebhookDelivery.shop_id == shop_id, WebhookDelivery.delivery_id == delivery_id)
    ).scalar_one_or_none()
    if delivery is None:
        raise EndpointNotFound(f"no webhook delivery {delivery_id} in this shop")
    _require_plan(session, shop_id, "send a delivery again")
    if delivery.endpoint_id is None:
        raise EndpointError("the endpoint of this delivery was deleted; there is nowhere to resend it")
    delivery.status = "pending"
    delivery.attempts = 0
    delivery.next_attempt_at = now
    session.flush()
    return delivery


def endpoint_view(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """What the admin and the CLI show of an endpoint: never its secret."""
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "topics": list(endpoint.event_types),
        "description": endpoint.description,
        "active": endpoint.active,
        "disabled_at": endpoint.disabled_at.isoformat() if endpoint.disabled_at else None,
        "disabled_reason": endpoint.disabled_reason,
        "consecutive_failures": endpoint.consecutive_failures,
    }


def delivery_view(delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "delivery_id": str(delivery.delivery_id),
        "endpoint_id": delivery.endpoint_id,
        "topic": delivery.topic,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "response_status": delivery.response_status,
        "response_ms": delivery.response_ms,
        "last_error": delivery.last_error,
        "next_attempt_at": delivery.next_attempt_at.isoformat() if delivery.status == "pending" else None,
        "created_at": delivery.created_at.isoformat(),
        "delivered_at": delivery.delivered_at.isoformat() if delivery.delivered_at else None,
    }
