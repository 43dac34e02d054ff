"""Undoing a referral when the friend's order is cancelled or fully refunded.

A referral rewards a real first purchase; an order that is cancelled or refunded in full was not one, so both the
advocate's and the friend's referral points come back (pending points are cancelled, posted ones reversed, with the
shop's negative-balance policy), the way an order's own points do. A partial refund leaves the referral standing.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.loyalty import ledger
from app.loyalty.ledger.profiles import lock_profile_by_id
from app.models import ReferralConversion, Shop


def reverse_for_order(
    session: Session, *, shop: Shop, order_id: str, event_id: uuid.UUID, now: datetime, reason: str
) -> int:
    """Take back the referral points the order's conversion credited; returns the points claimed (0 if none).

    Idempotent: the conversion becomes `reversed`, and each profile's take-back is one `ledger_reversals` row.
    The caller holds the friend's profile lock; the advocate's is taken here, in the order conversion uses.
    A conversion still blocked for review credited nothing: it is closed as reversed too, so the merchant can no
    longer approve a referral whose order did not stand.
    """
    conversion = session.execute(
        select(ReferralConversion)
        .where(
            ReferralConversion.shop_id == shop.id,
            ReferralConversion.order_id == order_id,
            ReferralConversion.status.in_(("pending", "rewarded", "blocked")),
        )
        .with_for_update()
    ).scalar_one_or_none()
    if conversion is None:
        return 0
    if conversion.status == "blocked":
        conversion.status = "reversed"
        conversion.block_reason = reason
        session.flush()
        return 0
    source = ("referral", str(conversion.id))
    claimed = 0
    for profile_id in (conversion.friend_profile_id, conversion.advocate_profile_id):
        if profile_id is None:
            continue
        lock_profile_by_id(session, shop_id=shop.id, profile_id=profile_id)
        claimed += _take_back(
            session,
            shop=shop,
            profile_id=profile_id,
            source=source,
            event_id=event_id,
            now=now,
            key=f"referral_reversal:{conversion.id}:{profile_id}",
            reason=reason,
        )
    conversion.status = "reversed"
    conversion.block_reason = reason
    session.flush()
    return claimed


def _take_back(
    session: Session,
    *,
    shop: Shop,
    profile_id: int,
    source: tuple[str, str],
    event_id: uuid.UUID,
    now: datetime,
    key: str,
    reason: str,
) -> int:
    request_id = ledger.open_request(
        session,
        shop_id=shop.id,
        profile_id=profile_id,
        kind="referral_reversal",
        key=key,
        source=source,
        now=now,
        event_id=event_id,
    )
    if request_id is None:
        return 0
    taken = ledger.take_back_rest(
        session,
        shop=shop,
        profile_id=profile_id,
        source=source,
        request_key=key,
        cause=ledger.Cause("event", event_id=event_id),
        now=now,
        reason=reason,
    )
    ledger.close_request(session, request_id, taken)
    return taken.claimed
