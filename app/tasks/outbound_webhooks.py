"""Merchants' outbound webhooks in the worker: two outbox kinds become deliveries, and a sweep sends what is due.

- `merchant_webhook` rows (payload `{"topic", "data", "occurred_at", "event_id"}`) fan out to every endpoint of the
  shop subscribed to the topic;
- `rule.webhook` rows (the rule action `webhook`, staged by app/loyalty/processing) go to the endpoint with the URL
  the rule names.
Either way the outbox row is done once its deliveries exist; each delivery then has its own retries and log
(app/integrations/outbound_webhooks.py). The row's handler attempts at once only the deliveries it just made: every
other due delivery (another shop's, a retry, a resend, one a re-run of the row found made) is the every-minute sweep's
(`deliver_due_webhooks`), so a row's run stays within its outbox lease and never waits on other shops' endpoints.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import Any

from huey import crontab
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.integrations import outbound_webhooks as outbound
from app.integrations.endpoints import EndpointNotFound
from app.shopify.token_cipher import TokenCipher, cipher_for
from app.tasks.context import app_context, worker_app
from app.tasks.deliveries import RULE_WEBHOOK_KIND, DeliveryFailed, OutboxJob, Outward, handles
from app.tasks.queue import huey

MERCHANT_WEBHOOK_KIND = "merchant_webhook"


@cache
def _cipher() -> TokenCipher:
    app = worker_app()
    return cipher_for(app.config["SETTINGS"], Path(app.instance_path))


@cache
def _sessions() -> sessionmaker[Session]:
    from app.extensions import db

    with worker_app().app_context():
        return sessionmaker(db.engine, expire_on_commit=False)


def send_due(
    sessions: sessionmaker[Session], settings: Settings, now: datetime, *, only: Collection[int] | None = None
) -> dict[str, int]:
    """Attempt every delivery whose next attempt is due (every minute), or only the ones with these ids (right after
    an outbox row made them)."""
    policy = outbound.DeliveryPolicy(allow_private=settings.webhooks_allow_private_targets)
    with outbound.build_client() as client:
        return outbound.deliver_due(sessions, cipher=_cipher(), client=client, now=now, policy=policy, only=only)


def _occurred_at(payload: dict[str, Any], outward: Outward) -> datetime:
    raw = payload.get("occurred_at")
    return datetime.fromisoformat(raw) if raw else outward.clock()


def _event_id(payload: dict[str, Any]) -> uuid.UUID | None:
    return uuid.UUID(payload["event_id"]) if payload.get("event_id") else None


@handles(MERCHANT_WEBHOOK_KIND)
def fan_out_merchant_webhook(job: OutboxJob, outward: Outward) -> None:
    """One delivery per subscribed endpoint, then an attempt at once."""
    payload = job.payload
    if payload.get("topic") not in outbound.TOPICS:
        raise DeliveryFailed(f"unknown webhook topic {payload.get('topic')!r}; topics are {', '.join(outbound.TOPICS)}")
    with outward.sessions.begin() as session:
        made = outbound.fan_out(
            session,
            shop_id=job.shop_id,
            topic=payload["topic"],
            data=payload.get("data") or {},
            dedupe_key=f"outbox:{job.id}",
            occurred_at=_occurred_at(payload, outward),
            event_id=_event_id(payload),
        )
        made_ids = [delivery.id for delivery in made]
    send_due(outward.sessions, outward.settings, outward.clock(), only=made_ids)


@handles(RULE_WEBHOOK_KIND)
def deliver_rule_webhook(job: OutboxJob, outward: Outward) -> None:
    """The rule's event and decision to the URL it names, signed with that endpoint's secret."""
    payload = job.payload
    data = {key: value for key, value in payload.items() if key != "url"}
    try:
        with outward.sessions.begin() as session:
            made = outbound.stage_for_url(
                session,
                shop_id=job.shop_id,
                url=str(payload.get("url")),
                data=data,
                dedupe_key=f"outbox:{job.id}",
                occurred_at=outward.clock(),
                event_id=_event_id(payload),
            )
            made_ids = [made.id] if made is not None else []
    except EndpointNotFound as exc:
        raise DeliveryFailed(str(exc)) from None
    send_due(outward.sessions, outward.settings, outward.clock(), only=made_ids)


@huey.periodic_task(crontab(minute="*"))
@huey.lock_task("deliver-due-webhooks")
def deliver_due_webhooks() -> None:
    """Every minute: merchants' deliveries whose next attempt is due (retries after back-off, manual resends)."""
    with app_context():
        send_due(_sessions(), worker_app().config["SETTINGS"], datetime.now(timezone.utc))
