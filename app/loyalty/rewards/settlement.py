"""The second phase of a redemption: settle, fail, cancel, expire, use.

State machine of `redemption_logs.status`:
    pending --settle--> posted --order uses the code--> used
    pending --fail----> failed      (points returned)
    posted  --cancel--> cancelled   (points returned; outbox `discount_code.deactivate`)
    posted  --expire_due--> expired (points not returned)
Repeating a transition that already happened returns the row unchanged; any other transition is a Conflict.
Lock order is the profile row, then the redemption row (the same order redeem_reward takes them).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.loyalty import ledger
from app.loyalty.base import merchant_webhooks
from app.loyalty.base.errors import Conflict, InvalidInput, RedemptionNotFound
from app.loyalty.ledger.profiles import lock_profile_by_id
from app.models import CustomerLoyaltyProfile, Outbox, PointsTransaction, RedemptionLog, RewardDefinition, Shop
from app.models.base import MAX_BIGINT


def _locked(session: Session, shop_id: int, redemption_id: int, customer_id: str | None = None) -> RedemptionLog:
    if isinstance(redemption_id, bool) or not isinstance(redemption_id, int) or not 0 < redemption_id <= MAX_BIGINT:
        raise RedemptionNotFound(redemption_id)
    query = select(RedemptionLog).where(RedemptionLog.shop_id == shop_id, RedemptionLog.id == redemption_id)
    if customer_id is not None:
        query = query.join(CustomerLoyaltyProfile, CustomerLoyaltyProfile.id == RedemptionLog.profile_id).where(
            CustomerLoyaltyProfile.customer_id == customer_id
        )
    found = session.execute(query).scalar_one_or_none()
    if found is None:
        raise RedemptionNotFound(redemption_id)
    lock_profile_by_id(session, shop_id=shop_id, profile_id=found.profile_id)
    return session.execute(
        select(RedemptionLog)
        .where(RedemptionLog.id == found.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()


def _return_points(session: Session, *, shop_id: int, redemption: RedemptionLog, now: datetime, reason: str) -> None:
    """Give the redemption's points back once: a redemption_refund entry that points at the debit (L2, L5)."""
    if redemption.points_spent <= 0:
        return
    shop = session.get(Shop, shop_id)
    assert shop is not None
    debit_id = session.execute(
        select(PointsTransaction.id).where(
            PointsTransaction.shop_id == shop_id,
            PointsTransaction.redemption_id == redemption.id,
            PointsTransaction.kind == "redeem",
        )
    ).scalar_one_or_none()
    ledger.post_entry(
        session,
        shop_id=shop_id,
        profile_id=redemption.profile_id,
        kind="redemption_refund",
        points=redemption.points_spent,
        idempotency_key=f"redemption:{redemption.id}:returned",
        cause=ledger.Cause(type="redemption", redemption_id=redemption.id),
        now=now,
        reason=reason,
        source=("redemption", str(redemption.id)),
        reverses_id=debit_id,
        expires_at=ledger.new_lot_expiry(session, shop=shop, profile_id=redemption.profile_id, now=now),
    )


def settle(
    session: Session, *, shop_id: int, redemption_id: int, now: datetime, shopify_discount_id: str | None = None
) -> RedemptionLog:
    """The code exists in Shopify: pending -> posted. Idempotent (a posted or used redemption is returned as is)."""
    redemption = _locked(session, shop_id, redemption_id)
    if redemption.status in ("posted", "used"):
        return redemption
    if redemption.status != "pending":
        raise Conflict(f"redemption {redemption_id} is {redemption.status}; only a pending redemption can settle")
    redemption.status = "posted"
    redemption.settled_at = now
    redemption.shopify_discount_id = shopify_discount_id
    session.flush()
    _issued_webhook(session, redemption, now)
    return redemption


def _issued_webhook(session: Session, redemption: RedemptionLog, now: datetime) -> None:
    """reward.issued for the merchant's endpoints, now that the code works at checkout (built only when one of the
    shop's endpoints hears it)."""
    hearing = merchant_webhooks.subscribed(session, {redemption.shop_id})
    if "reward.issued" not in hearing.get(redemption.shop_id, ()):
        return
    profile = session.get(CustomerLoyaltyProfile, redemption.profile_id)
    reward = session.get(RewardDefinition, redemption.reward_id)
    data = {
        "customer_id": None if profile is None else profile.customer_id,
        "redemption_id": str(redemption.id),
        "reward_id": str(redemption.reward_id),
        "reward_name": None if reward is None else reward.name,
        "reward_kind": None if reward is None else reward.kind,
        "code": redemption.code,
        "value": None if redemption.value is None else str(redemption.value),
        "points_spent": redemption.points_spent,
        "expires_at": None if redemption.expires_at is None else redemption.expires_at.isoformat(),
    }
    merchant_webhooks.stage(
        session,
        [
            merchant_webhooks.MerchantWebhook(
                redemption.shop_id, "reward.issued", f"webhook:reward_issued:{redemption.id}", data, now
            )
        ],
        hearing=hearing,
    )


def fail(session: Session, *, shop_id: int, redemption_id: int, reason: str, now: datetime) -> RedemptionLog:
    """Shopify refused the code for good: pending -> failed with the reason, and the points come back. Idempotent."""
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput("reason is required when a redemption fails")
    redemption = _locked(session, shop_id, redemption_id)
    if redemption.status == "failed":
        return redemption
    if redemption.status != "pending":
        raise Conflict(f"redemption {redemption_id} is {redemption.status}; only a pending redemption can fail")
    redemption.status = "failed"
    redemption.failure_reason = reason.strip()[:2000]
    redemption.settled_at = now
    _return_points(
        session, shop_id=shop_id, redemption=redemption, now=now, reason=f"Redemption failed: {reason}"[:500]
    )
    session.flush()
    return redemption


def cancel(
    session: Session,
    *,
    shop_id: int,
    redemption_id: int,
    now: datetime,
    actor: str,
    customer_id: str | None = None,
) -> RedemptionLog:
    """Cancel an unused code: posted -> cancelled, points returned, code deactivated in Shopify (outbox). Idempotent.

    With `customer_id` (a shopper cancelling their own code) another customer's redemption is not found. A pending
    redemption cannot be cancelled yet (its code is being created): Conflict, try again once it settles.
    """
    redemption = _locked(session, shop_id, redemption_id, customer_id)
    if redemption.status == "cancelled":
        return redemption
    if redemption.status != "posted":
        raise Conflict(f"redemption {redemption_id} is {redemption.status}; only an unused code can be cancelled")
    redemption.status = "cancelled"
    redemption.failure_reason = f"cancelled by {actor}"[:2000]
    _return_points(session, shop_id=shop_id, redemption=redemption, now=now, reason=f"Code cancelled by {actor}"[:500])
    session.add(
        Outbox(
            shop_id=shop_id,
            kind="discount_code.deactivate",
            dedupe_key=f"redemption:{redemption.id}:deactivate",
            payload={
                "redemption_id": redemption.id,
                "code": redemption.code,
                "shopify_discount_id": redemption.shopify_discount_id,
            },
            next_attempt_at=now,
            created_at=now,
        )
    )
    session.flush()
    return redemption


def expire_due(session: Session, *, shop_id: int, now: datetime) -> list[int]:
    """Mark every unused code past its date expired (Shopify's own endsAt already refuses it); ids changed.

    Idempotent: a second run finds nothing. Points are not returned; a merchant can cancel a code before its date.
    """
    rows = session.execute(
        update(RedemptionLog)
        .where(
            RedemptionLog.shop_id == shop_id,
            RedemptionLog.status == "posted",
            RedemptionLog.expires_at.is_not(None),
            RedemptionLog.expires_at <= now,
        )
        .values(status="expired")
        .returning(RedemptionLog.id)
    ).scalars()
    return sorted(rows)


def mark_used(session: Session, *, shop_id: int, code: str, order_id: str, now: datetime) -> RedemptionLog | None:
    """An order used this code (from the order's discount_codes): the redemption is `used`. None for other codes.

    Idempotent. A cancelled code that an order still used keeps `cancelled` but records the order, for review.
    """
    if not isinstance(code, str) or not code.strip():
        return None
    found = session.execute(
        select(RedemptionLog.id).where(RedemptionLog.shop_id == shop_id, RedemptionLog.code == code.strip().upper())
    ).scalar_one_or_none()
    if found is None:
        return None
    redemption = _locked(session, shop_id, found)
    if redemption.status in ("pending", "posted", "expired"):
        redemption.status = "used"
        redemption.settled_at = redemption.settled_at or now
    if redemption.used_on_order_id is None:
        redemption.used_on_order_id = str(order_id)[:64]
    session.flush()
    return redemption
