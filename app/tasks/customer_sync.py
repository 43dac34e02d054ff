"""The customer sees their loyalty in Shopify: `$app` metafields and tier tags (`customer.sync`), and the
`tag_customer` rule action's tags (`rule.tag_customer`).

`customer.sync` rows are staged by the database itself: a trigger on customer_loyalty_profiles (migration 0003)
upserts one row per customer whenever the balance, the pending points or the tier changes, so every path that moves
them (orders, refunds, redemptions, expiry, adjustments, tier sweeps) is covered, and a burst of changes is one
pending row whose `revision` grows. The handler reads the customer's state as it is when it runs (the latest state
wins) and sends it in one request: metafieldsSet, then tagsAdd of the current tier's tag and tagsRemove of the
other tiers' tags. A change committed while the request was in flight bumps the revision, so the row stays due
(app/tasks/deliveries.py marks a row done only if its payload is the one claimed).

Metafields (namespace `$app`, owned by the app, readable in Liquid as `customer.metafields.app--<id>.*`):
`points_balance` and `points_pending` (number_integer), `tier_level` (number_integer, 0 = no tier) and `tier_name`
(single_line_text_field, written only while the customer has a tier: Shopify refuses a blank value, so `tier_level`
is what says "no tier").
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.models import CustomerLoyaltyProfile, TierDefinition
from app.rules.values import is_ascii_digits
from app.shopify.admin_api import UserErrors
from app.tasks.deliveries import DeliveryFailed, OutboxJob, Outward, handles

SYNC_KIND = "customer.sync"
TAG_KIND = "rule.tag_customer"
NAMESPACE = "$app"
TIER_TAG_PREFIX = "loyalty-tier:"


def customer_gid(customer_id: str) -> str:
    return f"gid://shopify/Customer/{customer_id}"


def tier_tag(name: str) -> str:
    """The customer tag of a tier. Shopify splits tags on commas, so a comma in a tier name becomes a space."""
    return (TIER_TAG_PREFIX + name.replace(",", " ").strip())[:255]


@handles(SYNC_KIND)
def sync_customer(job: OutboxJob, outward: Outward) -> None:
    with outward.sessions() as session:
        profile = session.execute(
            select(CustomerLoyaltyProfile).where(
                CustomerLoyaltyProfile.id == int(job.payload["profile_id"]),
                CustomerLoyaltyProfile.shop_id == job.shop_id,
            )
        ).scalar_one_or_none()
        if profile is None or profile.redacted_at is not None or not is_ascii_digits(profile.customer_id):
            return  # deleted or redacted since: there is no one to write to
        tiers = session.execute(
            select(TierDefinition.id, TierDefinition.name, TierDefinition.level).where(
                TierDefinition.shop_id == job.shop_id
            )
        ).all()
        state = (profile.customer_id, profile.points_balance, profile.points_pending, profile.current_tier_id)
    customer_id, balance, pending, tier_id = state
    current = next((tier for tier in tiers if tier.id == tier_id), None)
    owner = customer_gid(customer_id)
    metafields: list[dict[str, Any]] = [
        _metafield(owner, "points_balance", "number_integer", str(balance)),
        _metafield(owner, "points_pending", "number_integer", str(pending)),
        _metafield(owner, "tier_level", "number_integer", str(current.level if current else 0)),
    ]
    if current is not None:
        metafields.append(_metafield(owner, "tier_name", "single_line_text_field", current.name))
    add = [tier_tag(current.name)] if current is not None else []
    remove = sorted({tier_tag(tier.name) for tier in tiers} - set(add))
    _send(outward, job, owner, metafields=metafields, add=add, remove=remove)


@handles(TAG_KIND)
def tag_customer(job: OutboxJob, outward: Outward) -> None:
    """The rule action's `add` and `remove` tag lists for the event's customer (adding or removing twice is the
    same as once, so a re-run is harmless)."""
    customer_id = str(job.payload.get("customer_id") or "")
    if not is_ascii_digits(customer_id):
        return  # redacted since it was staged
    add = [str(tag) for tag in job.payload.get("add") or []]
    remove = [str(tag) for tag in job.payload.get("remove") or []]
    if add or remove:
        _send(outward, job, customer_gid(customer_id), metafields=[], add=add, remove=remove)


def _metafield(owner: str, key: str, type_: str, value: str) -> dict[str, Any]:
    return {"ownerId": owner, "namespace": NAMESPACE, "key": key, "type": type_, "value": value}


def _send(
    outward: Outward, job: OutboxJob, owner: str, *, metafields: list[dict[str, Any]], add: list[str], remove: list[str]
) -> None:
    """One request with whichever of metafieldsSet, tagsAdd, tagsRemove has something to do."""
    declarations, fields, variables, payloads = [], [], {}, []
    if metafields:
        declarations.append("$metafields: [MetafieldsSetInput!]!")
        fields.append("metafieldsSet(metafields: $metafields) { metafields { id } userErrors { field code message } }")
        variables["metafields"] = metafields
        payloads.append("metafieldsSet")
    if add or remove:
        declarations.append("$owner: ID!")
        variables["owner"] = owner
    if add:
        declarations.append("$add: [String!]!")
        fields.append("tagsAdd(id: $owner, tags: $add) { userErrors { field message } }")
        variables["add"] = add
        payloads.append("tagsAdd")
    if remove:
        declarations.append("$remove: [String!]!")
        fields.append("tagsRemove(id: $owner, tags: $remove) { userErrors { field message } }")
        variables["remove"] = remove
        payloads.append("tagsRemove")
    document = f"mutation SyncLoyaltyCustomer({', '.join(declarations)}) {{\n  " + "\n  ".join(fields) + "\n}\n"
    try:
        outward.api.mutate_all(job.shop_domain, document, variables, payloads=tuple(payloads), cost=10 * len(payloads))
    except UserErrors as exc:
        raise DeliveryFailed(str(exc)) from exc
