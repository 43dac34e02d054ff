"""Signed delivery of loyalty events to merchants' endpoints: fan-out to deliveries, one attempt, the due sweep.

- `fan_out` turns one business event (topic + data) into one `webhook_deliveries` row per active endpoint that
  subscribes to the topic. The unique (endpoint, dedupe key) makes it safe to run twice: the outbox dispatcher may.
  It and `stage_for_url` make nothing while the shop's plan lacks outbound webhooks (`endpoints.sending_allowed`):
  the endpoints are kept, paused by the plan, and the deliveries made before (retries included) are still sent.
- `attempt` sends one delivery once: signed body, explicit timeouts and a deadline for the whole exchange
  (app/integrations/deadline.py), no redirects, at most MAX_RESPONSE_BYTES of the answer read, the target re-checked
  against private addresses. A 2xx delivers; anything else schedules the next
  attempt on RETRY_SCHEDULE_S with jitter, and after the last one the delivery fails. AUTO_DISABLE_AFTER failed
  deliveries in a row disable the endpoint with a reason the merchant sees in the admin.
- `deliver_due` is the periodic sweep over pending deliveries whose time has come, each row locked (SKIP LOCKED)
  so several workers never send the same one at once; given ids, it sends only those (an outbox row's first attempt
  at the deliveries it just made).
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from app.integrations import deadline, signing
from app.integrations.endpoints import TOPICS, EndpointNotFound, sending_allowed
from app.integrations.targets import UnsafeTarget, resolve
from app.models import AuditLog, Shop, WebhookDelivery, WebhookEndpoint
from app.monitoring.metrics import record_webhook_delivery
from app.shopify.token_cipher import TokenCipher

log = logging.getLogger(__name__)

# Seconds to wait after attempt n fails (n = 1, 2, …): about 23.6 hours from the first attempt to the last.
RETRY_SCHEDULE_S = (60, 300, 1800, 3600, 7200, 14400, 28800, 28800)
MAX_ATTEMPTS = len(RETRY_SCHEDULE_S) + 1
JITTER = 0.2  # ±20 %, so endpoints that failed together do not retry together
AUTO_DISABLE_AFTER = 5
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
# The whole exchange (connect, send, the answer's status and as much of its body as is read) ends by then, however
# slowly the receiver sends: each of TIMEOUT's waits alone does not bound it.
ATTEMPT_DEADLINE_S = 15.0
MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "loyalty-webhooks/1"
# The topic of deliveries made by the rule action `webhook` (sent to the URL the rule names).
RULE_TOPIC = "rule.webhook"


@dataclass(frozen=True)
class DeliveryPolicy:
    allow_private: bool = False
    rng: random.Random | None = None  # tests pass a seeded one
    deadline_s: float = ATTEMPT_DEADLINE_S

    def delay_after(self, attempts: int) -> timedelta:
        base = RETRY_SCHEDULE_S[min(attempts, len(RETRY_SCHEDULE_S)) - 1]
        spread = (self.rng or random).uniform(1 - JITTER, 1 + JITTER)
        return timedelta(seconds=base * spread)


def envelope(*, topic: str, shop_domain: str, data: dict[str, Any], occurred_at: datetime) -> dict[str, Any]:
    """The versioned payload (docs/webhooks.md): the body is this, as compact JSON with sorted keys."""
    return {
        "version": signing.PAYLOAD_VERSION,
        "topic": topic,
        "shop_domain": shop_domain,
        "occurred_at": occurred_at.isoformat(),
        "data": data,
    }


def fan_out(
    session: Session,
    *,
    shop_id: int,
    topic: str,
    data: dict[str, Any],
    dedupe_key: str,
    occurred_at: datetime,
    event_id: uuid.UUID | None = None,
) -> list[WebhookDelivery]:
    """One pending delivery per active endpoint of the shop subscribed to `topic`; none twice for a dedupe key."""
    if topic not in TOPICS:
        raise ValueError(f"unknown webhook topic {topic!r}; topics are {', '.join(TOPICS)}")
    shop = session.get(Shop, shop_id)
    if shop is None:
        return []
    if not sending_allowed(session, shop_id=shop_id):
        log.info("webhook %s of shop %s not delivered: its plan does not include outbound webhooks", topic, shop_id)
        return []
    endpoints = session.execute(
        select(WebhookEndpoint).where(
            WebhookEndpoint.shop_id == shop_id,
            WebhookEndpoint.active.is_(True),
            WebhookEndpoint.event_types.contains([topic]),
        )
    ).scalars()
    payload = envelope(topic=topic, shop_domain=shop.domain, data=data, occurred_at=occurred_at)
    created = [_stage(session, endpoint, topic, dedupe_key, payload, occurred_at, event_id) for endpoint in endpoints]
    return [delivery for delivery in created if delivery is not None]


def stage_for_url(
    session: Session,
    *,
    shop_id: int,
    url: str,
    data: dict[str, Any],
    dedupe_key: str,
    occurred_at: datetime,
    event_id: uuid.UUID | None = None,
) -> WebhookDelivery | None:
    """The rule action `webhook`: one delivery (topic RULE_TOPIC) to the shop's endpoint with this URL, whatever
    topics it chose; None when it was staged before, or when the shop's plan does not include outbound webhooks.
    Raises EndpointNotFound when the shop has no active endpoint with that URL: the endpoint holds the signing
    secret, so it must be registered first."""
    if not sending_allowed(session, shop_id=shop_id):
        log.info("rule webhook of shop %s not delivered: its plan does not include outbound webhooks", shop_id)
        return None
    shop = session.get(Shop, shop_id)
    endpoint = session.execute(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.shop_id == shop_id, WebhookEndpoint.url == url, WebhookEndpoint.active.is_(True))
        .order_by(WebhookEndpoint.id)
        .limit(1)
    ).scalar_one_or_none()
    if shop is None or endpoint is None:
        raise EndpointNotFound(
            f"the rule's webhook URL {url} is not an active webhook endpoint of this shop: add it under webhooks first"
        )
    payload = envelope(topic=RULE_TOPIC, shop_domain=shop.domain, data=data, occurred_at=occurred_at)
    return _stage(session, endpoint, RULE_TOPIC, dedupe_key, payload, occurred_at, event_id)


def _stage(
    session: Session,
    endpoint: WebhookEndpoint,
    topic: str,
    dedupe_key: str,
    payload: dict[str, Any],
    occurred_at: datetime,
    event_id: uuid.UUID | None,
) -> WebhookDelivery | None:
    row = session.execute(
        insert(WebhookDelivery)
        .values(
            shop_id=endpoint.shop_id,
            endpoint_id=endpoint.id,
            topic=topic,
            dedupe_key=dedupe_key,
            url=endpoint.url,
            event_id=event_id,
            payload=payload,
            next_attempt_at=occurred_at,
        )
        .on_conflict_do_nothing(index_elements=["endpoint_id", "dedupe_key"])
        .returning(WebhookDelivery.id)
    ).scalar_one_or_none()
    return None if row is None else session.get(WebhookDelivery, row)


def body_of(delivery: WebhookDelivery) -> bytes:
    payload = {**delivery.payload, "delivery_id": str(delivery.delivery_id)}
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def signed_headers(delivery: WebhookDelivery, secret: str, body: bytes, *, timestamp: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        signing.TOPIC_HEADER: delivery.topic,
        signing.DELIVERY_HEADER: str(delivery.delivery_id),
        signing.SHOP_HEADER: delivery.payload.get("shop_domain", ""),
        signing.VERSION_HEADER: str(signing.PAYLOAD_VERSION),
        signing.TIMESTAMP_HEADER: str(timestamp),
        signing.SIGNATURE_HEADER: signing.signature(secret, timestamp, body),
    }


def _post(client: httpx.Client, url: str, headers: dict[str, str], body: bytes, policy: DeliveryPolicy) -> int:
    """POST to the checked address; the status. Reads at most MAX_RESPONSE_BYTES of the answer, then drops it; the
    whole exchange ends within the policy's deadline (a client from `build_client`)."""
    target = resolve(url, allow_private=policy.allow_private)
    request = client.build_request(
        "POST",
        target.pinned_url,
        headers={**headers, "Host": target.host if target.port in (80, 443) else f"{target.host}:{target.port}"},
        content=body,
        extensions={"sni_hostname": target.host},
    )
    with deadline.within(policy.deadline_s):
        response = client.send(request, stream=True, follow_redirects=False)
        try:
            received = 0
            for chunk in response.iter_raw():
                received += len(chunk)
                if received >= MAX_RESPONSE_BYTES:
                    break
        except httpx.TimeoutException:
            pass  # the status came in time and is the answer; the rest of the body is only read to be dropped
        finally:
            response.close()
    return response.status_code


def attempt(
    session: Session,
    delivery: WebhookDelivery,
    *,
    cipher: TokenCipher,
    client: httpx.Client,
    now: datetime,
    policy: DeliveryPolicy,
) -> str:
    """Send one delivery once and record the outcome on its row (the caller commits); "delivered", "retry" or
    "failed"."""
    endpoint = session.get(WebhookEndpoint, delivery.endpoint_id) if delivery.endpoint_id else None
    if endpoint is None or not endpoint.active:
        delivery.status = "failed"
        delivery.last_error = "the endpoint was deleted or disabled before delivery"
        return "failed"
    body = body_of(delivery)
    headers = signed_headers(delivery, cipher.decrypt(endpoint.secret), body, timestamp=int(now.timestamp()))
    delivery.attempts += 1
    started = time.perf_counter()
    status: int | None = None
    try:
        status = _post(client, delivery.url, headers, body, policy)
        error = None if 200 <= status < 300 else f"the endpoint answered HTTP {status}"
    except UnsafeTarget as exc:
        error = f"refused: {exc}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    elapsed = time.perf_counter() - started
    delivery.response_status = status
    delivery.response_ms = round(elapsed * 1000) if status is not None else None
    if error is None:
        delivery.status, delivery.delivered_at, delivery.last_error = "delivered", now, None
        endpoint.consecutive_failures = 0
        record_webhook_delivery("delivered", elapsed)
        log.info("webhook %s %s delivered to endpoint %s", delivery.topic, delivery.delivery_id, endpoint.id)
        return "delivered"
    delivery.last_error = error
    record_webhook_delivery("refused" if error.startswith("refused") else "failed", elapsed if status else None)
    if delivery.attempts < MAX_ATTEMPTS and not error.startswith("refused"):
        delivery.next_attempt_at = now + policy.delay_after(delivery.attempts)
        log.info(
            "webhook %s attempt %d failed (%s); next at %s",
            delivery.delivery_id,
            delivery.attempts,
            error,
            delivery.next_attempt_at.isoformat(),
        )
        return "retry"
    delivery.status = "failed"
    endpoint.consecutive_failures += 1
    if endpoint.consecutive_failures >= AUTO_DISABLE_AFTER:
        endpoint.active = False
        endpoint.disabled_at = now
        endpoint.disabled_reason = (
            f"disabled after {endpoint.consecutive_failures} deliveries in a row failed; last error: {error}"
        )
        # The merchant's notice: the reason on the endpoint, and an entry in the shop's audit log.
        session.add(
            AuditLog(
                shop_id=endpoint.shop_id,
                actor="loyalty",
                action="webhook_endpoint.disabled",
                subject_type="webhook_endpoint",
                subject_id=str(endpoint.id),
                details={"reason": endpoint.disabled_reason, "url": endpoint.url},
            )
        )
        log.warning("webhook endpoint %s of shop %s disabled: %s", endpoint.id, endpoint.shop_id, error)
    return "failed"


def deliver_due(
    sessions: sessionmaker[Session],
    *,
    cipher: TokenCipher,
    client: httpx.Client,
    now: datetime,
    policy: DeliveryPolicy,
    limit: int = 100,
    only: Collection[int] | None = None,
) -> dict[str, int]:
    """Attempt every pending delivery due by `now` (up to `limit`; only the deliveries with these ids when `only` is
    given), each in its own transaction; counts by result."""
    counts = {"delivered": 0, "retry": 0, "failed": 0}
    if only is not None and not only:
        return counts
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if only is not None:
        query = query.where(WebhookDelivery.id.in_(list(only)))
    for _ in range(limit):
        with sessions.begin() as session:
            delivery = session.execute(query).scalar_one_or_none()
            if delivery is None:
                break
            counts[attempt(session, delivery, cipher=cipher, client=client, now=now, policy=policy)] += 1
    return counts


def build_client() -> httpx.Client:
    """The client for merchants' endpoints: explicit timeouts, the exchange's deadline (`deadline.within`), never
    following redirects (they could point inward)."""
    return httpx.Client(timeout=TIMEOUT, follow_redirects=False, transport=deadline.DeadlineTransport())
