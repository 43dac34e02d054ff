"""Which billing plan a shop is on and what it allows: one decision for every feature the paid plan adds.

The plans themselves are configuration (app.config.BILLING_PLANS); Shopify's AppSubscription says which one the
merchant pays for (app/shopify/billing.py when they approve it, `app_subscriptions/update` when it changes).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Protocol

from app.config import BILLING_PLANS, FREE_PLAN, Plan
from app.models import Shop

# AppSubscription statuses under which the paid plan's features are on (a trial is ACTIVE too).
PAYING = frozenset({"ACTIVE"})
# Statuses a subscription never leaves (a frozen one becomes active again once the shop is unfrozen).
ENDED = frozenset({"CANCELLED", "DECLINED", "EXPIRED"})


class HasBilling(Protocol):
    @property
    def billing_plan(self) -> str: ...

    @property
    def subscription_status(self) -> str | None: ...


def plan_by_key(key: str) -> Plan | None:
    return next((plan for plan in BILLING_PLANS if plan.key == key), None)


def plan_by_name(name: str) -> Plan | None:
    """The plan whose AppSubscription name this is (what Shopify's webhooks and answers carry)."""
    return next((plan for plan in BILLING_PLANS if plan.name == name), None)


def current_plan(shop: HasBilling) -> Plan:
    """The plan in force: a paid plan only while its subscription is active, else the free plan."""
    plan = plan_by_key(shop.billing_plan) or FREE_PLAN
    if plan.price > 0 and shop.subscription_status not in PAYING:
        return FREE_PLAN
    return plan


def plan_allows(shop: HasBilling, feature: str) -> bool:
    """Whether the shop's plan in force includes `feature` (see app.config.BILLING_PLANS)."""
    return feature in current_plan(shop).features


def upgrade_for(feature: str) -> Plan | None:
    """The cheapest plan that includes `feature` (what the admin offers a shop without it); None if none does."""
    return min((plan for plan in BILLING_PLANS if feature in plan.features), key=lambda plan: plan.price, default=None)


def subscription_time(value: object) -> datetime | None:
    """A created_at / updated_at of Shopify's (ISO 8601; one without an offset is UTC); None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def apply_subscription(
    shop: Shop,
    *,
    subscription_id: str,
    name: str,
    status: str,
    created_at: datetime | None = None,
    updated_at: datetime | None = None,
    reported_now: bool = False,
) -> str:
    """Record what Shopify says of one of the shop's subscriptions; a note for the outcome.

    An ACTIVE subscription of a known plan becomes the shop's plan. A status change of the shop's current
    subscription (cancelled, declined, expired, frozen) is recorded, which turns the paid features off. Changes of
    other, older subscriptions are ignored: Shopify cancels the previous one when a new one is approved.

    Shopify does not deliver app_subscriptions/update in order, and retries a failed delivery for up to 48 hours, so
    an update is weighed against what is recorded before it counts:
    - a subscription that ended (cancelled, declined, expired) never comes back: a later update saying it is active
      or frozen is an older one delivered late;
    - an update of the current subscription whose `updated_at` is before that of the last update applied to it is
      older than what is known (a FROZEN retried after the ACTIVE that unfroze the shop);
    - a subscription created before the current one never replaces it: the current one replaced it (a retried
      ACTIVE of the plan the merchant switched away from).
    Such updates are ignored. Without the times (a shop recorded before they were kept) only the first rule applies.
    `reported_now` is for Shopify's answer about the present (billing.refresh_plan), which is recorded whatever was
    recorded before.
    """
    if not reported_now:
        stale = _stale_update(shop, subscription_id, status, created_at, updated_at)
        if stale is not None:
            return stale
    plan = plan_by_name(name)
    if status in PAYING and plan is not None:
        if subscription_id != shop.subscription_id:
            shop.subscription_created_at = None
            shop.subscription_updated_at = None  # the new subscription's updates are weighed from its own
        shop.billing_plan = plan.key
        shop.subscription_id = subscription_id
        shop.subscription_status = status
        _record_times(shop, created_at, updated_at)
        return f"plan {plan.key} active"
    if subscription_id == shop.subscription_id:
        shop.subscription_status = status
        _record_times(shop, created_at, updated_at)
        return f"subscription {status.lower()}: plan in force is {current_plan(shop).key}"
    return f"subscription {subscription_id} ({status}) is not the shop's current one; nothing changed"


def _stale_update(
    shop: Shop, subscription_id: str, status: str, created_at: datetime | None, updated_at: datetime | None
) -> str | None:
    """Why this update is older than what is recorded (see apply_subscription), or None."""
    if subscription_id == shop.subscription_id:
        if shop.subscription_status in ENDED:
            return (
                f"subscription {subscription_id} is {shop.subscription_status.lower()} already, which Shopify never "
                f"reverses: this {status} update is an older one; nothing changed"
            )
        known = shop.subscription_updated_at
        if updated_at is not None and known is not None and updated_at < known:
            return (
                f"this {status} update of subscription {subscription_id} was made at {updated_at.isoformat()}, "
                f"before the last one recorded ({known.isoformat()}): an older update delivered late; nothing changed"
            )
        return None
    current_created = shop.subscription_created_at
    if status in PAYING and created_at is not None and current_created is not None and created_at < current_created:
        return (
            f"subscription {subscription_id} was created at {created_at.isoformat()}, before the shop's current "
            f"subscription {shop.subscription_id} ({current_created.isoformat()}), which replaced it: this {status} "
            "update is an older one; nothing changed"
        )
    return None


def _record_times(shop: Shop, created_at: datetime | None, updated_at: datetime | None) -> None:
    if created_at is not None:
        shop.subscription_created_at = created_at
    if updated_at is not None:
        shop.subscription_updated_at = updated_at
