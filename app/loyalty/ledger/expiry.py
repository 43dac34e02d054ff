"""Points expiry: the re-runnable sweep that expires every lot due as of `now`, each at most once (L10).

Lots get their dates from `entries.lot_expiry` (per-shop policy: never, N days after earning, N days of inactivity).
An expiry entry takes only the lot's unconsumed remainder, so expiry never wipes more than the expired lots.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.loyalty.ledger import entries
from app.models import CustomerLoyaltyProfile, PointsLot


def expire_due(session: Session, *, shop_id: int, now: datetime) -> int:
    """Expire every lot of the shop due as of `now`; return how many lots lost points (an expiry entry each).

    Each expiring lot with points left gets one `expiry` entry of `-remaining`, keyed `expiry:lot:<lot id>` and
    pointing at the credit (`reverses_id`); every due lot is stamped `expired_at`, so a second sweep finds nothing.
    Profiles are locked in id order and their due lots re-read under the lock, so two sweeps at once expire a lot
    once.
    """
    profile_ids = (
        session.execute(
            select(PointsLot.profile_id)
            .where(PointsLot.shop_id == shop_id, PointsLot.expired_at.is_(None), PointsLot.expires_at <= now)
            .distinct()
            .order_by(PointsLot.profile_id)
        )
        .scalars()
        .all()
    )
    expired = 0
    for profile_id in profile_ids:
        session.execute(
            select(CustomerLoyaltyProfile.id)
            .where(CustomerLoyaltyProfile.id == profile_id, CustomerLoyaltyProfile.shop_id == shop_id)
            .with_for_update()
        ).scalar_one()
        lots = session.execute(
            select(PointsLot.id, PointsLot.entry_id, PointsLot.remaining)
            .where(
                PointsLot.shop_id == shop_id,
                PointsLot.profile_id == profile_id,
                PointsLot.expired_at.is_(None),
                PointsLot.expires_at <= now,
            )
            .order_by(PointsLot.expires_at, PointsLot.id)
            .with_for_update()
        ).all()
        for lot_id, entry_id, remaining in lots:
            if remaining > 0:
                entries.post_entry(
                    session,
                    shop_id=shop_id,
                    profile_id=profile_id,
                    kind="expiry",
                    points=-remaining,
                    idempotency_key=f"expiry:lot:{lot_id}",
                    cause=entries.Cause("expiry"),
                    now=now,
                    reason="Points expired",
                    reverses_id=entry_id,
                    prefer_lot_id=lot_id,
                    details={"lot_id": lot_id},
                )
                expired += 1
            session.execute(update(PointsLot).where(PointsLot.id == lot_id).values(expired_at=now))
    return expired
