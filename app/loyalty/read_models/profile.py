"""What shoppers and the storefront read: one customer's profile as the GraphQL API presents it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.loyalty import tiers
from app.loyalty.ledger.profiles import find_profile
from app.models import CustomerLoyaltyProfile, RedemptionLog, RewardDefinition, Shop

# A code is shown only once Shopify has it: before that the redemption reads `pending` with no code.
CODE_VISIBLE = frozenset({"posted", "used"})


@dataclass(frozen=True)
class ProfileView:
    customer_id: str
    points_balance: int
    points_pending: int
    lifetime_points: int
    current_tier: tiers.TierView | None
    next_tier: tiers.TierView | None
    tier_progress_percentage: float
    # What the next tier still needs, in the unit of the shop's tier basis (0 at the top of the ladder).
    points_to_next_tier: int
    # None for a customer with no activity yet.
    profile_id: int | None
    redemptions: tuple[RedemptionView, ...] = ()


@dataclass(frozen=True)
class RedemptionView:
    id: int
    reward_name: str
    status: str
    points_spent: int
    created_at: datetime
    expires_at: datetime | None
    code: str | None  # None until Shopify has created it (never a code that does not exist)


def redemption_view(redemption: RedemptionLog, reward_name: str) -> RedemptionView:
    return RedemptionView(
        id=redemption.id,
        reward_name=reward_name,
        status=redemption.status,
        points_spent=redemption.points_spent,
        created_at=redemption.created_at,
        expires_at=redemption.expires_at,
        code=redemption.code if redemption.status in CODE_VISIBLE else None,
    )


def recent_redemptions(
    session: Session, *, shop_id: int, profile_id: int, limit: int = 10
) -> tuple[RedemptionView, ...]:
    """The customer's latest redemptions, newest first, each with its code once Shopify has it."""
    rows = session.execute(
        select(RedemptionLog, RewardDefinition.name)
        .join(RewardDefinition, RewardDefinition.id == RedemptionLog.reward_id)
        .where(RedemptionLog.shop_id == shop_id, RedemptionLog.profile_id == profile_id)
        .order_by(RedemptionLog.created_at.desc(), RedemptionLog.id.desc())
        .limit(limit)
    ).all()
    return tuple(redemption_view(redemption, name) for redemption, name in rows)


def loyalty_profile(session: Session, *, shop: Shop, customer_id: str, now: datetime) -> ProfileView:
    """The customer's balances and tier standing in this shop; a customer with no activity yet reads as zero."""
    profile = find_profile(session, shop_id=shop.id, customer_id=customer_id) or CustomerLoyaltyProfile(
        shop_id=shop.id,
        customer_id=customer_id,
        points_balance=0,
        points_pending=0,
        lifetime_earned=0,
        orders_count=0,
        total_spent=0,
    )
    status = tiers.tier_status(session, shop=shop, profile=profile, now=now)
    return ProfileView(
        customer_id=customer_id,
        points_balance=profile.points_balance,
        points_pending=profile.points_pending,
        lifetime_points=profile.lifetime_earned,
        current_tier=status.current,
        next_tier=status.next,
        tier_progress_percentage=float(status.progress_percentage),
        points_to_next_tier=0
        if status.next is None
        else max(0, math.ceil(status.next.min_points_required - status.measure)),
        profile_id=profile.id,
        redemptions=recent_redemptions(session, shop_id=shop.id, profile_id=profile.id)
        if profile.id is not None
        else (),
    )
