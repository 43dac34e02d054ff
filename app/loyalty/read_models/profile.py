"""What shoppers and the storefront read: one customer's profile as the GraphQL API presents it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from app.loyalty import tiers
from app.loyalty.ledger.profiles import find_profile
from app.models import CustomerLoyaltyProfile, Shop


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
    )
