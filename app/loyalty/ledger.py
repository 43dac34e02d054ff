"""The append-only points ledger: every balance change is one entry, written with the stored balance it changes.

Invariants held here (DESIGN.md, reference/reliability.md L1-L10): balance = sum of entries, updated in the same
transaction; one idempotency key credits at most once per shop; every entry names its cause; credits become lots
that debits consume oldest first.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.models import CustomerLoyaltyProfile, PointsLot, PointsTransaction

CREDIT_KINDS = frozenset({"earn", "adjustment", "import", "referral", "redemption_refund"})


@dataclass(frozen=True)
class Cause:
    """Why an entry exists (L5): exactly the ids that apply to its cause type."""

    type: str
    event_id: uuid.UUID | None = None
    rule_id: int | None = None
    rule_version_id: int | None = None
    redemption_id: int | None = None
    actor: str | None = None
    import_batch_id: uuid.UUID | None = None

    def columns(self) -> dict[str, Any]:
        return {
            "cause_type": self.type,
            "event_id": self.event_id,
            "rule_id": self.rule_id,
            "rule_version_id": self.rule_version_id,
            "redemption_id": self.redemption_id,
            "actor": self.actor,
            "import_batch_id": self.import_batch_id,
        }


def post_entry(
    session: Session,
    *,
    shop_id: int,
    profile_id: int,
    kind: str,
    points: int,
    idempotency_key: str,
    cause: Cause,
    now: datetime,
    reason: str | None = None,
    source: tuple[str, str] | None = None,
    expires_at: datetime | None = None,
    reverses_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> PointsTransaction | None:
    """Append one entry and move the stored balance by `points`; None if this key was already posted (a no-op).

    The caller must hold the profile's row lock (profiles.lock_profile). A positive entry becomes a lot expiring at
    `expires_at`; a negative one consumes lots oldest first.
    """
    if points == 0:
        raise ValueError("a ledger entry moves at least one point")
    source_type, source_id = source if source else (None, None)
    entry_id = session.execute(
        insert(PointsTransaction)
        .values(
            shop_id=shop_id,
            profile_id=profile_id,
            kind=kind,
            points=points,
            idempotency_key=idempotency_key,
            reason=reason,
            source_type=source_type,
            source_id=source_id,
            reverses_id=reverses_id,
            details=details or {},
            created_at=now,
            **cause.columns(),
        )
        .on_conflict_do_nothing(index_elements=["shop_id", "idempotency_key"])
        .returning(PointsTransaction.id)
    ).scalar_one_or_none()
    if entry_id is None:
        return None

    earned = points if points > 0 and kind in CREDIT_KINDS and kind != "redemption_refund" else 0
    redeemed = -points if kind == "redeem" else 0
    session.execute(
        update(CustomerLoyaltyProfile)
        .where(CustomerLoyaltyProfile.id == profile_id, CustomerLoyaltyProfile.shop_id == shop_id)
        .values(
            points_balance=CustomerLoyaltyProfile.points_balance + points,
            lifetime_earned=CustomerLoyaltyProfile.lifetime_earned + earned,
            lifetime_redeemed=CustomerLoyaltyProfile.lifetime_redeemed + redeemed,
            last_activity_at=now,
            updated_at=now,
        )
    )
    if points > 0:
        session.execute(
            insert(PointsLot).values(
                shop_id=shop_id,
                profile_id=profile_id,
                entry_id=entry_id,
                points=points,
                remaining=points,
                earned_at=now,
                expires_at=expires_at,
            )
        )
    else:
        consume_lots(session, shop_id=shop_id, profile_id=profile_id, points=-points)
    return session.get(PointsTransaction, entry_id)


def consume_lots(session: Session, *, shop_id: int, profile_id: int, points: int) -> int:
    """Take `points` from the profile's lots, oldest first; return how many could not be covered by lots."""
    lots = session.execute(
        select(PointsLot.id, PointsLot.remaining)
        .where(PointsLot.shop_id == shop_id, PointsLot.profile_id == profile_id, PointsLot.remaining > 0)
        .order_by(PointsLot.earned_at, PointsLot.id)
        .with_for_update()
    ).all()
    left = points
    for lot_id, remaining in lots:
        if left == 0:
            break
        take = min(left, remaining)
        session.execute(update(PointsLot).where(PointsLot.id == lot_id).values(remaining=PointsLot.remaining - take))
        left -= take
    return left
