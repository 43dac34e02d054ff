"""Charging for the paid plan through Shopify's Billing API (the plans are app.config.BILLING_PLANS).

`subscribe` creates the AppSubscription (`appSubscriptionCreate`, with the plan's trial) and answers the
confirmation URL the merchant must open at the top level, out of the admin iframe. After they approve, Shopify sends
them to our return URL (the embedded `/billing/confirm`), where `refresh_plan` reads the installation's active
subscriptions and records the plan. `app_subscriptions/update` keeps it current afterwards
(app/loyalty/processing/lifecycle.handle_subscription_update). Test charges outside production.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.config import Plan
from app.loyalty.base import plans
from app.models import Shop
from app.shopify.admin_api import AdminApi, RequestRefused

SUBSCRIBE = """
mutation SubscribeToLoyaltyPlan(
  $name: String!, $lineItems: [AppSubscriptionLineItemInput!]!, $returnUrl: URL!, $test: Boolean, $trialDays: Int
) {
  appSubscriptionCreate(
    name: $name, returnUrl: $returnUrl, lineItems: $lineItems, test: $test, trialDays: $trialDays
  ) {
    appSubscription { id status }
    confirmationUrl
    userErrors { field message }
  }
}
"""
ACTIVE_SUBSCRIPTIONS = """
query LoyaltyActiveSubscriptions {
  currentAppInstallation { activeSubscriptions { id name status createdAt } }
}
"""


class NotAPaidPlan(ValueError):
    """Only a paid plan is subscribed to; the free plan is what a shop has without one."""


def subscribe(api: AdminApi, shop: Shop, plan: Plan, *, return_url: str, test: bool) -> tuple[str, str]:
    """Create the plan's subscription for the shop; (its id, the URL where the merchant approves it)."""
    if plan.price <= 0:
        raise NotAPaidPlan(f"{plan.key} is free: it needs no subscription")
    result = api.mutate(
        shop.domain,
        SUBSCRIBE,
        {
            "name": plan.name,
            "returnUrl": return_url,
            "test": test,
            "trialDays": plan.trial_days or None,
            "lineItems": [
                {
                    "plan": {
                        "appRecurringPricingDetails": {
                            "price": {"amount": str(plan.price), "currencyCode": "USD"},
                            "interval": "EVERY_30_DAYS",
                        }
                    }
                }
            ],
        },
        payload="appSubscriptionCreate",
    )
    subscription, url = result.get("appSubscription") or {}, result.get("confirmationUrl")
    if not subscription.get("id") or not url:
        raise RequestRefused("appSubscriptionCreate answered no subscription or confirmation URL")
    return subscription["id"], url


def refresh_plan(api: AdminApi, session: Session, shop: Shop) -> Plan:
    """Record the shop's active subscription as Shopify has it now; the plan in force afterwards."""
    data = api.query(shop.domain, ACTIVE_SUBSCRIPTIONS)
    active = (data.get("currentAppInstallation") or {}).get("activeSubscriptions") or []
    for subscription in active:
        plans.apply_subscription(
            shop,
            subscription_id=subscription["id"],
            name=subscription["name"],
            status=subscription["status"],
            created_at=plans.subscription_time(subscription.get("createdAt")),
            reported_now=True,
        )
    if shop.subscription_id and shop.subscription_id not in {subscription["id"] for subscription in active}:
        shop.subscription_status = shop.subscription_status if shop.subscription_status != "ACTIVE" else "CANCELLED"
    session.flush()
    return plans.current_plan(shop)
