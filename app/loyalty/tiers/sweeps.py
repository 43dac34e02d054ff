"""Tier sweeps over every member of a shop: period roll-over (downgrades) and ladder recalculation (the rules are in
`tiers.membership`'s docstring). Each locks profile rows in id order, the one lock order of the codebase,
and can run in chunks (`after_profile_id`, `limit`) so a task commits as it goes; re-running is harmless.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from app.loyalty.tiers.membership import SweepResult, TierChange, apply_tier_change, ladder, qualified_tier, tier_level
from app.loyalty.tiers.overrides import drop_expired_override, held_override
from app.loyalty.tiers.periods import add_months, current_window, measure, period_end, previous_window, shop_zone
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
    """Review every member whose period ended by `now`: keep the tier if its retention threshold was met in the
    completed period, else downgrade. Idempotent: a reviewed member's next review is after `now`.

    A sweep that ran late reviews each missed period in turn. `after_profile_id`/`limit` let a task work in chunks.
    """
    due = or_(CustomerLoyaltyProfile.tier_review_at <= now, CustomerLoyaltyProfile.manual_tier_until <= now)
    scope = _scope(session, shop_id, after_profile_id, limit, due)
    if scope is None:
        return SweepResult(examined=0, changes=[], last_profile_id=None)
    shop, tiers, profiles = scope
    changes: list[TierChange] = []
    for profile in profiles:
        dropped = drop_expired_override(session, shop=shop, profile=profile, tiers=tiers, now=now)
        if dropped is not None:
            changes.append(dropped)
        if profile.tier_review_at is None or profile.tier_review_at > now:
            continue
        current = next((tier for tier in tiers if tier.id == profile.current_tier_id), None)
        review_at = profile.tier_review_at
        if current is None or shop.tier_period == "lifetime":
            session.execute(
                update(CustomerLoyaltyProfile)
                .where(CustomerLoyaltyProfile.id == profile.id)
                .values(tier_review_at=None)
            )
            continue
        zone = shop_zone(shop)
        kept: TierDefinition | None = current
        value = Decimal(0)
        while review_at is not None and review_at <= now:
            if kept is not None:
                start = add_months(review_at, -12, zone)
                value = measure(session, shop=shop, profile_id=profile.id, start=start, end=review_at)
                kept = qualified_tier(tiers, value, retention=True, max_level=kept.level)
            review_at = add_months(review_at, 12, zone)
        target = kept
        if target is None or target.id != current.id:
            # Never below what the member qualifies for in the period under way.
            now_value = measure(session, shop=shop, profile_id=profile.id, start=current_window(shop, now))
            qualified_now = qualified_tier(tiers, now_value, max_level=current.level)
            if tier_level(qualified_now) > tier_level(target):
                target = qualified_now
            # Never below a tier set by hand while it holds.
            manual = held_override(profile, tiers, now)
            if tier_level(manual) > tier_level(target):
                target = manual
        if target is not None and target.id == current.id:
            session.execute(
                update(CustomerLoyaltyProfile)
                .where(CustomerLoyaltyProfile.id == profile.id)
                .values(tier_review_at=review_at)
            )
            continue
        changes.append(
            apply_tier_change(
                session,
                shop=shop,
                profile_id=profile.id,
                customer_id=profile.customer_id,
                previous=current,
                target=target,
                reason="period_ended: retention threshold not met",
                value=value,
                now=now,
                review_at=review_at,
            )
        )
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
        current = next((tier for tier in tiers if tier.id == profile.current_tier_id), None)
        value = measure(session, shop=shop, profile_id=profile.id, start=start)
        best = value
        if previous is not None:
            best = max(best, measure(session, shop=shop, profile_id=profile.id, start=previous[0], end=previous[1]))
        entry = qualified_tier(tiers, value)
        # A member keeps what they retain, never above their tier; one whose tier was removed (reached before, no
        # tier now) keeps what they retain on the new ladder; one who never had a tier only enters.
        kept = None
        if current is not None or profile.tier_achieved_at is not None:
            kept = qualified_tier(tiers, best, retention=True, max_level=current.level if current is not None else None)
        target = entry if tier_level(entry) >= tier_level(kept) else kept
        manual = held_override(profile, tiers, now)  # never below a tier set by hand while it holds
        if tier_level(manual) > tier_level(target):
            target = manual
        if (target.id if target else None) == profile.current_tier_id:
            wanted_review = None
            if target is not None and shop.tier_period != "lifetime":
                wanted_review = profile.tier_review_at or period_end(shop, now)
            if wanted_review != profile.tier_review_at:
                session.execute(
                    update(CustomerLoyaltyProfile)
                    .where(CustomerLoyaltyProfile.id == profile.id)
                    .values(tier_review_at=wanted_review)
                )
            continue
        upgrade = tier_level(target) > tier_level(current)
        review_at = period_end(shop, now)
        if not upgrade and profile.tier_review_at is not None and profile.tier_review_at > now:
            review_at = profile.tier_review_at
        changes.append(
            apply_tier_change(
                session,
                shop=shop,
                profile_id=profile.id,
                customer_id=profile.customer_id,
                previous=current,
                target=target,
                reason="ladder_changed",
                value=best if not upgrade else value,
                now=now,
                review_at=review_at,
            )
        )
    session.flush()
    return SweepResult(examined=len(profiles), changes=changes, last_profile_id=profiles[-1].id if profiles else None)
