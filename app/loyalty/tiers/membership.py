"""VIP tiers: a member's tier, upgrades the moment a threshold is met, downgrades only at the end of a period.

Rules (periods and measures are defined in `tiers.periods`):
- Upgrade (`evaluate_upgrade`, called after each event that changed the member's points, spend or orders): the
  highest tier whose entry `threshold` the current period's measure meets, if above the earned tier.
- Downgrade (`roll_period`, a periodic sweep, with `tiers.reviews`): when the period of the earned tier ends
  (`tier_review_at`), it is kept if the completed period's measure meets its `retention_threshold` (default: the
  entry threshold); otherwise the member falls to the highest tier they still keep or qualify for now, possibly
  several levels.
- Ladder change (`recalculate_all`): every member is put where the new ladder places them: upgraded to what they
  qualify for; kept at their earned tier (or the highest tier under it) that they retain on their best recent
  measure (the current window or, for calendar years, the last completed year); a member whose tier was removed is
  placed afresh.
- Set by hand (`tiers.overrides`): a tier the merchant sets until a day is a floor under these rules while it
  holds; the period roll drops it after its day.

The rules above move the member's earned tier (`earned_tier_id`, reached at `tier_achieved_at`, reviewed at
`tier_review_at`), which a tier set by hand never touches. The tier that applies (`current_tier_id`: the multiplier,
the storefront, the metafields, the rules' facts) is the higher of the earned tier and the manual tier while it holds
(`effective_tier`); `apply_tiers` writes both. Every change of the tier that applies, and only such a change, is a
`tier_changed` event (app_events: an inbox row of event_type `tier_changed` and an audit row) with its reason.

All functions run in the caller's transaction and never commit; sweeps lock each profile row in id order before
changing it, the same lock events take (ledger.lock_profile), so they cannot race an upgrade.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.loyalty.base.app_events import AppEvent, record_app_events
from app.loyalty.tiers.periods import current_window, measure, period_end
from app.models import CustomerLoyaltyProfile, Shop, TierDefinition


@dataclass(frozen=True)
class TierView:
    id: int
    name: str
    level: int
    earn_multiplier: Decimal
    # The entry threshold in the unit of the shop's tier basis, rounded up to a whole number.
    min_points_required: int


@dataclass(frozen=True)
class TierStatus:
    current: TierView | None
    next: TierView | None
    progress_percentage: float
    measure: Decimal


@dataclass(frozen=True)
class TierChange:
    profile_id: int
    customer_id: str
    previous: TierView | None
    current: TierView | None
    direction: str  # "upgrade" | "downgrade"
    reason: str
    measure: Decimal
    changed_at: datetime


@dataclass(frozen=True)
class SweepResult:
    examined: int
    changes: list[TierChange]
    last_profile_id: int | None


def view(tier: TierDefinition | None) -> TierView | None:
    if tier is None:
        return None
    return TierView(
        id=tier.id,
        name=tier.name,
        level=tier.level,
        earn_multiplier=Decimal(tier.earn_multiplier),
        min_points_required=math.ceil(Decimal(tier.threshold)),
    )


# The profile columns apply_tiers writes.
_TIER_COLUMNS = ["current_tier_id", "earned_tier_id", "tier_achieved_at", "tier_review_at"]

# Set by a caller that runs many events in one transaction (processing.process_batch): ladders read once per shop
# for that transaction, which changes no tier definitions.
LADDER_MEMO = "loyalty.tier_ladders"


def ladder(session: Session, *, shop_id: int) -> list[TierDefinition]:
    """The shop's tiers, lowest level first."""
    memo = session.info.get(LADDER_MEMO)
    if memo is not None and shop_id in memo:
        return memo[shop_id]
    tiers = list(
        session.execute(
            select(TierDefinition).where(TierDefinition.shop_id == shop_id).order_by(TierDefinition.level)
        ).scalars()
    )
    if memo is not None:
        memo[shop_id] = tiers
    return tiers


def qualified_tier(
    tiers: Sequence[TierDefinition], value: Decimal, *, retention: bool = False, max_level: int | None = None
) -> TierDefinition | None:
    """The highest tier (at most `max_level`) whose entry threshold, or retention threshold, `value` meets."""
    best = None
    for tier in tiers:
        if max_level is not None and tier.level > max_level:
            continue
        needed = tier.retention_threshold if retention and tier.retention_threshold is not None else tier.threshold
        if value >= Decimal(needed):
            best = tier
    return best


def tier_level(tier: TierDefinition | None) -> int:
    return tier.level if tier is not None else -(2**31)


def tier_by_id(session: Session, *, shop_id: int, tier_id: int) -> TierDefinition | None:
    """One tier of the shop: from the ladder a batch has read (LADDER_MEMO) when there is one, else by primary key
    (the session's identity map answers repeats); a tier removed from the ladder since is still found."""
    found = None
    if session.info.get(LADDER_MEMO) is not None:
        found = next((tier for tier in ladder(session, shop_id=shop_id) if tier.id == tier_id), None)
    return found or session.get(TierDefinition, tier_id)


def upgrade_target(
    tiers: Sequence[TierDefinition], current_tier_id: int | None, value: Decimal
) -> tuple[TierDefinition | None, TierDefinition] | None:
    """The upgrade a member whose earned tier is `current_tier_id` earns with the current period's measure `value`:
    (their tier on this ladder, the higher tier they qualify for), or None when they qualify for nothing higher
    (never a downgrade: that waits for the period end)."""
    current = next((tier for tier in tiers if tier.id == current_tier_id), None)
    target = qualified_tier(tiers, value)
    if target is None or tier_level(target) <= tier_level(current):
        return None
    return current, target


def held_override(profile: CustomerLoyaltyProfile, tiers: list[TierDefinition], now: datetime) -> TierDefinition | None:
    """The tier set by hand while its override holds at `now`; None without one or once it has ended."""
    if profile.manual_tier_id is None or profile.manual_tier_until is None or profile.manual_tier_until <= now:
        return None
    return next((tier for tier in tiers if tier.id == profile.manual_tier_id), None)


def upgrade_floor(profile: CustomerLoyaltyProfile, tiers: list[TierDefinition]) -> TierDefinition | None:
    """The tier set by hand as an upgrade sees it: until the sweep drops an override past its day (with its own
    manual_tier_expired event), it still holds, so an upgrade never moves the member down."""
    return tier_of(tiers, profile.manual_tier_id)


def effective_tier(earned: TierDefinition | None, manual: TierDefinition | None) -> TierDefinition | None:
    """The tier that applies: the higher of the earned tier and the tier set by hand while it holds."""
    return manual if tier_level(manual) > tier_level(earned) else earned


def tier_of(tiers: Sequence[TierDefinition], tier_id: int | None) -> TierDefinition | None:
    """The tier with this id on the ladder; None for None or a tier no longer on it."""
    return next((tier for tier in tiers if tier.id == tier_id), None)


def _current_tier(session: Session, profile_id: int, tiers: Sequence[TierDefinition]) -> TierDefinition | None:
    tier_id = session.execute(
        select(CustomerLoyaltyProfile.current_tier_id).where(CustomerLoyaltyProfile.id == profile_id)
    ).scalar_one()
    return next((tier for tier in tiers if tier.id == tier_id), None)


def earn_multiplier(session: Session, *, shop_id: int, profile: CustomerLoyaltyProfile) -> Decimal:
    """The multiplier the member's tier applies to every point-earning action (1 without a tier)."""
    if profile.current_tier_id is None:
        return Decimal(1)
    value = session.execute(
        select(TierDefinition.earn_multiplier).where(
            TierDefinition.id == profile.current_tier_id, TierDefinition.shop_id == shop_id
        )
    ).scalar_one_or_none()
    return Decimal(value) if value is not None else Decimal(1)


def tier_status(session: Session, *, shop: Shop, profile: CustomerLoyaltyProfile, now: datetime) -> TierStatus:
    """The member's stored tier, the next one up and how far the current period's measure is toward it (0-100)."""
    tiers = ladder(session, shop_id=shop.id)
    if profile.id is None:  # a customer with no profile yet (read models pass an unsaved one): nothing done
        current, value = None, Decimal(0)
    else:
        current = _current_tier(session, profile.id, tiers)
        value = measure(session, shop=shop, profile_id=profile.id, start=current_window(shop, now))
    upcoming = next((tier for tier in tiers if tier.level > tier_level(current)), None)
    if upcoming is None:
        progress = 100.0 if current is not None else 0.0
    elif Decimal(upcoming.threshold) <= 0:
        progress = 100.0
    else:
        progress = float(min(Decimal(100), value * 100 / Decimal(upcoming.threshold)).quantize(Decimal("0.01")))
    return TierStatus(current=view(current), next=view(upcoming), progress_percentage=progress, measure=value)


def tier_changed_event(
    *,
    shop: Shop,
    profile_id: int,
    customer_id: str,
    previous: TierDefinition | None,
    target: TierDefinition | None,
    reason: str,
    value: Decimal,
    now: datetime,
) -> tuple[TierChange, AppEvent]:
    """The change of a member from `previous` to `target`, and the tier_changed app event that records it."""
    change = TierChange(
        profile_id=profile_id,
        customer_id=customer_id,
        previous=view(previous),
        current=view(target),
        direction="upgrade" if tier_level(target) > tier_level(previous) else "downgrade",
        reason=reason,
        measure=value,
        changed_at=now,
    )
    event = AppEvent(
        shop_id=shop.id,
        event_type="tier_changed",
        key=f"tier_changed:{profile_id}:{now.isoformat()}:{previous.id if previous else None}:"
        f"{target.id if target else None}:{reason}",
        customer_id=customer_id,
        subject=("profile", str(profile_id)),
        data={
            "profile_id": profile_id,
            "customer_id": customer_id,
            "direction": change.direction,
            "reason": reason,
            "from_tier": None
            if previous is None
            else {"id": previous.id, "name": previous.name, "level": previous.level},
            "to_tier": None if target is None else {"id": target.id, "name": target.name, "level": target.level},
            "basis": shop.tier_basis,
            "period": shop.tier_period,
            "measure": str(value),
        },
        now=now,
    )
    return change, event


def apply_tiers(
    session: Session,
    *,
    shop: Shop,
    profile_id: int,
    customer_id: str,
    previous: TierDefinition | None,
    earned: TierDefinition | None,
    reached_at: datetime | None,
    review_at: datetime | None,
    manual: TierDefinition | None,
    reason: str,
    value: Decimal,
    now: datetime,
) -> TierChange | None:
    """Store the member's earned tier (reached at `reached_at`, next reviewed at `review_at`) and the tier that
    applies, the higher of it and `manual`; record the tier_changed event and return the change only when the tier
    that applies moves from `previous`, so a change of the earned tier under a higher override is silent."""
    target = effective_tier(earned, manual)
    session.execute(
        update(CustomerLoyaltyProfile)
        .where(CustomerLoyaltyProfile.id == profile_id, CustomerLoyaltyProfile.shop_id == shop.id)
        .values(
            current_tier_id=target.id if target is not None else None,
            earned_tier_id=earned.id if earned is not None else None,
            # Kept without an earned tier when its tier left the ladder: recalculate_all places them on what they
            # retain (the caller passes None when they lose their tier).
            tier_achieved_at=reached_at,
            tier_review_at=review_at if earned is not None else None,
            updated_at=now,
        )
    )
    for obj in session.identity_map.values():
        if isinstance(obj, CustomerLoyaltyProfile) and obj.id == profile_id:
            session.expire(obj, [*_TIER_COLUMNS, "updated_at"])
    if (target.id if target else None) == (previous.id if previous else None):
        return None
    change, event = tier_changed_event(
        shop=shop,
        profile_id=profile_id,
        customer_id=customer_id,
        previous=previous,
        target=target,
        reason=reason,
        value=value,
        now=now,
    )
    record_app_events(session, [event])
    return change


def evaluate_upgrade(
    session: Session, *, shop: Shop, profile: CustomerLoyaltyProfile, now: datetime, reason: str
) -> TierChange | None:
    """Upgrade the member's earned tier at once if the current period's measure meets a higher tier's threshold;
    never downgrade. The change shows (and is an event) unless a higher tier set by hand holds.

    The caller holds the profile lock (ledger.lock_profile) and has already written the event's effects.
    """
    tiers = ladder(session, shop_id=shop.id)
    if not tiers:
        return None
    value = measure(session, shop=shop, profile_id=profile.id, start=current_window(shop, now))
    # The caller's lock keeps the profile row as loaded (apply_tiers expires what it changes).
    upgrade = upgrade_target(tiers, profile.earned_tier_id, value)
    if upgrade is None:
        return None
    _earned, target = upgrade
    return apply_tiers(
        session,
        shop=shop,
        profile_id=profile.id,
        customer_id=profile.customer_id,
        previous=tier_of(tiers, profile.current_tier_id),
        earned=target,
        reached_at=now,
        review_at=period_end(shop, now),
        manual=upgrade_floor(profile, tiers),
        reason=reason,
        value=value,
        now=now,
    )


__all__ = [
    "SweepResult",
    "TierChange",
    "TierStatus",
    "TierView",
    "apply_tiers",
    "earn_multiplier",
    "effective_tier",
    "evaluate_upgrade",
    "held_override",
    "ladder",
    "tier_status",
    "upgrade_floor",
    "upgrade_target",
]
