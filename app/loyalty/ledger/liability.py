"""The shop's points liability: what its customers could still spend, and what that is worth in its currency."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import CustomerLoyaltyProfile, Shop

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Liability:
    """Outstanding (spendable) points and their value; pending points are reported apart, not in `points`."""

    currency: str
    points: int
    value: Decimal
    pending_points: int
    pending_value: Decimal
    customers: int


def points_value(points: int, points_per_unit: Decimal) -> Decimal:
    """`points / points_per_unit` in the shop's currency, rounded half-up to cents."""
    return (Decimal(points) / points_per_unit).quantize(CENT, rounding=ROUND_HALF_UP)


def points_liability(session: Session, *, shop: Shop) -> Liability:
    """The shop's liability at its redemption rate.

    `points` sums positive balances only: a negative balance (a refund after spend, where the shop allows it) is
    not an asset that offsets other customers' points. Pending points are not spendable yet and may still be
    cancelled by a refund, so they are reported separately (`pending_points`, `pending_value`).
    """
    points, pending, customers = session.execute(
        select(
            func.coalesce(func.sum(func.greatest(CustomerLoyaltyProfile.points_balance, 0)), 0),
            func.coalesce(func.sum(CustomerLoyaltyProfile.points_pending), 0),
            func.count().filter(CustomerLoyaltyProfile.points_balance > 0),
        ).where(CustomerLoyaltyProfile.shop_id == shop.id)
    ).one()
    rate = Decimal(shop.redemption_points_per_unit)
    return Liability(
        currency=shop.currency,
        points=int(points),
        value=points_value(int(points), rate),
        pending_points=int(pending),
        pending_value=points_value(int(pending), rate),
        customers=int(customers),
    )
