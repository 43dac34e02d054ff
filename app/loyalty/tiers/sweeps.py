"""Tier sweeps over every member of a shop: period roll-over (downgrades) and ladder recalculation (the rules are in
`tiers.membership`'s docstring). Each locks profile rows in id order, the one lock order of the codebase,
and can run in chunks (`after_profile_id`, `limit`) so a task commits as it goes; re-running is harmless.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.loyalty.tiers.membership import (
    SweepResult,
    TierChange,
    apply_tiers,
    effective_tier,
    held_override,
    ladder,
    qualified_tier,
    tier_level,
    tier_of,
)
from app.loyalty.tiers.overrides import drop_override, place_member
from app.loyalty.tiers.periods import current_window, measure, period_end, previous_window
from app.models import CustomerLoyaltyProfile, Shop, TierDefinition


def _locked_profiles(
    session: Session, *, shop_id: int, condition: object, after_profile_id: int, limit: int | None
) -> list[CustomerLoyaltyProfile]:
    query = (
        select(CustomerLoyaltyProfile)
        .where(CustomerLoyaltyProfile.shop_id == shop_id, CustomerLoyaltyProfile.id > after_profile_id, condition)
        .order_by(CustomerLoyaltyProfile.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if limit is not None:
        query = query.limit(limit)
    return list(session.execute(query).scalars())


def _scope(
    session: Session, shop_id: int, after_profile_id: int, limit: int | None, condition: Any
) -> tuple[Shop, list[TierDefinition], list[CustomerLoyaltyProfile]] | None:
    """The shop, its ladder and the next chunk of matching members, locked; None if the shop is gone."""
    shop = session.get(Shop, shop_id)
    if shop is None:
        return None
    profiles = _locked_profiles(
        session, shop_id=shop_id, after_profile_id=after_profile_id, limit=limit, condition=condition
    )
    return shop, ladder(session, shop_id=shop_id), profiles


def roll_period(
    session: Session, *, shop_id: int, now: datetime, after_profile_id: int = 0, limit: int | None = None
) -> SweepResult:
    """Review every member whose earned tier's period ended by `now` (kept if its retention threshold was met in the
    completed period, else downgraded) and drop every override whose day has passed; each member is then on the
    higher of their earned tier and an override still held. Idempotent: a reviewed member's next review is after
    `now`, and a dropped override is gone.

    A sweep that ran late reviews each missed period in turn. `after_profile_id`/`limit` let a task work in chunks.
    """
    due = or_(CustomerLoyaltyProfile.tier_review_at <= now, CustomerLoyaltyProfile.manual_tier_until <= now)
    scope = _scope(session, shop_id, after_profile_id, limit, due)
    if scope is None:
        return SweepResult(examined=0, changes=[], last_profile_id=None)
    shop, tiers, profiles = scope
    changes: list[TierChange] = []
    for profile in profiles:
        ended = profile.manual_tier_until is not None and profile.manual_tier_until <= now
        if ended:
            drop_override(session, profile)
        change = place_member(
            session,
            shop=shop,
            profile=profile,
            tiers=tiers,
            reason="manual_tier_expired" if ended else "period_ended: retention threshold not met",
            now=now,
            entry=ended,  # a review alone never upgrades; the end of an override places the member as setting it did
        )
        if change is not None:
            changes.append(change)
    session.flush()
    return SweepResult(examined=len(profiles), changes=changes, last_profile_id=profiles[-1].id if profiles else None)


def recalculate_all(
    session: Session, *, shop_id: int, now: datetime, after_profile_id: int = 0, limit: int | None = None
) -> SweepResult:
    """Place every member where the shop's current ladder puts them (after a ladder or period change). Idempotent:
    a second run finds every member already placed and changes nothing."""
    scope = _scope(session, shop_id, after_profile_id, limit, CustomerLoyaltyProfile.redacted_at.is_(None))
    if scope is None:
        return SweepResult(examined=0, changes=[], last_profile_id=None)
    shop, tiers, profiles = scope
    start = current_window(shop, now)
    previous = previous_window(shop, now)
    changes: list[TierChange] = []
    for profile in profiles:
        current = tier_of(tiers, profile.current_tier_id)
        earned = tier_of(tiers, profile.earned_tier_id)
        value = measure(session, shop=shop, profile_id=profile.id, start=start)
        best = value
        if previous is not None:
            best = max(best, measure(session, shop=shop, profile_id=profile.id, start=previous[0], end=previous[1]))
        entry = qualified_tier(tiers, value)
        # A member keeps what they retain, never above their earned tier; one whose earned tier was removed (reached
        # before, no tier now) keeps what they retain on the new ladder; one who never earned a tier only enters.
        kept = None
        if earned is not None or profile.tier_achieved_at is not None:
            kept = qualified_tier(tiers, best, retention=True, max_level=earned.level if earned is not None else None)
        target = entry if tier_level(entry) >= tier_level(kept) else kept
        if target is earned:  # kept: its dates stand (one placed before the shop had periods gets a review)
            reached_at, review_at = profile.tier_achieved_at, None
            if target is not None and shop.tier_period != "lifetime":
                review_at = profile.tier_review_at or period_end(shop, now)
        elif target is None:
            reached_at, review_at = None, None
        else:  # reached now; a member moved down keeps the review date still ahead of them
            reached_at, review_at = now, period_end(shop, now)
            held_review = profile.tier_review_at
            if tier_level(target) < tier_level(earned) and held_review is not None and held_review > now:
                review_at = held_review
        manual = held_override(profile, tiers, now)  # never below a tier set by hand while it holds
        applies = effective_tier(target, manual)
        if (
            _id(target) == profile.earned_tier_id
            and _id(applies) == profile.current_tier_id
            and (reached_at, review_at) == (profile.tier_achieved_at, profile.tier_review_at)
        ):
            continue
        upgrade = tier_level(applies) > tier_level(current)
        change = apply_tiers(
            session,
            shop=shop,
            profile_id=profile.id,
            customer_id=profile.customer_id,
            previous=current,
            earned=target,
            reached_at=reached_at,
            review_at=review_at,
            manual=manual,
            reason="ladder_changed",
            value=best if not upgrade else value,
            now=now,
        )
        if change is not None:
            changes.append(change)
    session.flush()
    return SweepResult(examined=len(profiles), changes=changes, last_profile_id=profiles[-1].id if profiles else None)


def _id(tier: TierDefinition | None) -> int | None:
    return tier.id if tier is not None else None
