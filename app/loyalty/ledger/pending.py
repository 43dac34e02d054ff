"""Pending points: credits held for the shop's return window, released into the ledger when it has passed.

`entries.credit(..., hold_for_return_window=True)` holds them; refunds and cancellations inside the window cancel them
(`reversals.take_back`); `release_due` is the re-runnable sweep a Huey task calls.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.loyalty.ledger import entries
from app.models import CustomerLoyaltyProfile, PendingCredit, PointsTransaction, Shop


def release_due(session: Session, *, shop_id: int, now: datetime) -> int:
    """Release every pending credit of the shop whose window has passed as of `now`; return how many were released.

    Idempotent and safe to run twice at once: each profile is locked (in id order, the one lock order of the
    codebase) and its due credits re-read under the lock, so a credit is released once. The ledger entry reuses the
    pending credit's idempotency key and cause; it posts what refunds left (`points - points_cancelled`) and its lot
    is dated from the end of the window (`available_at`), so a late sweep does not shorten its life.
    """
    shop = session.get(Shop, shop_id)
    if shop is None:
        return 0
    profile_ids = (
        session.execute(
            select(PendingCredit.profile_id)
            .where(
                PendingCredit.shop_id == shop_id, PendingCredit.status == "pending", PendingCredit.available_at <= now
            )
            .distinct()
            .order_by(PendingCredit.profile_id)
        )
        .scalars()
        .all()
    )
    released = 0
    for profile_id in profile_ids:
        last_activity = session.execute(
            select(CustomerLoyaltyProfile.last_activity_at)
            .where(CustomerLoyaltyProfile.id == profile_id, CustomerLoyaltyProfile.shop_id == shop_id)
            .with_for_update()
        ).scalar_one()
        due = (
            session.execute(
                select(PendingCredit)
                .where(
                    PendingCredit.shop_id == shop_id,
                    PendingCredit.profile_id == profile_id,
                    PendingCredit.status == "pending",
                    PendingCredit.available_at <= now,
                )
                .order_by(PendingCredit.available_at, PendingCredit.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
            .scalars()
            .all()
        )
        for pending in due:
            _release(session, shop=shop, pending=pending, last_activity=last_activity, now=now)
            released += 1
    return released


def _release(
    session: Session, *, shop: Shop, pending: PendingCredit, last_activity: datetime | None, now: datetime
) -> None:
    points = pending.points - pending.points_cancelled
    cause = entries.Cause(
        type=pending.cause_type,
        event_id=pending.event_id,
        rule_id=pending.rule_id,
        rule_version_id=pending.rule_version_id,
        redemption_id=pending.redemption_id,
        actor=pending.actor,
        import_batch_id=pending.import_batch_id,
    )
    source = (pending.source_type, pending.source_id) if pending.source_type and pending.source_id else None
    entry = entries.post_entry(
        session,
        shop_id=shop.id,
        profile_id=pending.profile_id,
        kind=pending.kind,
        points=points,
        idempotency_key=pending.idempotency_key,
        cause=cause,
        now=now,
        reason=pending.reason,
        source=source,
        expires_at=entries.lot_expiry(shop, credited_at=pending.available_at, last_activity_at=last_activity),
        details={
            "pending_credit_id": pending.id,
            "held_points": pending.points,
            "cancelled_points": pending.points_cancelled,
        },
    )
    entry_id = (
        entry.id
        if entry is not None
        else session.execute(
            select(PointsTransaction.id).where(
                PointsTransaction.shop_id == shop.id, PointsTransaction.idempotency_key == pending.idempotency_key
            )
        ).scalar_one()
    )
    session.execute(
        update(CustomerLoyaltyProfile)
        .where(CustomerLoyaltyProfile.id == pending.profile_id)
        .values(points_pending=CustomerLoyaltyProfile.points_pending - points, updated_at=now)
    )
    session.execute(
        update(PendingCredit)
        .where(PendingCredit.id == pending.id)
        .values(status="released", entry_id=entry_id, resolved_at=now)
    )
