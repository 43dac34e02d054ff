"""Order events applied set-based (processing.order_batches) leave exactly what applying them one at a time leaves.

One shop receives the events as one batch, another shop with the same rules and ladder receives the same events one
per transaction; every balance, entry, lot, pending credit, order, tier and tier event must come out the same. The
events mix what a batch must order right: several orders of one customer (each against what the earlier wrote: one
first-order bonus, a tier reached on the second), a backfill of an order under a new event id, a guest order. Under
a points expiry policy and a return window, every lot's expiry and every held credit's release date must match too.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.commands.demo import FIRST_ORDER_BONUS
from app.loyalty import ledger, rulebook
from app.loyalty.base.inbound import InboundEvent
from app.loyalty.processing import process_batch, process_event
from app.loyalty.tiers import set_tier_by_hand
from app.models import (
    CustomerLoyaltyProfile,
    EventQueue,
    Order,
    PendingCredit,
    PointsLot,
    PointsTransaction,
    Rule,
    RuleExecution,
    Shop,
    TierDefinition,
)
from tests.helpers import order_payload

PER_DOLLAR = {
    "name": "Points per dollar",
    "actions": [{"type": "points_per_currency", "rate": 2, "basis": "subtotal", "rounding": "floor"}],
}
BUDGETED = {
    "name": "Launch bonus",
    "limits": {"budget_points": 1000},
    "actions": [{"type": "points", "amount": 400}],
}


def _configure(
    session: Session,
    shop: Shop,
    now: datetime,
    *,
    return_window_days: int = 0,
    points_expiry_policy: str = "never",
    points_expiry_days: int | None = None,
) -> None:
    for definition in (FIRST_ORDER_BONUS, PER_DOLLAR):
        rulebook.save_rule(session, shop_id=shop.id, definition=definition, actor="admin@shop", now=now)
    session.add_all(
        [
            TierDefinition(shop_id=shop.id, name="Bronze", level=1, threshold=Decimal(0)),
            TierDefinition(shop_id=shop.id, name="Silver", level=2, threshold=Decimal(1000), earn_multiplier=2),
        ]
    )
    shop.return_window_days = return_window_days
    shop.points_expiry_policy, shop.points_expiry_days = points_expiry_policy, points_expiry_days
    session.commit()


def _events(shop: Shop) -> list[InboundEvent]:
    at = datetime(2026, 3, 2, 15, tzinfo=timezone.utc)

    def order(order_id: int, customer: int | None, total: str) -> InboundEvent:
        data = order_payload(order_id=order_id, customer_id=customer or 1, total=total)
        if customer is None:
            data.pop("customer")
        return InboundEvent(
            event_id=uuid.uuid4(),
            event_type="order_created",
            shop_domain=shop.domain,
            customer_id=None if customer is None else str(customer),
            timestamp=at + timedelta(minutes=order_id),
            event_data=data,
        )

    return [
        order(1, 501, "150.00"),  # first order: bonus 500 + 300 per dollar; Bronze
        order(2, 502, "40.00"),
        order(3, 501, "120.00"),  # second order of 501: no bonus, 240 per dollar; reaches Silver (1040)
        order(4, None, "99.00"),  # a guest: recorded, credits nobody
        order(5, 502, "300.00"),  # second of 502, after Bronze: Silver at 2x from the next order only
        order(1, 501, "150.00"),  # the first order again under another event id (a backfill): credits nothing
        order(6, 501, "10.00"),  # third of 501, at Silver's 2x
    ]


def _state(session: Session, shop: Shop) -> dict[str, Any]:
    """Everything the events wrote for the shop, free of ids (its dates come from the test's fixed clocks)."""
    tiers = {tier.id: tier.name for tier in session.execute(select(TierDefinition)).scalars()}
    profiles = {
        p.customer_id: (
            p.points_balance,
            p.points_pending,
            p.lifetime_earned,
            p.orders_count,
            p.total_spent,
            tiers.get(p.current_tier_id),
            p.email,
            p.last_activity_at,
            tiers.get(p.earned_tier_id),
        )
        for p in session.execute(select(CustomerLoyaltyProfile).where(CustomerLoyaltyProfile.shop_id == shop.id))
        .scalars()
        .all()
    }
    customer_of = {p.id: p.customer_id for p in session.execute(select(CustomerLoyaltyProfile)).scalars()}
    entries = sorted(
        # A rule credit's key names the rule's action and the order; other keys name row ids, which differ per shop.
        (
            customer_of[t.profile_id],
            t.kind,
            t.points,
            t.idempotency_key.split(":", 2)[2] if t.rule_id else "",
            t.source_id,
        )
        for t in session.execute(select(PointsTransaction).where(PointsTransaction.shop_id == shop.id)).scalars()
    )
    lots = sorted(
        (customer_of[lot.profile_id], lot.points, lot.remaining, lot.earned_at, lot.expires_at)
        for lot in session.execute(select(PointsLot).where(PointsLot.shop_id == shop.id)).scalars()
    )
    pending = sorted(
        (customer_of[c.profile_id], c.points, c.source_id, c.status, c.available_at)
        for c in session.execute(select(PendingCredit).where(PendingCredit.shop_id == shop.id)).scalars()
    )
    orders = sorted(
        (o.order_id, customer_of.get(o.profile_id), o.total, o.points_earned)
        for o in session.execute(select(Order).where(Order.shop_id == shop.id)).scalars()
    )
    tier_events = sorted(
        (e.payload["customer_id"], e.payload["to_tier"]["name"], e.payload["reason"].split(" ")[0])
        for e in session.execute(
            select(EventQueue).where(EventQueue.shop_id == shop.id, EventQueue.event_type == "tier_changed")
        ).scalars()
    )
    fired = sorted(
        (customer_of[x.profile_id], x.points)
        for x in session.execute(
            select(RuleExecution).where(RuleExecution.shop_id == shop.id, RuleExecution.fired.is_(True))
        ).scalars()
    )
    return {
        "profiles": profiles,
        "entries": entries,
        "lots": lots,
        "pending": pending,
        "orders": orders,
        "tier_events": tier_events,
        "fired": fired,
    }


def _batch_and_one_by_one(
    db_session: Session, shop: Shop, other_shop: Shop, now: datetime, events: Callable[[Shop], list[InboundEvent]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The same events applied to `shop` in one batch and to `other_shop` one transaction at a time: both states."""
    process_batch(db_session, events(shop), consumer_group="test", now=now)
    db_session.commit()
    for event in events(other_shop):
        process_event(db_session, event, consumer_group="test", now=now)
        db_session.commit()
    db_session.expire_all()
    return _state(db_session, shop), _state(db_session, other_shop)


def _one_batch_and_one_by_one(
    db_session: Session, shop: Shop, other_shop: Shop, now: datetime, **config: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    _configure(db_session, shop, now, **config)
    _configure(db_session, other_shop, now, **config)
    return _batch_and_one_by_one(db_session, shop, other_shop, now, _events)


def test_a_batch_of_orders_leaves_what_the_same_orders_one_by_one_leave(
    db_session: Session, shop: Shop, other_shop: Shop, now: datetime
) -> None:
    batched, one_by_one = _one_batch_and_one_by_one(db_session, shop, other_shop, now)

    assert batched == one_by_one
    # And what that is, so both being wrong the same way fails too.
    assert batched["profiles"]["501"][:6] == (1080, 0, 1080, 3, Decimal("280.00"), "Silver")
    assert batched["profiles"]["502"][:6] == (680, 0, 680, 2, Decimal("340.00"), "Bronze")
    # The backfill of order 1 credits nothing again: its bonus and its points are the first delivery's only.
    assert [source for customer, _, _, _, source in batched["entries"] if customer == "501"].count("1") == 2
    assert batched["tier_events"] == [("501", "Bronze", "order_created"), ("501", "Silver", "order_created"),
                                      ("502", "Bronze", "order_created")]  # fmt: skip
    assert ("4", None, Decimal("99.00"), 0) in batched["orders"]


def test_a_batch_under_a_tier_set_by_hand_moves_the_earned_tier_as_one_by_one_does(
    db_session: Session, shop: Shop, other_shop: Shop, now: datetime
) -> None:
    """501 holds Silver by hand: its orders earn Bronze, then Silver, underneath. The tier that applies never moves,
    so neither path records a tier_changed event for 501, and both store the earned Silver it goes back to."""
    for each in (shop, other_shop):
        _configure(db_session, each, now)
        silver = db_session.execute(
            select(TierDefinition).where(TierDefinition.shop_id == each.id, TierDefinition.name == "Silver")
        ).scalar_one()
        profile = ledger.lock_profile(db_session, shop_id=each.id, customer_id="501", now=now)
        set_tier_by_hand(
            db_session, shop=each, profile=profile, tier_id=silver.id, until=date(2999, 12, 31), staff="s", now=now
        )
        db_session.commit()
    batched, one_by_one = _batch_and_one_by_one(db_session, shop, other_shop, now, _events)

    assert batched == one_by_one
    assert (batched["profiles"]["501"][5], batched["profiles"]["501"][8]) == ("Silver", "Silver")
    assert (batched["profiles"]["502"][5], batched["profiles"]["502"][8]) == ("Bronze", "Bronze")
    assert batched["tier_events"] == [("501", "Silver", "set_by_hand"), ("502", "Bronze", "order_created")]


def test_held_credits_of_a_batch_match_one_by_one(
    db_session: Session, shop: Shop, other_shop: Shop, now: datetime
) -> None:
    batched, one_by_one = _one_batch_and_one_by_one(db_session, shop, other_shop, now, return_window_days=14)

    assert batched == one_by_one
    assert batched["entries"] == [] and batched["lots"] == []
    # Held points are not earned yet: no tier above Bronze, so no 2x on order 6 (500 + 300 + 240 + 20).
    assert batched["profiles"]["501"][:3] == (0, 1060, 0)


@dataclass(frozen=True)
class _Policy:
    expiry: str
    days: int
    return_window_days: int


@pytest.mark.parametrize(
    "policy",
    [
        _Policy("after_earning", 365, 0),
        _Policy("inactivity", 90, 0),
        _Policy("after_earning", 365, 14),
        _Policy("inactivity", 90, 14),
    ],
    ids=lambda policy: f"{policy.expiry}-window{policy.return_window_days}",
)
def test_expiry_dates_and_release_dates_of_a_batch_match_one_by_one(
    db_session: Session, shop: Shop, other_shop: Shop, now: datetime, policy: _Policy
) -> None:
    """Customer 501 earned 40 days before the batch (released, if held, 20 days before): under the inactivity policy
    the batch's earns move that lot's expiry too. The batch's held credits are then released after the window, and
    the lots they become must expire when the one-by-one ones do."""
    earlier, released = now - timedelta(days=40), now - timedelta(days=20)
    for target in (shop, other_shop):
        _configure(
            db_session,
            target,
            now,
            return_window_days=policy.return_window_days,
            points_expiry_policy=policy.expiry,
            points_expiry_days=policy.days,
        )
        first = InboundEvent(
            event_id=uuid.uuid4(),
            event_type="order_created",
            shop_domain=target.domain,
            customer_id="501",
            timestamp=earlier,
            event_data=order_payload(order_id=100, customer_id=501, total="50.00"),
        )
        process_event(db_session, first, consumer_group="test", now=earlier)
        ledger.release_due(db_session, shop_id=target.id, now=released)
        db_session.commit()
    batched, one_by_one = _batch_and_one_by_one(db_session, shop, other_shop, now, _events)

    assert batched == one_by_one
    days, window = timedelta(days=policy.days), timedelta(days=policy.return_window_days)
    # 501's lots from 40 days ago: moved to 90 days from now by 501's earns in the batch, or left where they were.
    old_expiry = now + days if policy.expiry == "inactivity" else earlier + window + days
    assert {lot[4] for lot in batched["lots"] if lot[3] < now} == {old_expiry}
    if policy.return_window_days:
        assert {credit[4] for credit in batched["pending"] if credit[3] == "pending"} == {now + window}
        for target in (shop, other_shop):
            ledger.release_due(db_session, shop_id=target.id, now=now + window + timedelta(days=1))
        db_session.commit()
        db_session.expire_all()
        batched, one_by_one = _state(db_session, shop), _state(db_session, other_shop)
        assert batched == one_by_one
    # The batch's lots (after the window, if held: dated from its end) expire `days` after they were credited.
    assert {lot[4] for lot in batched["lots"] if lot[3] >= now} == {now + window + days}


def test_a_budget_is_spent_in_stream_order_within_one_batch(db_session: Session, shop: Shop, now: datetime) -> None:
    """Waves would apply customer 601's second order after the first orders of the others: a shop with a budgeted
    rule has its events applied one by one, so the last units of the budget go to the events first in the stream."""
    rulebook.save_rule(db_session, shop_id=shop.id, definition=BUDGETED, actor="admin@shop", now=now)
    db_session.commit()
    events = [
        InboundEvent(
            event_id=uuid.uuid4(),
            event_type="order_created",
            shop_domain=shop.domain,
            customer_id=str(customer),
            timestamp=now,
            event_data=order_payload(order_id=order, customer_id=customer),
        )
        for order, customer in ((1, 601), (2, 601), (3, 602), (4, 603))
    ]

    outcomes = process_batch(db_session, events, consumer_group="test", now=now)
    db_session.commit()

    # 400 + 400, then the 200 left of the budget (the engine caps the last award), then nothing.
    assert [outcome.points_credited for outcome in outcomes] == [400, 400, 200, 0]
    issued = db_session.execute(select(Rule.points_issued).where(Rule.name == "Launch bonus")).scalar_one()
    assert issued == 1000


def _mixed_events(shop: Shop) -> list[InboundEvent]:
    """Orders next to events the set-based path does not take: a refund (no customer on it, as Shopify sends it)
    of an order credited earlier in the same batch, and a customers/update of a customer who also orders."""
    at = datetime(2026, 3, 2, 15, tzinfo=timezone.utc)

    def event(event_type: str, customer: int | None, data: dict[str, Any], minute: int) -> InboundEvent:
        return InboundEvent(
            event_id=uuid.uuid4(),
            event_type=event_type,
            shop_domain=shop.domain,
            customer_id=None if customer is None else str(customer),
            timestamp=at + timedelta(minutes=minute),
            event_data=data,
        )

    customer = order_payload(order_id=20, customer_id=702)["customer"]
    refund = {
        "id": 9901,
        "order_id": 10,
        "transactions": [{"kind": "refund", "status": "success", "amount": "150.00"}],
    }
    return [
        event("order_created", 701, order_payload(order_id=10, customer_id=701, total="150.00"), 1),
        event("order_created", 702, order_payload(order_id=20, customer_id=702, total="200.00"), 2),
        event("refund_created", None, refund, 3),
        event("order_created", 702, order_payload(order_id=21, customer_id=702, total="20.00"), 4),
        event("customer_updated", 702, {**customer, "email": "new-702@example.com"}, 5),
        event("order_created", 703, order_payload(order_id=30, customer_id=703, total="120.00"), 6),
    ]


def test_a_batch_mixing_orders_refunds_and_customer_events_leaves_what_one_by_one_leaves(
    db_session: Session, shop: Shop, other_shop: Shop, now: datetime
) -> None:
    _configure(db_session, shop, now)
    _configure(db_session, other_shop, now)
    batched, one_by_one = _batch_and_one_by_one(db_session, shop, other_shop, now, _mixed_events)

    assert batched == one_by_one
    # The refund took back all that order 10 earned, though the batch credited it in the same transaction.
    assert batched["profiles"]["701"][0] == 0
    assert batched["profiles"]["702"][6] == "new-702@example.com"
    assert batched["profiles"]["703"][0] == 500 + 240
