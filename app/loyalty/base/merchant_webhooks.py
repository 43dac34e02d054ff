"""What the merchant's own webhook endpoints hear about: the topics, and the outbox rows that carry them.

A `merchant_webhook` outbox row (payload `{"topic", "data", "occurred_at", "event_id"}`) is staged in the
transaction of the change it reports, and only when the shop has an active endpoint subscribed to its topic, so a
shop without endpoints pays one indexed probe and writes nothing. The worker then makes one signed delivery per
subscribed endpoint (app/tasks/outbound_webhooks.py, app/integrations/outbound_webhooks.py), which checks the plan.

Who stages what:
- every ledger entry, whatever wrote it (a stream batch, a redemption, the admin, a sweep, an import): the database,
  through a trigger on points_transactions (migration 0025), as it stages `customer.sync`: `points.earned` (earn,
  referral), `points.redeemed`, `points.expired`, `points.adjusted` (adjustment, import), `points.reversed` (a
  refund or cancellation took points back) and `points.returned` (a redemption that failed or was cancelled);
- `tier.changed` and `referral.converted`: record_app_events, with the app event of the same change;
- `reward.issued`: rewards.settlement.settle, once the code exists in Shopify (it carries the code).

All of them go through the one SQL function `stage_merchant_webhooks` (migration 0025).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

TOPICS = (
    "points.earned",
    "points.redeemed",
    "points.expired",
    "points.adjusted",
    "points.reversed",
    "points.returned",
    "tier.changed",
    "reward.issued",
    "referral.converted",
    "data_request.ready",
)
# The app events a merchant's endpoint hears of, by their topic; the ids the app keeps to itself are left out.
APP_EVENT_TOPICS = {"tier_changed": "tier.changed", "referral_converted": "referral.converted"}
INTERNAL_FIELDS = frozenset({"profile_id", "advocate_profile_id", "friend_profile_id"})


@dataclass(frozen=True)
class MerchantWebhook:
    shop_id: int
    topic: str
    # Names the change: the row is staged once per (shop, key), however often the change is recorded.
    key: str
    data: dict[str, Any]
    occurred_at: datetime
    event_id: uuid.UUID | None = None


def subscribed(session: Session, shop_ids: set[int]) -> dict[int, set[str]]:
    """The topics the active endpoints of each of these shops hear (shops without one are left out), in one query
    that asks nothing when there is no shop: callers ask it before building any payload, so a batch of shops
    without endpoints costs one indexed probe."""
    if not shop_ids:
        return {}
    hearing: dict[int, set[str]] = {}
    rows = session.execute(
        text(
            "SELECT shop_id, event_types FROM webhook_endpoints"
            " WHERE active AND shop_id = ANY(CAST(:shops AS bigint[]))"
        ),
        {"shops": sorted(shop_ids)},
    )
    for shop_id, topics in rows:
        hearing.setdefault(shop_id, set()).update(topic for topic in topics or () if isinstance(topic, str))
    return hearing


def stage(session: Session, webhooks: list[MerchantWebhook], *, hearing: dict[int, set[str]] | None = None) -> None:
    """Stage the webhooks whose shop has an active endpoint subscribed to their topic (`hearing`, from subscribed:
    asked here when not given), in one statement."""
    unknown = {webhook.topic for webhook in webhooks} - set(TOPICS)
    if unknown:
        raise ValueError(f"unknown webhook topic(s) {sorted(unknown)}")
    if hearing is None:
        hearing = subscribed(session, {webhook.shop_id for webhook in webhooks})
    heard = [webhook for webhook in webhooks if webhook.topic in hearing.get(webhook.shop_id, ())]
    if not heard:
        return
    session.execute(
        text(
            "SELECT stage_merchant_webhooks(CAST(:shops AS bigint[]), CAST(:topics AS text[]), CAST(:keys AS text[]),"
            " CAST(:payloads AS jsonb[]))"
        ),
        {
            "shops": [webhook.shop_id for webhook in heard],
            "topics": [webhook.topic for webhook in heard],
            "keys": [webhook.key for webhook in heard],
            "payloads": [_payload(webhook) for webhook in heard],
        },
    )


def app_event_webhook(
    topic: str, shop_id: int, key: str, data: dict[str, Any], now: datetime, event_id: uuid.UUID
) -> MerchantWebhook:
    """The webhook of an app event whose type has `topic` (APP_EVENT_TOPICS), without the app's own ids."""
    shown = {name: value for name, value in data.items() if name not in INTERNAL_FIELDS}
    return MerchantWebhook(shop_id, topic, f"webhook:{key}", shown, now, event_id)


def _payload(webhook: MerchantWebhook) -> str:
    return json.dumps(
        {
            "topic": webhook.topic,
            "data": webhook.data,
            "occurred_at": webhook.occurred_at.isoformat(),
            "event_id": None if webhook.event_id is None else str(webhook.event_id),
        },
        default=str,
    )
