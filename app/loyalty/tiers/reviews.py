"""The review of a member's earned tier when its period ends (the rule is in `tiers.membership`'s docstring): kept if
the completed period's measure meets its retention threshold, else down to the highest tier still kept or qualified
for in the period under way. The period sweep reviews each member due; setting, clearing and the end of an override
review first too, so the member is placed on an earned tier that is still valid at that moment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from app.loyalty.tiers.membership import qualified_tier, tier_level, tier_of
from app.loyalty.tiers.periods import add_months, current_window, measure, shop_zone
from app.models import CustomerLoyaltyProfile, Shop, TierDefinition


@dataclass(frozen=True)
class EarnedTier:
    """A member's earned tier, when it was reached and when it is next reviewed (what apply_tiers stores)."""

    tier: TierDefinition | None
    reached_at: datetime | None
    review_at: datetime | None
    # The last completed period's measure when a review ran; None when none did.
    measure: Decimal | None


def review_earned_tier(
    session: Session, *, shop: Shop, profile: CustomerLoyaltyProfile, tiers: list[TierDefinition], now: datetime
) -> EarnedTier:
    """The member's earned tier at `now`: as stored until its review date, then reviewed period by period (a sweep
    that ran late reviews each missed period in turn). A tier set by hand plays no part."""
    earned = tier_of(tiers, profile.earned_tier_id)
    reached_at, review_at = profile.tier_achieved_at, profile.tier_review_at
    if review_at is None or review_at > now:
        return EarnedTier(earned, reached_at, review_at, None)
    if earned is None or shop.tier_period == "lifetime":
        # No tier to review (reached_at stays: recalculation places a member whose tier was removed from what they
        # retain), or one that never ends.
        return EarnedTier(earned, reached_at, None, None)
    zone = shop_zone(shop)
    kept: TierDefinition | None = earned
    value = Decimal(0)
    while review_at <= now:
        if kept is not None:
            value = measure(
                session, shop=shop, profile_id=profile.id, start=add_months(review_at, -12, zone), end=review_at
            )
            kept = qualified_tier(tiers, value, retention=True, max_level=kept.level)
        review_at = add_months(review_at, 12, zone)
    if kept is earned:
        return EarnedTier(earned, reached_at, review_at, value)
    # Never below what the member qualifies for in the period under way.
    now_value = measure(session, shop=shop, profile_id=profile.id, start=current_window(shop, now))
    qualified_now = qualified_tier(tiers, now_value, max_level=earned.level)
    if tier_level(qualified_now) > tier_level(kept):
        kept = qualified_now
    if kept is None:
        return EarnedTier(None, None, None, value)
    return EarnedTier(kept, reached_at if kept is earned else now, review_at, value)
