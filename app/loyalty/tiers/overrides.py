"""A tier set by hand by the merchant, until a date.

The override is a floor, not a cap: while it holds, the member's tier is the higher of the tier they earn and the
tier set by hand. Upgrades by earning (`evaluate_upgrade`) still raise the member above it; the period roll and the
ladder recalculation never put them below it (`held_override`). The override holds through the `until` day on the
shop's wall clock; the first period sweep (`roll_period`) after that drops it (`drop_expired_override`) and puts the
member on the tier they earn: in the period under way, or, in a calendar-year shop, the tier last year's measure
reached, which the member keeps through this year as they would have without the override. Every tier change this
causes is a `tier_changed` event.

All functions run in the caller's transaction, never commit, and expect the caller to hold the profile lock
(ledger.lock_existing_profile, or the sweep's lock).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.loyalty.base.errors import InvalidInput
from app.loyalty.tiers.membership import TierChange, apply_tier_change, ladder, qualified_tier, tier_level
from app.loyalty.tiers.periods import current_window, measure, period_end, previous_window, shop_zone
from app.models import CustomerLoyaltyProfile, Shop, TierDefinition

_OVERRIDE_COLUMNS = ["manual_tier_id", "manual_tier_until", "manual_tier_set_by"]
# The last day an override may hold through: "for good" to any merchant, and a day that has a next one to end on
# (9999-12-31 has none).
LAST_UNTIL = date(2999, 12, 31)


def held_override(profile: CustomerLoyaltyProfile, tiers: list[TierDefinition], now: datetime) -> TierDefinition | None:
    """The tier set by hand while its override holds at `now`; None without one or once it has ended."""
    if profile.manual_tier_id is None or profile.manual_tier_until is None or profile.manual_tier_until <= now:
        return None
    return next((tier for tier in tiers if tier.id == profile.manual_tier_id), None)


def override_end(shop: Shop, until: date) -> datetime:
    """The moment an override that holds through `until` (the shop's wall clock) ends: the next local midnight."""
    zone = shop_zone(shop)
    return datetime.combine(until + timedelta(days=1), time(0), tzinfo=zone)


def override_last_day(shop: Shop, ends: datetime) -> date:
    """The last day an override ending at `ends` holds, on the shop's wall clock (the inverse of override_end)."""
    return (ends.astimezone(shop_zone(shop)) - timedelta(days=1)).date()


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
    Replacing an override places the member afresh: the higher of the new manual tier and what they earn now.
    """
    tiers = ladder(session, shop_id=shop.id)
    manual = next((tier for tier in tiers if tier.id == tier_id), None)
    if manual is None:
        raise InvalidInput(f"tier: no tier {tier_id} on this shop's ladder")
    if until < now.astimezone(shop_zone(shop)).date():
        raise InvalidInput(f"until: {until.isoformat()} is in the past; choose today or a later day")
    if until > LAST_UNTIL:
        raise InvalidInput(f"until: {until.isoformat()} is too far ahead; choose a day up to {LAST_UNTIL.isoformat()}")
    current = next((tier for tier in tiers if tier.id == profile.current_tier_id), None)
    # Without an earlier override the current tier is earned; with one it may be that override's doing.
    base = current if profile.manual_tier_id is None else _earned_tier(session, shop, profile, tiers, now)
    _write_override(session, profile, manual_tier_id=manual.id, until=override_end(shop, until), staff=staff)
    target = manual if tier_level(manual) > tier_level(base) else base
    return _move(session, shop, profile, current, target, f"set_by_hand by {staff}", now)


def clear_tier_override(
    session: Session, *, shop: Shop, profile: CustomerLoyaltyProfile, staff: str, now: datetime
) -> TierChange | None:
    """End the override now: the member goes back to the tier they earn. No override: nothing happens."""
    if profile.manual_tier_id is None and profile.manual_tier_until is None:
        return None
    return _drop(session, shop, profile, ladder(session, shop_id=shop.id), f"manual_tier_cleared by {staff}", now)


def drop_expired_override(
    session: Session, *, shop: Shop, profile: CustomerLoyaltyProfile, tiers: list[TierDefinition], now: datetime
) -> TierChange | None:
    """The sweep's part: an override whose day has passed is dropped and the earned tier applies again."""
    if profile.manual_tier_until is None or profile.manual_tier_until > now:
        return None
    return _drop(session, shop, profile, tiers, "manual_tier_expired", now)


def _drop(
    session: Session,
    shop: Shop,
    profile: CustomerLoyaltyProfile,
    tiers: list[TierDefinition],
    reason: str,
    now: datetime,
) -> TierChange | None:
    current = next((tier for tier in tiers if tier.id == profile.current_tier_id), None)
    earned = _earned_tier(session, shop, profile, tiers, now)
    _write_override(session, profile, manual_tier_id=None, until=None, staff=None)
    return _move(session, shop, profile, current, earned, reason, now)


def _earned_tier(
    session: Session, shop: Shop, profile: CustomerLoyaltyProfile, tiers: list[TierDefinition], now: datetime
) -> TierDefinition | None:
    """The tier the member holds by their own doing: what they qualify for in the period under way, as an upgrade
    would place them, or, in a calendar-year shop, what they reached in the last completed year if higher. A tier
    reached in a year is kept through the next one (the period roll keeps it: the entry threshold met covers the
    retention threshold), so an override that ends in January must not take away the tier last year earned."""
    earned = qualified_tier(tiers, measure(session, shop=shop, profile_id=profile.id, start=current_window(shop, now)))
    last_year = previous_window(shop, now)
    if last_year is not None:
        start, end = last_year
        kept = qualified_tier(tiers, measure(session, shop=shop, profile_id=profile.id, start=start, end=end))
        if tier_level(kept) > tier_level(earned):
            return kept
    return earned


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


def _move(
    session: Session,
    shop: Shop,
    profile: CustomerLoyaltyProfile,
    current: TierDefinition | None,
    target: TierDefinition | None,
    reason: str,
    now: datetime,
) -> TierChange | None:
    if (target.id if target else None) == (current.id if current else None):
        return None
    return apply_tier_change(
        session,
        shop=shop,
        profile_id=profile.id,
        customer_id=profile.customer_id,
        previous=current,
        target=target,
        reason=reason,
        value=measure(session, shop=shop, profile_id=profile.id, start=current_window(shop, now)),
        now=now,
        review_at=period_end(shop, now),
    )
