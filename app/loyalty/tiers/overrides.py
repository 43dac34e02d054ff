"""A tier set by hand by the merchant, until a date.

The override is a floor, not a cap: while it holds, the tier that applies is the higher of the member's earned tier
and the tier set by hand (`membership.effective_tier`). It never touches the earned tier: upgrades by earning
(`evaluate_upgrade`) still move it, and may raise the member above the override, and the period sweep still reviews
it on its own date. The override holds through the `until` day on the shop's wall clock; the first period sweep
(`roll_period`) after that drops it, and the member is on their earned tier again (or higher, if the period under
way qualifies them for more, as an upgrade would), with the review date it was reached with: a rolling-window
member who reached Gold keeps it until Gold's review, whatever the last 12 months give on the day the override ends,
and a calendar-year one keeps the tier last year earned through this year. Setting, replacing and clearing an
override place the member the same way (`place_member`). A `tier_changed` event is recorded only when the tier that
applies moves.

All functions run in the caller's transaction, never commit, and expect the caller to hold the profile lock
(ledger.lock_existing_profile, or the sweep's lock).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.loyalty.base.errors import InvalidInput
from app.loyalty.tiers.membership import TierChange, apply_tiers, held_override, ladder, tier_of, upgrade_target
from app.loyalty.tiers.periods import current_window, measure, period_end, shop_zone
from app.loyalty.tiers.reviews import review_earned_tier
from app.models import CustomerLoyaltyProfile, Shop, TierDefinition

_OVERRIDE_COLUMNS = ["manual_tier_id", "manual_tier_until", "manual_tier_set_by"]
# The last day an override may hold through: "for good" to any merchant, and a day that has a next one to end on
# (9999-12-31 has none).
LAST_UNTIL = date(2999, 12, 31)

__all__ = [
    "LAST_UNTIL",
    "clear_tier_override",
    "drop_override",
    "held_override",
    "override_last_day",
    "place_member",
    "review_day",
]


def override_end(shop: Shop, until: date) -> datetime:
    """The moment an override that holds through `until` (the shop's wall clock) ends: the next local midnight."""
    zone = shop_zone(shop)
    return datetime.combine(until + timedelta(days=1), time(0), tzinfo=zone)


def override_last_day(shop: Shop, ends: datetime) -> date:
    """The last day an override ending at `ends` holds, on the shop's wall clock (the inverse of override_end)."""
    return (ends.astimezone(shop_zone(shop)) - timedelta(days=1)).date()


def review_day(shop: Shop, review_at: datetime) -> date:
    """The day, on the shop's wall clock, an earned tier reviewed at `review_at` is reviewed on."""
    return review_at.astimezone(shop_zone(shop)).date()


def set_tier_by_hand(
    session: Session,
    *,
    shop: Shop,
    profile: CustomerLoyaltyProfile,
    tier_id: int,
    until: date,
    staff: str,
    now: datetime,
) -> TierChange | None:
    """Give the member `tier_id` through the `until` day; they move up to it at once if they earn less.

    Refused (InvalidInput): a tier not on this shop's ladder, an `until` day already over in the shop's time zone or
    after LAST_UNTIL.
    Replacing an override places the member afresh: the higher of the new manual tier and their earned tier.
    """
    tiers = ladder(session, shop_id=shop.id)
    manual = next((tier for tier in tiers if tier.id == tier_id), None)
    if manual is None:
        raise InvalidInput(f"tier: no tier {tier_id} on this shop's ladder")
    if until < now.astimezone(shop_zone(shop)).date():
        raise InvalidInput(f"until: {until.isoformat()} is in the past; choose today or a later day")
    if until > LAST_UNTIL:
        raise InvalidInput(f"until: {until.isoformat()} is too far ahead; choose a day up to {LAST_UNTIL.isoformat()}")
    _write_override(session, profile, manual_tier_id=manual.id, until=override_end(shop, until), staff=staff)
    return place_member(session, shop=shop, profile=profile, tiers=tiers, reason=f"set_by_hand by {staff}", now=now)


def clear_tier_override(
    session: Session, *, shop: Shop, profile: CustomerLoyaltyProfile, staff: str, now: datetime
) -> TierChange | None:
    """End the override now: the member goes back to the tier they earn. No override: nothing happens."""
    if profile.manual_tier_id is None and profile.manual_tier_until is None:
        return None
    drop_override(session, profile)
    tiers = ladder(session, shop_id=shop.id)
    return place_member(
        session, shop=shop, profile=profile, tiers=tiers, reason=f"manual_tier_cleared by {staff}", now=now
    )


def drop_override(session: Session, profile: CustomerLoyaltyProfile) -> None:
    """Remove the member's override, leaving their tiers as they are: the caller places them (`place_member`)."""
    _write_override(session, profile, manual_tier_id=None, until=None, staff=None)


def place_member(
    session: Session,
    *,
    shop: Shop,
    profile: CustomerLoyaltyProfile,
    tiers: list[TierDefinition],
    reason: str,
    now: datetime,
    entry: bool = True,
) -> TierChange | None:
    """Put the member on the higher of their earned tier and the override they hold now, if any; a tier_changed
    event with `reason` only if that moves the tier that applies.

    The earned tier is first reviewed if its review date has passed and then, with `entry`, raised to what the
    period under way qualifies for if that is higher, as an upgrade would raise it (a member no event has placed yet
    goes to a free entry tier, say). The event's measure is the reviewed period's when a review ran, else the period
    under way's.
    """
    review = review_earned_tier(session, shop=shop, profile=profile, tiers=tiers, now=now)
    earned, reached_at, review_at, value = review.tier, review.reached_at, review.review_at, review.measure
    if entry or value is None:
        now_value = measure(session, shop=shop, profile_id=profile.id, start=current_window(shop, now))
        value = now_value if value is None else value
        upgrade = upgrade_target(tiers, earned.id if earned is not None else None, now_value) if entry else None
        if upgrade is not None:
            earned, reached_at, review_at = upgrade[1], now, period_end(shop, now)
    return apply_tiers(
        session,
        shop=shop,
        profile_id=profile.id,
        customer_id=profile.customer_id,
        previous=tier_of(tiers, profile.current_tier_id),
        earned=earned,
        reached_at=reached_at,
        review_at=review_at,
        manual=held_override(profile, tiers, now),
        reason=reason,
        value=value,
        now=now,
    )


def _write_override(
    session: Session,
    profile: CustomerLoyaltyProfile,
    *,
    manual_tier_id: int | None,
    until: datetime | None,
    staff: str | None,
) -> None:
    session.execute(
        update(CustomerLoyaltyProfile)
        .where(CustomerLoyaltyProfile.id == profile.id, CustomerLoyaltyProfile.shop_id == profile.shop_id)
        .values(manual_tier_id=manual_tier_id, manual_tier_until=until, manual_tier_set_by=staff)
    )
    session.expire(profile, _OVERRIDE_COLUMNS)
