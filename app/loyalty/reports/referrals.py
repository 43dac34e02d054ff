"""The referral programme as the merchant reviews it: conversions newest first, optionally of one status (the review
queue is status `blocked`, with the fraud check's reason)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from app.models import CustomerLoyaltyProfile, ReferralConversion

PAGE_SIZE = 25
CONVERSION_STATUSES = ("pending", "rewarded", "blocked", "reversed", "rejected")


@dataclass(frozen=True)
class ConversionLine:
    conversion: ReferralConversion
    advocate: str
    friend: str


@dataclass(frozen=True)
class ConversionPage:
    lines: list[ConversionLine]
    next_after: int | None
    counts: dict[str, int]


def conversion_page(
    session: Session, *, shop_id: int, status: str = "", after: int | None = None, limit: int = PAGE_SIZE
) -> ConversionPage:
    advocate, friend = aliased(CustomerLoyaltyProfile), aliased(CustomerLoyaltyProfile)
    statement = (
        select(ReferralConversion, advocate.email, advocate.customer_id, friend.email, friend.customer_id)
        .join(advocate, advocate.id == ReferralConversion.advocate_profile_id)
        .outerjoin(friend, friend.id == ReferralConversion.friend_profile_id)
        .where(ReferralConversion.shop_id == shop_id)
    )
    if status:
        statement = statement.where(ReferralConversion.status == status)
    if after is not None:
        statement = statement.where(ReferralConversion.id < after)
    rows = list(session.execute(statement.order_by(ReferralConversion.id.desc()).limit(limit + 1)))
    lines = [
        ConversionLine(conversion=row[0], advocate=row[1] or row[2], friend=row[3] or row[4] or "—")
        for row in rows[:limit]
    ]
    counts = dict(
        session.execute(
            select(ReferralConversion.status, func.count())
            .where(ReferralConversion.shop_id == shop_id)
            .group_by(ReferralConversion.status)
        ).all()
    )
    return ConversionPage(lines=lines, next_after=rows[limit - 1][0].id if len(rows) > limit else None, counts=counts)
