"""Discount codes for redemptions: generation, and the outbox payload the Admin API adapter sends to Shopify.

A code is a bearer credential: 80 random bits from `secrets` (base32, grouped for reading aloud), usable once, by
the redeeming customer only (`context.customers`), so a leaked or guessed code is useless to anyone else.
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime
from typing import Any

from app.models import RedemptionLog, RewardDefinition, Shop

CODE_PREFIX = "LOYAL"
CODE_BYTES = 10  # 80 bits


def new_code() -> str:
    """A fresh code such as LOYAL-7F3K-9QXA-2MBD-R5TW (80 bits of entropy)."""
    raw = base64.b32encode(secrets.token_bytes(CODE_BYTES)).decode("ascii")
    return "-".join([CODE_PREFIX, *(raw[i : i + 4] for i in range(0, len(raw), 4))])


def customer_gid(customer_id: str) -> str:
    return f"gid://shopify/Customer/{customer_id}"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


def create_payload(
    *, shop: Shop, reward: RewardDefinition, redemption: RedemptionLog, customer_id: str, now: datetime
) -> dict[str, Any]:
    """Everything the adapter needs to create the code (shopify-contract.md §7.1), JSON-safe (money as strings).

    `mutation` names the Admin API mutation and `input` is its input object; the adapter looks the code up with
    `codeDiscountNodeByCode` before retrying an ambiguous failure, then calls rewards.settle or rewards.fail.
    """
    points = redemption.points_spent
    title = f"Loyalty reward: {reward.name}" + (f" ({points} points)" if points else "")
    common: dict[str, Any] = {
        "title": title[:255],
        "code": redemption.code,
        "startsAt": _iso(now),
        "endsAt": _iso(redemption.expires_at),
        "context": {"customers": {"add": [customer_gid(customer_id)]}},
        "usageLimit": 1,
        "appliesOncePerCustomer": True,
    }
    if reward.min_order_amount is not None and reward.min_order_amount > 0:
        common["minimumRequirement"] = {"subtotal": {"greaterThanOrEqualToSubtotal": str(reward.min_order_amount)}}
    if reward.kind == "free_shipping":
        mutation = "discountCodeFreeShippingCreate"
        body = {**common, "destination": {"all": True}}
    else:
        mutation = "discountCodeBasicCreate"
        if reward.kind == "percentage":
            value: dict[str, Any] = {"percentage": float(redemption.value or 0) / 100}
            items: dict[str, Any] = {"all": True}
        elif reward.kind == "free_product":
            value = {"percentage": 1.0}
            items = {"products": {"productVariantsToAdd": [f"gid://shopify/ProductVariant/{reward.variant_id}"]}}
        else:
            value = {"discountAmount": {"amount": str(redemption.value), "appliesOnEachItem": False}}
            items = {"all": True}
        body = {
            **common,
            "customerGets": {"value": value, "items": items},
            "combinesWith": {"orderDiscounts": False, "productDiscounts": True, "shippingDiscounts": True},
        }
    return {
        "redemption_id": redemption.id,
        "shop_domain": shop.domain,
        "customer_id": customer_id,
        "reward_id": reward.id,
        "reward_kind": reward.kind,
        "code": redemption.code,
        "value": None if redemption.value is None else str(redemption.value),
        "currency": shop.currency,
        "points_spent": points,
        "mutation": mutation,
        "input": body,
    }
