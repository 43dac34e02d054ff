"""Shared test data: the fixed storefront GraphQL documents and Shopify-shaped webhook payloads.

The request signers (webhooks, session tokens, app-proxy queries) live with the fake Shopify in
tests/shopify_fake/signing.py.
"""

from __future__ import annotations

from typing import Any

# The storefront operations DESIGN.md fixes, verbatim: the tests run exactly what the extensions send.
GET_LOYALTY_PROFILE = """
query GetLoyaltyProfile($customerId: String!) {
  loyaltyProfile(customerId: $customerId) {
    points_balance
    current_tier { name level }
    next_tier { name min_points_required }
    tier_progress_percentage
  }
}
"""
REDEEM_REWARD = """
mutation RedeemReward($input: RedeemRewardInput!) {
  redeemReward(input: $input) { success message points_deducted new_balance }
}
"""


def order_payload(
    order_id: int = 820982911946154508,
    *,
    customer_id: int | None = 115310627314723954,
    total: str = "150.00",
    subtotal: str | None = None,
    currency: str = "USD",
    created_at: str = "2026-03-02T10:29:00-05:00",
    **fields: Any,
) -> dict[str, Any]:
    """An `orders/create` body in Shopify's REST Order shape (money as strings, ids beyond 2^53)."""
    payload: dict[str, Any] = {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "name": "#1001",
        "order_number": 1001,
        "email": "jon@example.com",
        "created_at": created_at,
        "currency": currency,
        "presentment_currency": currency,
        "financial_status": "paid",
        "source_name": "web",
        "total_price": total,
        "subtotal_price": subtotal or total,
        "total_discounts": "0.00",
        "total_tax": "0.00",
        "discount_codes": [],
        "note_attributes": [],
        "tags": "",
        "landing_site": "/",
        "line_items": [
            {
                "id": 866550311766439020,
                "product_id": 632910392,
                "variant_id": 808950810,
                "sku": "IPOD2008PINK",
                "title": "IPod Nano - 8GB",
                "vendor": "Apple",
                "quantity": 1,
                "price": subtotal or total,
            }
        ],
        "shipping_address": {"country_code": "US", "address1": "123 Amoebobacterieae St", "zip": "40202"},
        "customer": None,
    }
    if customer_id is not None:
        payload["customer"] = {
            "id": customer_id,
            "admin_graphql_api_id": f"gid://shopify/Customer/{customer_id}",
            "email": "jon@example.com",
            "first_name": "Jon",
            "last_name": "Snow",
        }
    payload.update(fields)
    return payload


def migration_head() -> str:
    """The newest migration revision (what /monitoring/health reports once migrated), from migrations/ itself."""
    from alembic.script import ScriptDirectory

    from app.migrations import alembic_config

    head = ScriptDirectory.from_config(alembic_config("postgresql+psycopg://unused/unused")).get_current_head()
    assert head is not None
    return head


# The subscription `on_paid_plan` records, as Shopify names AppSubscriptions.
PAID_SUBSCRIPTION_ID = "gid://shopify/AppSubscription/4028497976"


def on_paid_plan(session: Any, shop: Any, *, created_at: str = "2026-11-01T09:00:00Z") -> Any:
    """Record `shop` as paying for Loyalty Growth (the plan with backfill and outbound webhooks), as /billing/confirm
    does after the merchant approves it, and commit; the shop."""
    from datetime import datetime

    shop.billing_plan = "growth"
    shop.subscription_id = PAID_SUBSCRIPTION_ID
    shop.subscription_status = "ACTIVE"
    shop.subscription_created_at = datetime.fromisoformat(created_at)
    session.commit()
    return shop


def subscription_update(
    subscription_id: str, status: str, updated_at: str, created_at: str = "2026-11-30T10:00:00-05:00"
) -> dict[str, Any]:
    """app_subscriptions/update's payload as Shopify documents it."""
    return {
        "app_subscription": {
            "admin_graphql_api_id": subscription_id,
            "name": "Loyalty Growth",
            "status": status,
            "admin_graphql_api_shop_id": "gid://shopify/Shop/548380009",
            "created_at": created_at,
            "updated_at": updated_at,
            "currency": "USD",
            "capped_amount": None,
        }
    }
