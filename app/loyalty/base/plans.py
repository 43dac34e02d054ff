"""Which billing plan a shop is on and what it allows: one decision for every feature the paid plan adds.

The plans themselves are configuration (app.config.BILLING_PLANS); Shopify's AppSubscription says which one the
merchant pays for (app/shopify/billing.py when they approve it, `app_subscriptions/update` when it changes).
"""

from __future__ import annotations

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


def apply_subscription(shop: Shop, *, subscription_id: str, name: str, status: str, reported_now: bool = False) -> str:
    """Record what Shopify says of one of the shop's subscriptions; a note for the outcome.

    An ACTIVE subscription of a known plan becomes the shop's plan. A status change of the shop's current
    subscription (cancelled, declined, expired, frozen) is recorded, which turns the paid features off. Changes of
    other, older subscriptions are ignored: Shopify cancels the previous one when a new one is approved.

    A subscription that ended (cancelled, declined, expired) never comes back: a later webhook saying it is active
    or frozen is an older update delivered late (Shopify does not deliver webhooks in order, and retries a failed
    delivery for up to 48 hours), and is ignored. `reported_now` is for Shopify's answer about the present
    (billing.refresh_plan), which is recorded whatever was recorded before.
    """
    if not reported_now and subscription_id == shop.subscription_id and shop.subscription_status in ENDED:
        return (
            f"subscription {subscription_id} is {shop.subscription_status.lower()} already, which Shopify never "
            f"reverses: this {status} update is an older one; nothing changed"
        )
    plan = plan_by_name(name)
    if status in PAYING and plan is not None:
        shop.billing_plan = plan.key
        shop.subscription_id = subscription_id
        shop.subscription_status = status
        return f"plan {plan.key} active"
    if subscription_id == shop.subscription_id:
        shop.subscription_status = status
        return f"subscription {status.lower()}: plan in force is {current_plan(shop).key}"
    return f"subscription {subscription_id} ({status}) is not the shop's current one; nothing changed"
