"""Tier periods and what a member has done within one: the clock arithmetic and the measure queries behind tiers.

Periods (shop.tier_period):
- `lifetime`: one period that never ends; no downgrades.
- `calendar_year`: January 1 to January 1 in the shop's time zone.
- `rolling_12_months`: twelve months back from now for qualifying; each member's period ends twelve months after
  they reached (or last kept) their tier.

Measures (shop.tier_basis), within [start, end):
- `points_earned`: earning entries (earn, referral, import, adjustments of either sign) minus reversals (refunds and
  cancellations) from the ledger. Redemptions, returned redemptions and expiry do not count: spending points never
  costs a member their tier.
- `amount_spent`: order totals less refunded amounts of orders not cancelled (`orders` table); for a lifetime
  period, the profile's maintained `total_spent`.
- `orders_placed`: orders not cancelled (`orders` table); for a lifetime period, the profile's `orders_count`.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import CustomerLoyaltyProfile, Order, PointsTransaction, Shop

TIER_EARNING_KINDS = ("earn", "referral", "import", "adjustment", "reversal")


def shop_zone(shop: Shop) -> ZoneInfo:
    try:
        return ZoneInfo(shop.timezone or "UTC")
    except ZoneInfoNotFoundError:
        return ZoneInfo("UTC")


def add_months(moment: datetime, months: int, zone: ZoneInfo) -> datetime:
    """`moment` moved by whole months on the shop's wall clock (Feb 29 + 12 months -> Feb 28), returned in UTC."""
    local = moment.astimezone(zone)
    index = local.year * 12 + local.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    day = local.day
    while True:
        try:
            moved = local.replace(year=year, month=month, day=day)
            break
        except ValueError:
            day -= 1
    return moved.replace(tzinfo=None).replace(tzinfo=zone).astimezone(timezone.utc)


def year_start(moment: datetime, zone: ZoneInfo) -> datetime:
    """January 1, 00:00 on the shop's wall clock, of the year `moment` falls in, in UTC."""
    local = moment.astimezone(zone)
    return datetime(local.year, 1, 1, tzinfo=zone).astimezone(timezone.utc)


def current_window(shop: Shop, now: datetime) -> datetime | None:
    """Start of the period that qualifies a member at `now` (None: since the beginning)."""
    zone = shop_zone(shop)
    if shop.tier_period == "calendar_year":
        return year_start(now, zone)
    if shop.tier_period == "rolling_12_months":
        return add_months(now, -12, zone)
    return None


def previous_window(shop: Shop, now: datetime) -> tuple[datetime, datetime] | None:
    """The last completed calendar year (what a member keeps a tier by until the next roll); None otherwise."""
    if shop.tier_period != "calendar_year":
        return None
    zone = shop_zone(shop)
    end = year_start(now, zone)
    return add_months(end, -12, zone), end


def period_end(shop: Shop, achieved_at: datetime) -> datetime | None:
    """When a tier reached (or kept) at `achieved_at` is next reviewed against its retention threshold."""
    zone = shop_zone(shop)
    if shop.tier_period == "calendar_year":
        return add_months(year_start(achieved_at, zone), 12, zone)
    if shop.tier_period == "rolling_12_months":
        return add_months(achieved_at, 12, zone)
    return None


def measure(
    session: Session, *, shop: Shop, profile_id: int, start: datetime | None, end: datetime | None = None
) -> Decimal:
    """What the member did in [start, end) in the unit of the shop's tier basis (see the module docstring)."""
    basis = shop.tier_basis
    if basis == "points_earned":
        query = select(func.coalesce(func.sum(PointsTransaction.points), 0)).where(
            PointsTransaction.shop_id == shop.id,
            PointsTransaction.profile_id == profile_id,
            PointsTransaction.kind.in_(TIER_EARNING_KINDS),
        )
        if start is not None:
            query = query.where(PointsTransaction.created_at >= start)
        if end is not None:
            query = query.where(PointsTransaction.created_at < end)
        return max(Decimal(session.execute(query).scalar_one()), Decimal(0))

    if start is None and end is None:
        spent, count = session.execute(
            select(CustomerLoyaltyProfile.total_spent, CustomerLoyaltyProfile.orders_count).where(
                CustomerLoyaltyProfile.id == profile_id, CustomerLoyaltyProfile.shop_id == shop.id
            )
        ).one()
        return Decimal(spent) if basis == "amount_spent" else Decimal(count)

    value = (
        func.coalesce(func.sum(Order.total - Order.refunded_amount), 0)
        if basis == "amount_spent"
        else func.count(Order.id)
    )
    query = select(value).where(Order.shop_id == shop.id, Order.profile_id == profile_id, Order.cancelled_at.is_(None))
    if start is not None:
        query = query.where(Order.placed_at >= start)
    if end is not None:
        query = query.where(Order.placed_at < end)
    return max(Decimal(session.execute(query).scalar_one()), Decimal(0))


def measures(
    session: Session, *, shop: Shop, profiles: dict[int, tuple[Decimal, int]], start: datetime | None
) -> dict[int, Decimal]:
    """`measure` from `start` to now for many members at once, one statement at most: {profile id: value}.

    `profiles` maps each profile id to its (total_spent, orders_count) as the caller holds them under the profile
    lock, which answer a lifetime amount_spent or orders_placed basis without a query.
    """
    basis = shop.tier_basis
    if basis != "points_earned" and start is None:
        return {pid: spent if basis == "amount_spent" else Decimal(count) for pid, (spent, count) in profiles.items()}
    ids = list(profiles)
    if basis == "points_earned":
        query = select(PointsTransaction.profile_id, func.sum(PointsTransaction.points)).where(
            PointsTransaction.shop_id == shop.id,
            PointsTransaction.profile_id.in_(ids),
            PointsTransaction.kind.in_(TIER_EARNING_KINDS),
        )
        if start is not None:
            query = query.where(PointsTransaction.created_at >= start)
        query = query.group_by(PointsTransaction.profile_id)
    else:
        value = func.sum(Order.total - Order.refunded_amount) if basis == "amount_spent" else func.count(Order.id)
        query = (
            select(Order.profile_id, value)
            .where(
                Order.shop_id == shop.id,
                Order.profile_id.in_(ids),
                Order.cancelled_at.is_(None),
                Order.placed_at >= start,
            )
            .group_by(Order.profile_id)
        )
    found = {pid: max(Decimal(total or 0), Decimal(0)) for pid, total in session.execute(query).all()}
    return {pid: found.get(pid, Decimal(0)) for pid in ids}
