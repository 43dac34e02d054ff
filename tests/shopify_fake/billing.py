"""appSubscriptionCreate and currentAppInstallation, with the merchant's approval as a step a test takes.

A new subscription is PENDING until the merchant approves it at `confirmationUrl`; approving one makes it ACTIVE and
cancels the shop's previously active subscription (an app has one active recurring subscription per shop).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from graphql import GraphQLResolveInfo

from tests.shopify_fake.state import ApiContext, State
from tests.shopify_fake.values import from_iso, gid_number, iso, money, utc_now

BILLING_PERIOD = {"EVERY_30_DAYS": timedelta(days=30), "ANNUAL": timedelta(days=365)}


def _pricing(plan: dict[str, Any]) -> dict[str, Any]:
    recurring = plan.get("appRecurringPricingDetails")
    if recurring:
        return {
            "__typename": "AppRecurringPricing",
            "interval": recurring.get("interval") or "EVERY_30_DAYS",
            "price": money(recurring["price"]["amount"], recurring["price"]["currencyCode"]),
            "planHandle": recurring.get("planHandle"),
        }
    usage = plan["appUsagePricingDetails"]
    capped = usage["cappedAmount"]
    return {
        "__typename": "AppUsagePricing",
        "interval": "EVERY_30_DAYS",
        "cappedAmount": money(capped["amount"], capped["currencyCode"]),
        "balanceUsed": money(0, capped["currencyCode"]),
        "terms": usage["terms"],
    }


def _problems(name: str, line_items: list[dict[str, Any]], trial_days: int | None) -> list[dict[str, Any]]:
    problems = []
    if not name.strip():
        problems.append({"field": ["name"], "message": "Name can't be blank"})
    if not line_items:
        problems.append({"field": ["lineItems"], "message": "Line items can't be blank"})
    for index, item in enumerate(line_items):
        details = [key for key, value in item["plan"].items() if value is not None]
        if len(details) != 1:
            message = "A plan needs exactly one of appRecurringPricingDetails or appUsagePricingDetails"
            problems.append({"field": ["lineItems", str(index), "plan"], "message": message})
    if trial_days is not None and trial_days < 0:
        problems.append({"field": ["trialDays"], "message": "Trial days must be greater than or equal to 0"})
    return problems


def resolve_subscription_create(
    _: Any,
    info: GraphQLResolveInfo,
    name: str,
    lineItems: list[dict[str, Any]],
    returnUrl: str,
    test: bool | None = None,
    trialDays: int | None = None,
    replacementBehavior: str = "STANDARD",
) -> dict[str, Any]:
    context: ApiContext = info.context
    problems = _problems(name, lineItems, trialDays)
    if problems:
        return {"appSubscription": None, "confirmationUrl": None, "userErrors": problems}
    state = context.state
    with state.lock:
        subscription_id = state.gid("AppSubscription")
        subscription = {
            "__typename": "AppSubscription",
            "id": subscription_id,
            "name": name,
            "status": "PENDING",
            "test": bool(test),
            "trialDays": trialDays or 0,
            "createdAt": iso(utc_now()),
            "currentPeriodEnd": None,
            "returnUrl": returnUrl,
            "lineItems": [
                {
                    "id": f"gid://shopify/AppSubscriptionLineItem/{gid_number(subscription_id)}?v=1&index={index}",
                    "plan": {"pricingDetails": _pricing(item["plan"])},
                }
                for index, item in enumerate(lineItems)
            ],
        }
        context.shop.subscriptions[subscription_id] = subscription
    confirmation = (
        f"https://{context.shop.domain}/admin/charges/{state.config.app_id}/{gid_number(subscription_id)}"
        "/RecurringApplicationCharge/confirm_recurring_application_charge?"
        + urlencode({"signature": f"fake-{gid_number(subscription_id)}"})
    )
    return {"appSubscription": subscription, "confirmationUrl": confirmation, "userErrors": []}


def approve_subscription(state: State, shop: str, subscription_id: str) -> str:
    """The merchant approves: ACTIVE now, the previous active one CANCELLED; answers where Shopify redirects."""
    with state.lock:
        subscriptions = state.shop(shop).subscriptions
        subscription = subscriptions[subscription_id]
        for other in subscriptions.values():
            if other["status"] == "ACTIVE":
                other["status"] = "CANCELLED"
        period = BILLING_PERIOD[subscription["lineItems"][0]["plan"]["pricingDetails"]["interval"]]
        starts = from_iso(subscription["createdAt"]) + timedelta(days=subscription["trialDays"])
        subscription["status"] = "ACTIVE"
        subscription["currentPeriodEnd"] = iso(starts + period)
        separator = "&" if "?" in subscription["returnUrl"] else "?"
        return f"{subscription['returnUrl']}{separator}{urlencode({'charge_id': gid_number(subscription_id)})}"


def decline_subscription(state: State, shop: str, subscription_id: str) -> None:
    """The merchant declines: DECLINED, and the app keeps whatever was active."""
    with state.lock:
        state.shop(shop).subscriptions[subscription_id]["status"] = "DECLINED"


def resolve_current_installation(_: Any, info: GraphQLResolveInfo) -> dict[str, Any]:
    context: ApiContext = info.context
    config = context.state.config
    with context.state.lock:
        active = [item for item in context.shop.subscriptions.values() if item["status"] == "ACTIVE"]
    return {
        "__typename": "AppInstallation",
        "id": f"gid://shopify/AppInstallation/{config.app_id}",
        "accessScopes": [{"handle": scope, "description": scope} for scope in config.scopes.split(",")],
        "activeSubscriptions": active,
        "launchUrl": f"https://{context.shop.domain}/admin/apps/{config.api_key}",
    }
