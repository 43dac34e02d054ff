"""Refunds and cancellations of orders: take back what the order earned, in proportion, exactly once per refund.

Proration (one rule, DESIGN invariant 7): the order's refunded *fraction* is the sum over its refunds of
`amount / basis amount` (the order's `subtotal` for a line-item amount, its `total` for a transactions amount),
capped at 1, computed exactly with `Fraction`. What should have been taken back by now is
`floor(earned * fraction)`, or all of `earned` once the fraction reaches 1 or the order is cancelled; each refund
takes back the difference from what was already taken. So partial refunds never take back more than a full refund
would, and the last one takes exactly the remainder. `earned` is what the order actually credited this customer
(pending or posted, under the rule versions that awarded it: `reversals.earned_by`), never today's rules. What the
order's credits lost to expiry counts as taken already: those points are gone, and a refund never takes them a
second time out of the customer's other points.

Each refund is recorded once in `ledger_reversals` under `refund:<refund id>` (a cancellation under
`cancellation:<order id>`): a second event for the same refund finds the row and does nothing. Pending points are
cancelled first; beyond the balance, the shop's negative-balance policy applies (see `reversals`).

When the shop enables `refund_redeemed_points`, points the customer spent on a redemption whose discount was used
on this order come back in the same fraction (`redemption_refund` entries pointing at the redeem entry), before the
take-back, so the take-back can come out of them.

An order this app never recorded (no `orders` row) writes nothing and says `order_found=False`: the caller may retry
once the order has been processed.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.loyalty.base.errors import InvalidInput
from app.loyalty.base.order_amounts import MAX_AMOUNT
from app.loyalty.ledger import entries, reversals
from app.loyalty.ledger.retro_sources import retro_sources
from app.models import (
    CustomerLoyaltyProfile,
    LedgerReversal,
    Order,
    PointsTransaction,
    RedemptionLog,
    Shop,
)
from app.rules.values import to_decimal

BASES = ("subtotal", "total")


@dataclass(frozen=True)
class RefundAmount:
    """The refunded money of one `refunds/create` payload and what it is a share of."""

    amount: Decimal
    basis: str


@dataclass(frozen=True)
class ReversalResult:
    """What a refund or cancellation did; all zero with `duplicate` or without `order_found`."""

    order_found: bool
    duplicate: bool = False
    points_claimed: int = 0
    pending_cancelled: int = 0
    points_reversed: int = 0
    shortfall: int = 0
    redeemed_returned: int = 0
    entries: tuple[PointsTransaction, ...] = field(default=())


def refund_amount(payload: Mapping[str, Any]) -> RefundAmount:
    """The refunded amount of a `refunds/create` payload, as Decimal from Shopify's strings.

    Basis "subtotal": the sum of `refund_line_items[].subtotal_set.shop_money.amount` (line items after their
    discounts, before tax and shipping: the same basis as the order's `subtotal_price` that points are earned on).
    With no line items (a refund of shipping or an arbitrary amount), basis "total": the sum of successful
    `transactions[]` of kind `refund`, compared with the order's `total_price`.
    """
    try:
        lines = payload.get("refund_line_items") or []
        if lines:
            amounts = [
                _money(line.get("subtotal_set", {}).get("shop_money", {}).get("amount"), line.get("subtotal"))
                for line in lines
            ]
            return RefundAmount(amount=_bounded(sum(amounts, Decimal(0))), basis="subtotal")
        transactions = [
            t
            for t in payload.get("transactions") or []
            if t.get("kind") == "refund" and t.get("status", "success") == "success"
        ]
        return RefundAmount(
            amount=_bounded(sum((_money(t.get("amount")) for t in transactions), Decimal(0))), basis="total"
        )
    except (AttributeError, TypeError) as exc:
        raise InvalidInput(f"refund payload is malformed: {exc}") from None


def _bounded(total: Decimal) -> Decimal:
    """A refund's amount as the ledger stores it (NUMERIC(14, 2), as orders' totals): a sum past it is no refund."""
    if total > MAX_AMOUNT:
        raise InvalidInput(f"refund amounts add up to {total}, larger than {MAX_AMOUNT}")
    return total


def _money(*candidates: object) -> Decimal:
    for value in candidates:
        if value is None:
            continue
        amount = to_decimal(value)
        if amount is None:
            raise InvalidInput(f"refund amount {value!r} is not a decimal number")
        if amount < 0:
            raise InvalidInput(f"refund amount {value!r} is negative")
        if amount > MAX_AMOUNT:
            raise InvalidInput(f"refund amount {str(value)[:40]!r} is larger than {MAX_AMOUNT}")
        return amount
    return Decimal(0)


def apply_refund(
    session: Session,
    *,
    shop: Shop,
    profile: CustomerLoyaltyProfile,
    order_id: str,
    refund_id: str,
    refunded_amount: Decimal,
    event_id: uuid.UUID,
    now: datetime,
    basis: str = "subtotal",
) -> ReversalResult:
    """Take back the refunded share of what the order earned, once per `refund_id` (see the module docstring).

    The caller holds the profile lock. Raises InvalidInput for a negative amount, an unknown basis or an order of
    another customer.
    """
    if not refund_id:
        raise InvalidInput("a refund needs its refund id")
    if not isinstance(refunded_amount, Decimal) or not refunded_amount.is_finite() or refunded_amount < 0:
        raise InvalidInput(f"refunded amount must be a Decimal >= 0, got {refunded_amount!r}")
    if basis not in BASES:
        raise InvalidInput(f"refund basis must be one of {', '.join(BASES)}, got {basis!r}")
    return _reverse_order(
        session,
        shop=shop,
        profile=profile,
        order_id=order_id,
        kind="refund",
        key=f"refund:{refund_id}",
        event_id=event_id,
        now=now,
        refund=(refund_id, refunded_amount, basis),
    )


def apply_cancellation(
    session: Session,
    *,
    shop: Shop,
    profile: CustomerLoyaltyProfile,
    order_id: str,
    event_id: uuid.UUID,
    now: datetime,
) -> ReversalResult:
    """Take back whatever the order earned that is not yet taken back, once per order; marks the order cancelled."""
    return _reverse_order(
        session,
        shop=shop,
        profile=profile,
        order_id=order_id,
        kind="cancellation",
        key=f"cancellation:{order_id}",
        event_id=event_id,
        now=now,
        refund=None,
    )


def _reverse_order(
    session: Session,
    *,
    shop: Shop,
    profile: CustomerLoyaltyProfile,
    order_id: str,
    kind: str,
    key: str,
    event_id: uuid.UUID,
    now: datetime,
    refund: tuple[str, Decimal, str] | None,
) -> ReversalResult:
    order = session.execute(
        select(Order)
        .where(Order.shop_id == shop.id, Order.order_id == order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if order is None:
        return ReversalResult(order_found=False)
    if order.profile_id is not None and order.profile_id != profile.id:
        raise InvalidInput(f"order {order_id} belongs to another customer")
    source = ("order", order_id)
    request_id = reversals.open_request(
        session,
        shop_id=shop.id,
        profile_id=profile.id,
        kind=kind,
        key=key,
        source=source,
        now=now,
        refund_id=refund[0] if refund else None,
        amount=refund[1] if refund else None,
        basis=refund[2] if refund else None,
        event_id=event_id,
    )
    if request_id is None:
        return ReversalResult(order_found=True, duplicate=True)

    fraction = _refunded_fraction(session, shop_id=shop.id, order=order)
    cause = entries.Cause("event", event_id=event_id)
    returned = (
        _return_redeemed(
            session, shop=shop, profile=profile, order_id=order_id, fraction=fraction, request_key=key, now=now
        )
        if shop.refund_redeemed_points
        else []
    )

    reason = f"Refund {refund[0]} of order {order_id}" if refund else f"Cancellation of order {order_id}"
    # What the order earned live, then what retroactive runs credited for it: each taken back in the same share.
    sources = [source, *retro_sources(session, shop_id=shop.id, profile_id=profile.id, business=source)]
    order_claim, taken = 0, reversals.TakeBack()
    for credited in sources:
        so_far = reversals.earned_by(session, shop_id=shop.id, profile_id=profile.id, source=credited)
        due = so_far.earned if fraction >= 1 else math.floor(so_far.earned * fraction)
        result = reversals.take_back(
            session,
            shop=shop,
            profile_id=profile.id,
            source=credited,
            claim=max(0, due - so_far.reversed - so_far.expired),
            request_key=key,
            cause=cause,
            now=now,
            reason=reason,
        )
        order_claim += result.claimed if credited == source else 0
        taken.add(result)
    redeemed_returned = sum(entry.points for entry in returned)
    reversals.close_request(session, request_id, taken, redeemed_returned=redeemed_returned)
    order_values: dict[str, Any] = {"points_reversed": Order.points_reversed + order_claim}
    if refund:
        order_values["refunded_amount"] = Order.refunded_amount + refund[1]
    else:
        order_values["cancelled_at"] = func.coalesce(Order.cancelled_at, now)
    session.execute(update(Order).where(Order.id == order.id).values(**order_values))
    return ReversalResult(
        order_found=True,
        points_claimed=taken.claimed,
        pending_cancelled=taken.pending_cancelled,
        points_reversed=taken.points_reversed,
        shortfall=taken.shortfall,
        redeemed_returned=redeemed_returned,
        entries=tuple(returned + taken.entries),
    )


def fully_refunded(session: Session, *, shop_id: int, order_id: str) -> bool:
    """True once the order's refunds add up to all of it (the same measure proration uses)."""
    order = session.execute(
        select(Order).where(Order.shop_id == shop_id, Order.order_id == order_id)
    ).scalar_one_or_none()
    return order is not None and _refunded_fraction(session, shop_id=shop_id, order=order) >= 1


def _refunded_fraction(session: Session, *, shop_id: int, order: Order) -> Fraction:
    """The share of the order refunded so far (this request included): 1 once it is cancelled."""
    rows = session.execute(
        select(LedgerReversal.kind, LedgerReversal.amount, LedgerReversal.basis).where(
            LedgerReversal.shop_id == shop_id,
            LedgerReversal.source_type == "order",
            LedgerReversal.source_id == order.order_id,
            LedgerReversal.kind.in_(("refund", "cancellation")),
        )
    ).all()
    fraction = Fraction(0)
    for kind, amount, basis in rows:
        if kind == "cancellation":
            return Fraction(1)
        whole = order.subtotal if basis == "subtotal" else order.total
        if amount is None or amount == 0:
            continue
        if whole <= 0:
            return Fraction(1)
        fraction += Fraction(amount) / Fraction(whole)
    return min(fraction, Fraction(1))


def _return_redeemed(
    session: Session,
    *,
    shop: Shop,
    profile: CustomerLoyaltyProfile,
    order_id: str,
    fraction: Fraction,
    request_key: str,
    now: datetime,
) -> list[PointsTransaction]:
    """Give back the `fraction` of points spent on redemptions used on this order, minus what came back already."""
    redemptions = session.execute(
        select(RedemptionLog.id, RedemptionLog.points_spent)
        .where(
            RedemptionLog.shop_id == shop.id,
            RedemptionLog.profile_id == profile.id,
            RedemptionLog.used_on_order_id == order_id,
            RedemptionLog.points_spent > 0,
        )
        .order_by(RedemptionLog.id)
    ).all()
    given_back: list[PointsTransaction] = []
    for redemption_id, spent in redemptions:
        debit_id, returned = session.execute(
            select(
                func.min(PointsTransaction.id).filter(PointsTransaction.kind == "redeem"),
                func.coalesce(
                    func.sum(PointsTransaction.points).filter(PointsTransaction.kind == "redemption_refund"), 0
                ),
            ).where(PointsTransaction.shop_id == shop.id, PointsTransaction.redemption_id == redemption_id)
        ).one()
        due = spent if fraction >= 1 else math.floor(spent * fraction)
        give = due - int(returned)
        if give <= 0:
            continue
        entry = entries.post_entry(
            session,
            shop_id=shop.id,
            profile_id=profile.id,
            kind="redemption_refund",
            points=give,
            idempotency_key=f"{request_key}:redemption:{redemption_id}",
            cause=entries.Cause("redemption", redemption_id=redemption_id),
            now=now,
            reason=f"Points returned: redemption used on refunded order {order_id}",
            source=("order", order_id),
            expires_at=entries.new_lot_expiry(session, shop=shop, profile_id=profile.id, now=now),
            reverses_id=debit_id,
        )
        if entry is not None:
            given_back.append(entry)
    return given_back
