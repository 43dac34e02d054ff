"""VIP tiers: a member's tier, upgrades the moment a threshold is met, downgrades only at the end of a period.

Rules (periods and measures are defined in `tiers.periods`):
- Upgrade (`evaluate_upgrade`, called after each event that changed the member's points, spend or orders): the
  highest tier whose entry `threshold` the current period's measure meets, if above the current tier.
- Downgrade (`roll_period`, a periodic sweep): when a member's period ends (`tier_review_at`), the tier is kept if
  the completed period's measure meets its `retention_threshold` (default: the entry threshold); otherwise the member
  falls to the highest tier they still keep or qualify for now, possibly several levels.
- Ladder change (`recalculate_all`): every member is put where the new ladder places them: upgraded to what they
  qualify for; kept at their tier (or the highest tier under it) that they retain on their best recent measure (the
  current window or, for calendar years, the last completed year); a member whose tier was removed is placed afresh.
- Set by hand (`tiers.overrides`): a tier the merchant sets until a day is a floor under these rules while it
  holds (the higher of the earned and the manual tier applies); the period roll drops it after its day.

Every change is a `tier_changed` event (app_events: an inbox row of event_type `tier_changed` and an audit row) with
its reason. All functions run in the caller's transaction and never commit; sweeps lock each profile row in id
order before changing it, the same lock events take (ledger.lock_profile), so they cannot race an upgrade.
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
    """The upgrade a member of tier `current_tier_id` earns with the current period's measure `value`: (their tier
    on this ladder, the higher tier they qualify for), or None when they qualify for nothing higher (never a
    downgrade: that waits for the period end)."""
    current = next((tier for tier in tiers if tier.id == current_tier_id), None)
    target = qualified_tier(tiers, value)
    if target is None or tier_level(target) <= tier_level(current):
        return None
    return current, target


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


def apply_tier_change(
    session: Session,
    *,
    shop: Shop,
    profile_id: int,
    customer_id: str,
    previous: TierDefinition | None,
    target: TierDefinition | None,
    reason: str,
    value: Decimal,
    now: datetime,
    review_at: datetime | None,
) -> TierChange:
    """Move the member to `target`, then record the tier_changed event."""
    session.execute(
        update(CustomerLoyaltyProfile)
        .where(CustomerLoyaltyProfile.id == profile_id, CustomerLoyaltyProfile.shop_id == shop.id)
        .values(
            current_tier_id=target.id if target is not None else None,
            tier_achieved_at=now if target is not None else None,
            tier_review_at=review_at if target is not None else None,
            updated_at=now,
        )
    )
    for obj in session.identity_map.values():
        if isinstance(obj, CustomerLoyaltyProfile) and obj.id == profile_id:
            session.expire(obj, ["current_tier_id", "tier_achieved_at", "tier_review_at", "updated_at"])
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
    """Upgrade the member at once if the current period's measure meets a higher tier's threshold; never downgrade.

    The caller holds the profile lock (ledger.lock_profile) and has already written the event's effects.
    """
    tiers = ladder(session, shop_id=shop.id)
    if not tiers:
        return None
    value = measure(session, shop=shop, profile_id=profile.id, start=current_window(shop, now))
    # The caller's lock keeps the profile row as loaded (apply_tier_change expires what it changes).
    upgrade = upgrade_target(tiers, profile.current_tier_id, value)
    if upgrade is None:
        return None
    current, target = upgrade
    return apply_tier_change(
        session,
        shop=shop,
        profile_id=profile.id,
        customer_id=profile.customer_id,
        previous=current,
        target=target,
        reason=reason,
        value=value,
        now=now,
        review_at=period_end(shop, now),
    )


__all__ = [
    "SweepResult",
    "TierChange",
    "TierStatus",
    "TierView",
    "earn_multiplier",
    "evaluate_upgrade",
    "ladder",
    "tier_status",
    "upgrade_target",
]
