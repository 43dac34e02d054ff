"""The dashboard's figures: one shop, one date range, each a single SQL aggregate.

Indexes used: points_transactions (shop_id, created_at) for the range sums (migration 0005), profiles by shop, the
inbox by (shop_id, occurred_at). `bench/dashboard.py` times them on a shop with a million ledger entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import Date, cast, func, select
from sqlalchemy.orm import Session

from app.loyalty.ledger.liability import Liability, points_liability
from app.models import CustomerLoyaltyProfile, EventQueue, Order, PointsTransaction, Rule, Shop

ISSUING_KINDS = ("earn", "adjustment", "import", "referral")
ACTIVE_DAYS = 30


@dataclass(frozen=True)
class RuleFigure:
    name: str
    points: int


@dataclass(frozen=True)
class DashboardFigures:
    members: int
    active_members: int
    points_issued: int
    points_redeemed: int
    points_expired: int
    redemption_rate: Decimal | None  # redeemed / issued in the range, None when nothing was issued
    liability: Liability
    member_revenue: Decimal
    other_revenue: Decimal
    top_rules: list[RuleFigure]
    events_processed: int
    events_pending: int
    average_lag_seconds: float | None  # received -> processed, over the range's processed events


@dataclass(frozen=True)
class DailyPoints:
    day: date
    issued: int
    redeemed: int


def dashboard_figures(
    session: Session, *, shop: Shop, start: datetime, end: datetime, now: datetime
) -> DashboardFigures:
    """The shop's programme between `start` (inclusive) and `end` (exclusive); members and liability as of now."""
    members, active = session.execute(
        select(
            func.count(),
            func.count().filter(CustomerLoyaltyProfile.last_activity_at >= now - timedelta(days=ACTIVE_DAYS)),
        ).where(CustomerLoyaltyProfile.shop_id == shop.id, CustomerLoyaltyProfile.redacted_at.is_(None))
    ).one()
    in_range = (
        PointsTransaction.shop_id == shop.id,
        PointsTransaction.created_at >= start,
        PointsTransaction.created_at < end,
    )
    issued, redeemed, expired = session.execute(
        select(
            func.coalesce(
                func.sum(PointsTransaction.points).filter(
                    PointsTransaction.kind.in_(ISSUING_KINDS), PointsTransaction.points > 0
                ),
                0,
            ),
            func.coalesce(-func.sum(PointsTransaction.points).filter(PointsTransaction.kind == "redeem"), 0),
            func.coalesce(-func.sum(PointsTransaction.points).filter(PointsTransaction.kind == "expiry"), 0),
        ).where(*in_range)
    ).one()
    top_rules = [
        RuleFigure(name=name, points=int(points))
        for name, points in session.execute(
            select(Rule.name, func.sum(PointsTransaction.points).label("points"))
            .join(Rule, Rule.id == PointsTransaction.rule_id)
            .where(*in_range, PointsTransaction.points > 0)
            .group_by(Rule.name)
            .order_by(func.sum(PointsTransaction.points).desc())
            .limit(5)
        )
    ]
    member_revenue, other_revenue = session.execute(
        select(
            func.coalesce(func.sum(Order.total).filter(Order.profile_id.is_not(None)), 0),
            func.coalesce(func.sum(Order.total).filter(Order.profile_id.is_(None)), 0),
        ).where(Order.shop_id == shop.id, Order.placed_at >= start, Order.placed_at < end)
    ).one()
    processed, lag = session.execute(
        select(
            func.count(),
            func.avg(func.extract("epoch", EventQueue.processed_at - EventQueue.received_at)),
        ).where(
            EventQueue.shop_id == shop.id,
            EventQueue.status == "processed",
            EventQueue.occurred_at >= start,
            EventQueue.occurred_at < end,
        )
    ).one()
    pending = session.execute(
        select(func.count()).where(EventQueue.shop_id == shop.id, EventQueue.status == "pending")
    ).scalar_one()
    return DashboardFigures(
        members=int(members),
        active_members=int(active),
        points_issued=int(issued),
        points_redeemed=int(redeemed),
        points_expired=int(expired),
        redemption_rate=(Decimal(redeemed) / Decimal(issued)).quantize(Decimal("0.0001")) if issued else None,
        liability=points_liability(session, shop=shop),
        member_revenue=Decimal(member_revenue),
        other_revenue=Decimal(other_revenue),
        top_rules=top_rules,
        events_processed=int(processed),
        events_pending=int(pending),
        average_lag_seconds=float(lag) if lag is not None else None,
    )


def daily_points(session: Session, *, shop: Shop, start: datetime, end: datetime) -> list[DailyPoints]:
    """Points issued and redeemed per day of the shop's time zone, every day of the range (zero days included)."""
    local_day = cast(func.timezone(shop.timezone, PointsTransaction.created_at), Date)
    rows = {
        day: (int(issued), int(redeemed))
        for day, issued, redeemed in session.execute(
            select(
                local_day,
                func.coalesce(
                    func.sum(PointsTransaction.points).filter(
                        PointsTransaction.kind.in_(ISSUING_KINDS), PointsTransaction.points > 0
                    ),
                    0,
                ),
                func.coalesce(-func.sum(PointsTransaction.points).filter(PointsTransaction.kind == "redeem"), 0),
            )
            .where(
                PointsTransaction.shop_id == shop.id,
                PointsTransaction.created_at >= start,
                PointsTransaction.created_at < end,
            )
            .group_by(local_day)
        )
    }
    first, last = _local_date(start, shop.timezone), _local_date(end - timedelta(microseconds=1), shop.timezone)
    days = [first + timedelta(days=offset) for offset in range((last - first).days + 1)]
    return [DailyPoints(day=day, issued=rows.get(day, (0, 0))[0], redeemed=rows.get(day, (0, 0))[1]) for day in days]


def _local_date(moment: datetime, zone: str) -> date:
    return moment.astimezone(ZoneInfo(zone)).date()
