"""Admin adjustments: a merchant adds or removes points by hand, with a reason and who did it (L5)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from app.loyalty.base.errors import InvalidInput
from app.loyalty.ledger import entries
from app.models import CustomerLoyaltyProfile, PointsTransaction, Shop


@dataclass(frozen=True)
class AdjustmentResult:
    """The posted entry, or None with `duplicate` when the key was already used."""

    entry: PointsTransaction | None
    duplicate: bool


def adjust_points(
    session: Session,
    *,
    shop: Shop,
    profile: CustomerLoyaltyProfile,
    points: int,
    reason: str,
    actor: str,
    idempotency_key: str,
    now: datetime,
) -> AdjustmentResult:
    """Add (points > 0) or remove (points < 0) points once per key, naming the admin and the reason.

    A removal never takes the balance below zero (InsufficientPoints, nothing written): only reversals may, and only
    when the shop allows it. The key is the admin request's (e.g. a form token), so a double submit posts once.
    The caller holds the profile lock.
    """
    if isinstance(points, bool) or not isinstance(points, int) or points == 0:
        raise InvalidInput(f"an adjustment moves a non-zero whole number of points, got {points!r}")
    if not reason or not reason.strip():
        raise InvalidInput("an adjustment needs a reason")
    if not actor or not actor.strip():
        raise InvalidInput("an adjustment needs the admin who made it")
    cause = entries.Cause("admin", actor=actor.strip())
    key = f"adjustment:{idempotency_key}"
    if points > 0:
        credited = entries.credit(
            session,
            shop=shop,
            profile_id=profile.id,
            kind="adjustment",
            points=points,
            idempotency_key=key,
            cause=cause,
            now=now,
            reason=reason.strip(),
        )
        return AdjustmentResult(entry=credited.entry, duplicate=credited.duplicate)
    debited = entries.debit(
        session,
        shop=shop,
        profile_id=profile.id,
        kind="adjustment",
        points=-points,
        idempotency_key=key,
        cause=cause,
        now=now,
        reason=reason.strip(),
    )
    return AdjustmentResult(entry=debited.entry, duplicate=debited.duplicate)
