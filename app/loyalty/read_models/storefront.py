"""What the storefront surfaces read beyond the profile: the public programme (ways to earn, rewards, tiers), and for
one shopper their history, expiring points, affordable rewards, unused codes and referral link.

Every query is scoped by the shop id and, for a shopper's data, by that shopper's profile: the callers pass the
verified shopper, never an id taken from a request body.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.loyalty.ledger.profiles import find_profile
from app.loyalty.read_models.profile import RedemptionView, redemption_view
from app.loyalty.referrals.links import link_for
from app.loyalty.referrals.settings import settings_for
from app.loyalty.rulebook.store import active_rules, current_versions
from app.loyalty.tiers.membership import ladder
from app.models import (
    CustomerLoyaltyProfile,
    PointsLot,
    PointsTransaction,
    RedemptionLog,
    ReferralClick,
    ReferralConversion,
    ReferralLink,
    RewardDefinition,
    Shop,
)
from app.models.base import MAX_BIGINT
from app.rules.earning import EarnWay, ways_to_earn
from app.rules.values import is_ascii_digits

# Redemptions the shopper still holds: waiting for their code, or settled and not used yet.
UNUSED_STATUSES = ("pending", "posted")
ENTRY_KIND_WORDS = {
    "earn": "Points earned",
    "redeem": "Points spent on a reward",
    "reversal": "Points taken back",
    "redemption_refund": "Points returned",
    "expiry": "Points expired",
    "adjustment": "Adjustment by the shop",
    "import": "Points brought over",
    "referral": "Referral reward",
}
MAX_PAGE = 50


@dataclass(frozen=True)
class TierInfo:
    name: str
    level: int
    min_points_required: int
    earn_multiplier: Decimal
    benefits: list[str]


@dataclass(frozen=True)
class RewardInfo:
    id: int
    name: str
    kind: str
    points_cost: int
    value: Decimal | None
    min_tier_level: int | None


@dataclass(frozen=True)
class ReferralOffer:
    friend_points: int
    advocate_points: int


@dataclass(frozen=True)
class Programme:
    points_name: str
    currency: str
    ways_to_earn: list[EarnWay]
    rewards: list[RewardInfo]
    tiers: list[TierInfo]
    referral: ReferralOffer | None


@dataclass(frozen=True)
class HistoryEntry:
    id: int
    points: int
    kind: str
    reason: str
    created_at: datetime


@dataclass(frozen=True)
class HistoryPage:
    entries: list[HistoryEntry]
    end_cursor: str | None
    has_next_page: bool


@dataclass(frozen=True)
class Expiring:
    points: int
    expires_at: datetime


@dataclass(frozen=True)
class ReferralView:
    code: str
    share_url: str
    clicks: int
    conversions: int
    friend_points: int
    advocate_points: int


class InvalidCursor(ValueError):
    """A history cursor this API did not hand out."""


def _benefits(raw: dict[str, Any]) -> list[str]:
    """Tier benefits as lines of text: a `list` under "items", or the values of the object."""
    items = raw.get("items") if isinstance(raw.get("items"), list) else list(raw.values())
    return [str(item) for item in items if isinstance(item, str | int | float) and str(item).strip()]


def programme(session: Session, *, shop: Shop) -> Programme:
    """The shop's public programme: what anyone, signed in or not, may see."""
    # Only rules that run: a version stored under looser bounds that cannot run now earns nothing (rulebook.store).
    running = {rule.version_id for rule in active_rules(session, shop)}
    active = current_versions(session, shop_id=shop.id, statuses=["active"])
    definitions = [version.definition for _, version in active if version.id in running]
    settings = settings_for(shop)
    return Programme(
        points_name=shop.points_name,
        currency=shop.currency,
        ways_to_earn=ways_to_earn(definitions, currency=shop.currency),
        rewards=programme_rewards(session, shop=shop),
        tiers=[
            TierInfo(
                t.name,
                t.level,
                int(Decimal(t.threshold).to_integral_value("ROUND_CEILING")),
                Decimal(t.earn_multiplier),
                _benefits(t.benefits),
            )
            for t in ladder(session, shop_id=shop.id)
        ],
        referral=ReferralOffer(settings.friend_points, settings.advocate_points) if settings.enabled else None,
    )


def programme_rewards(session: Session, *, shop: Shop) -> list[RewardInfo]:
    """The shop's active rewards, cheapest first."""
    rewards = session.execute(
        select(RewardDefinition)
        .where(RewardDefinition.shop_id == shop.id, RewardDefinition.active.is_(True))
        .order_by(RewardDefinition.points_cost, RewardDefinition.id)
    ).scalars()
    return [RewardInfo(r.id, r.name, r.kind, r.points_cost, r.value, r.min_tier_level) for r in rewards]


def encode_cursor(entry_id: int) -> str:
    return base64.urlsafe_b64encode(f"entry:{entry_id}".encode()).decode()


def decode_cursor(cursor: str) -> int:
    """The entry id in a cursor encode_cursor made: ASCII digits naming a bigint (an id beyond one was an error in
    the query, which aborted the request's transaction and every write the other fields of the request had made)."""
    try:
        kind, _, raw = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        kind, raw = "", ""
    if kind != "entry" or not is_ascii_digits(raw) or not 1 <= int(raw) <= MAX_BIGINT:
        raise InvalidCursor(f"after: {cursor[:40]!r} is not a cursor from this API")
    return int(raw)


def history(session: Session, *, shop: Shop, customer_id: str, first: int, after: str | None) -> HistoryPage:
    """The shopper's ledger entries, newest first, `first` (1-50) at a time after the cursor `after`."""
    if not 1 <= first <= MAX_PAGE:
        raise ValueError(f"first must be between 1 and {MAX_PAGE}, got {first}")
    profile = find_profile(session, shop_id=shop.id, customer_id=customer_id)
    if profile is None:
        return HistoryPage(entries=[], end_cursor=None, has_next_page=False)
    query = (
        select(PointsTransaction)
        .where(PointsTransaction.shop_id == shop.id, PointsTransaction.profile_id == profile.id)
        .order_by(PointsTransaction.id.desc())
        .limit(first + 1)
    )
    if after is not None:
        query = query.where(PointsTransaction.id < decode_cursor(after))
    rows = list(session.execute(query).scalars())
    entries = [
        HistoryEntry(
            row.id, row.points, row.kind, row.reason or ENTRY_KIND_WORDS.get(row.kind, row.kind), row.created_at
        )
        for row in rows[:first]
    ]
    return HistoryPage(
        entries=entries,
        end_cursor=encode_cursor(entries[-1].id) if entries else None,
        has_next_page=len(rows) > first,
    )


def expiring_next(session: Session, *, shop: Shop, profile_id: int | None, now: datetime) -> Expiring | None:
    """The points that expire soonest (all lots sharing that earliest date), or None when nothing is due to expire."""
    if profile_id is None:
        return None
    live = (
        PointsLot.shop_id == shop.id,
        PointsLot.profile_id == profile_id,
        PointsLot.remaining > 0,
        PointsLot.expires_at.is_not(None),
        PointsLot.expires_at > now,
    )
    soonest = session.execute(select(func.min(PointsLot.expires_at)).where(*live)).scalar_one()
    if soonest is None:
        return None
    points = session.execute(
        select(func.sum(PointsLot.remaining)).where(*live, PointsLot.expires_at == soonest)
    ).scalar_one()
    return Expiring(points=int(points), expires_at=soonest)


def unused_redemptions(session: Session, *, shop: Shop, profile_id: int | None) -> list[RedemptionView]:
    """The shopper's redemptions not used yet, newest first; each code shown only once it works in Shopify."""
    if profile_id is None:
        return []
    rows = session.execute(
        select(RedemptionLog, RewardDefinition.name)
        .join(RewardDefinition, RewardDefinition.id == RedemptionLog.reward_id)
        .where(
            RedemptionLog.shop_id == shop.id,
            RedemptionLog.profile_id == profile_id,
            RedemptionLog.status.in_(UNUSED_STATUSES),
        )
        .order_by(RedemptionLog.id.desc())
    ).all()
    return [redemption_view(row, name) for row, name in rows]


def referral(
    session: Session, *, shop: Shop, profile_id: int | None, proxy_prefix: str, now: datetime
) -> ReferralView | None:
    """The shopper's referral link (created on first ask), where to share it, its clicks and rewarded conversions.

    None when the programme is off or the shopper has no profile yet (nothing bought, nothing earned).
    """
    settings = settings_for(shop)
    if not settings.enabled or profile_id is None:
        return None
    clicks = select(func.count()).where(ReferralClick.shop_id == shop.id, ReferralClick.link_id == ReferralLink.id)
    conversions = select(func.count()).where(
        ReferralConversion.shop_id == shop.id,
        ReferralConversion.link_id == ReferralLink.id,
        ReferralConversion.status == "rewarded",
    )
    found = session.execute(
        select(ReferralLink.code, clicks.scalar_subquery(), conversions.scalar_subquery()).where(
            ReferralLink.shop_id == shop.id, ReferralLink.profile_id == profile_id
        )
    ).first()
    if found is None:  # the first ask creates the link (a read that writes once)
        profile = session.get(CustomerLoyaltyProfile, profile_id)
        assert profile is not None and profile.shop_id == shop.id
        found = (link_for(session, shop=shop, profile=profile, now=now).code, 0, 0)
    code, click_count, conversion_count = found
    return ReferralView(
        code=code,
        share_url=f"https://{shop.domain}{proxy_prefix}/r/{code}",
        clicks=click_count,
        conversions=conversion_count,
        friend_points=settings.friend_points,
        advocate_points=settings.advocate_points,
    )
