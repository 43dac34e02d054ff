"""Facts: an event as the rule engine sees it, for processing (`event_facts`, both the one-by-one and the set-based
path), simulations and retroactive runs (an event document or a stored event)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.loyalty.base.errors import InvalidInput
from app.loyalty.base.inbound import ORDER_EVENT_TYPES, InboundEvent
from app.loyalty.base.order_amounts import order_amounts
from app.loyalty.base.outcome import Unprocessable
from app.loyalty.rulebook.history import DatabaseHistory
from app.loyalty.tiers.membership import tier_by_id
from app.models import CustomerLoyaltyProfile, Order, Shop
from app.rules import CustomerFacts, Facts
from app.rules.facts import History
from app.rules.value_checks import text_issues
from app.rules.values import to_decimal

# The days an event may fall on, and so a dry run, a backtest or a retroactive run may name: from before any Shopify
# order to far past any plan. Outside them a day may have no next one (9999-12-31), a time may fall before year 1 in
# UTC (0001-01-01 in Tokyo), which PostgreSQL refuses, and the history's look-back (within_days) may pass year 1.
EVENT_DAYS = (date(2000, 1, 1), date(2999, 12, 31))


@dataclass(frozen=True)
class EventDocument:
    """An event to evaluate: the DESIGN envelope, or a bare Shopify order (taken as order_created)."""

    event_id: str
    event_type: str
    customer_id: str | None
    occurred_at: datetime
    event_data: dict[str, Any]


def read_event_document(document: Any, *, now: datetime) -> EventDocument:
    """Return the event a JSON document describes; InvalidInput names what is malformed."""
    if not isinstance(document, dict):
        raise InvalidInput("an event must be a JSON object (the event envelope, or a Shopify order)")
    faults = text_issues(document)
    if faults:  # Shopify sends none: in an id it would fail the customer's queries, elsewhere the trace's page
        where = faults[0].pointer.removeprefix("/") or "the event"
        raise InvalidInput(f"{where}: {faults[0].message}")
    if "event_data" in document:
        data, event_type = document["event_data"], document.get("event_type")
        if not isinstance(event_type, str) or not event_type:
            raise InvalidInput("event_type: must be a non-empty string")
        customer_id = document.get("customer_id")
        stamp = document.get("timestamp")
    else:
        data, event_type = document, "order_created"
        customer = document.get("customer")
        customer_id = customer.get("id") if isinstance(customer, dict) else None
        stamp = document.get("created_at")
    if not isinstance(data, dict):
        raise InvalidInput("event_data: must be a JSON object")
    if event_type in ORDER_EVENT_TYPES:
        # Refused as processing refuses it, which it does before the rules run: an amount past what an order holds
        # ("1e30") is past the precision of the engine's arithmetic too.
        try:
            order_amounts(data)
        except Unprocessable as refused:
            raise InvalidInput(str(refused)) from None
    occurred_at = now
    if stamp is not None:
        try:
            occurred_at = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(f"timestamp: {stamp!r} is not an ISO 8601 date-time") from None
        if occurred_at.tzinfo is None:
            raise InvalidInput(f"timestamp: {stamp!r} needs a UTC offset")
        if not _on_event_days(occurred_at):
            first, last = EVENT_DAYS
            raise InvalidInput(f"timestamp: {stamp!r} is out of range; an event falls from {first} to {last} (UTC)")
    event_id = str(document.get("event_id") or uuid.uuid5(uuid.NAMESPACE_URL, repr(sorted(document.items()))))
    return EventDocument(
        event_id, event_type, None if customer_id in (None, "") else str(customer_id), occurred_at, data
    )


def _on_event_days(moment: datetime) -> bool:
    first, last = EVENT_DAYS
    start = datetime.combine(first, time(), timezone.utc)
    return start <= moment < datetime.combine(last + timedelta(days=1), time(), timezone.utc)


def customer_facts(
    session: Session,
    *,
    shop_id: int,
    customer_id: str | None,
    event: EventDocument | None = None,
    count_this_order: bool = False,
) -> CustomerFacts | None:
    """Return the customer's facts from their profile (a new customer when there is none; None for a guest).

    With `count_this_order`, an order not yet recorded is added to orders_count and lifetime_spend, which the
    language defines as including this order.
    """
    if customer_id is None:
        return None
    profile = session.execute(
        select(CustomerLoyaltyProfile).where(
            CustomerLoyaltyProfile.shop_id == shop_id, CustomerLoyaltyProfile.customer_id == customer_id
        )
    ).scalar_one_or_none()
    orders, spend = (profile.orders_count, Decimal(profile.total_spent)) if profile else (0, Decimal(0))
    if count_this_order and event is not None and event.event_type in ORDER_EVENT_TYPES:
        order_id = str(event.event_data.get("id", ""))
        recorded = (
            profile is not None
            and order_id
            and session.execute(select(Order.id).where(Order.shop_id == shop_id, Order.order_id == order_id)).first()
            is not None
        )
        if not recorded:
            orders, spend = orders + 1, spend + (to_decimal(event.event_data.get("total_price")) or Decimal(0))
    if profile is None:
        return CustomerFacts(customer_id=customer_id, orders_count=orders, lifetime_spend=spend)
    return profile_facts(session, profile, orders_count=orders, lifetime_spend=spend)


def profile_facts(
    session: Session,
    profile: CustomerLoyaltyProfile,
    *,
    orders_count: int | None = None,
    lifetime_spend: Decimal | None = None,
) -> CustomerFacts:
    """Return what the rules know of a profile's customer: tags, tier and its multiplier, orders, spend, referral."""
    tier, multiplier = None, Decimal(1)
    if profile.current_tier_id is not None:
        row = tier_by_id(session, shop_id=profile.shop_id, tier_id=profile.current_tier_id)
        if row is not None:
            tier, multiplier = row.name, Decimal(row.earn_multiplier)
    return CustomerFacts(
        customer_id=profile.customer_id,
        tags=frozenset(str(tag) for tag in profile.tags or ()),
        tier=tier,
        tier_multiplier=multiplier,
        orders_count=profile.orders_count if orders_count is None else orders_count,
        lifetime_spend=Decimal(profile.total_spent) if lifetime_spend is None else lifetime_spend,
        referred=profile.referred_by_profile_id is not None,
    )


def event_facts(
    session: Session,
    *,
    shop: Shop,
    profile: CustomerLoyaltyProfile,
    event: InboundEvent,
    history: Callable[[DatabaseHistory], History] = lambda database: database,
) -> Facts:
    """What the rules see of an event being processed for the customer of `profile` (as the caller holds it, locked):
    the event, the customer (`profile_facts`) and their history as of the event, asked of the database (`history`
    may answer some of its questions another way, and ask the database the rest)."""
    database = DatabaseHistory(
        session=session,
        shop_id=shop.id,
        customer_id=profile.customer_id,
        profile_id=profile.id,
        as_of=event.timestamp,
        timezone=shop.timezone,
        current_event_type=event.event_type,
    )
    return Facts(
        event_id=str(event.event_id),
        event_type=event.event_type,
        occurred_at=event.timestamp,
        timezone=shop.timezone,
        event_data=event.event_data,
        customer=profile_facts(session, profile),
        history=history(database),
    )


def rule_credit_key(rule_id: int | None, action_index: int, source: tuple[str, str]) -> str:
    """The ledger key of a rule action's credit: the rule, the action and the business object, never the delivery
    (L3), so live processing, a re-delivery, a backfill and a retroactive run of the same order credit once."""
    return f"rule:{rule_id}:a{action_index}:{source[0]}:{source[1]}"


def business_source(
    event_type: str, event_id: str, customer_id: str | None, event_data: dict[str, Any]
) -> tuple[str, str]:
    """Return the business object an event's credits are keyed by, as processing keys them."""
    if event_type in ORDER_EVENT_TYPES and event_data.get("id") not in (None, ""):
        return ("order", str(event_data["id"]))
    if event_type in ("customer_created", "customer_updated") and customer_id:
        return ("customer", customer_id)
    return ("event", event_id)
