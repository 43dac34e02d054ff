"""Tier periods and what a member has done within one: the clock arithmetic and the measure queries behind tiers.

Periods (shop.tier_period):
- `lifetime`: one period that never ends; no downgrades.
- `calendar_year`: January 1 to January 1 in the shop's time zone.
- `rolling_12_months`: twelve months back from now for qualifying; each member's period ends twelve months after
  they reached (or last kept) their earned tier.

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
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import BigInteger, Select, any_, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
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
    if shop.tier_basis != "points_earned" and start is None and end is None:
        spent, count = session.execute(
            select(CustomerLoyaltyProfile.total_spent, CustomerLoyaltyProfile.orders_count).where(
                CustomerLoyaltyProfile.id == profile_id, CustomerLoyaltyProfile.shop_id == shop.id
            )
        ).one()
        return Decimal(spent) if shop.tier_basis == "amount_spent" else Decimal(count)
    found = session.execute(_measured(shop, [profile_id], start, end)).all()
    return _at_least_zero(found[0][1] if found else 0)


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
    found = {pid: _at_least_zero(total) for pid, total in session.execute(_measured(shop, ids, start, None)).all()}
    return {pid: found.get(pid, Decimal(0)) for pid in ids}


def _measured(shop: Shop, profile_ids: list[int], start: datetime | None, end: datetime | None) -> Select[Any]:
    """(profile id, measure in [start, end)) of each of these members with anything to count, from the ledger or
    the orders as the shop's basis says. The ids travel as one array: the same statement text for any number."""
    ids = literal(profile_ids, ARRAY(BigInteger))
    if shop.tier_basis == "points_earned":
        query = select(PointsTransaction.profile_id, func.sum(PointsTransaction.points)).where(
            PointsTransaction.shop_id == shop.id,
            PointsTransaction.profile_id == any_(ids),
            PointsTransaction.kind.in_(TIER_EARNING_KINDS),
        )
        moment = PointsTransaction.created_at
        group = PointsTransaction.profile_id
    else:
        value = (
            func.sum(Order.total - Order.refunded_amount) if shop.tier_basis == "amount_spent" else func.count(Order.id)
        )
        query = select(Order.profile_id, value).where(
            Order.shop_id == shop.id, Order.profile_id == any_(ids), Order.cancelled_at.is_(None)
        )
        moment = Order.placed_at
        group = Order.profile_id
    if start is not None:
        query = query.where(moment >= start)
    if end is not None:
        query = query.where(moment < end)
    return query.group_by(group)


def _at_least_zero(total: Any) -> Decimal:
    return max(Decimal(total or 0), Decimal(0))
