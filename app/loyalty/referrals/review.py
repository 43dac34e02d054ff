"""The merchant's review of fraud-blocked conversions: approving one pays it as if it had passed the checks,
rejecting one closes it with a reason and pays nothing. Only a blocked conversion can be decided, once.

Lock order: the conversion row (serializes two decisions on it, so a double approve pays once), then the friend's
profile, then the advocate's (taken by reward_conversion, in the order conversion uses).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.loyalty import ledger
from app.loyalty.base.errors import Conflict, InvalidInput, NotFound
from app.loyalty.ledger.profiles import lock_profile_by_id
from app.loyalty.referrals.conversions import reward_conversion
from app.models import CustomerLoyaltyProfile, ReferralConversion, Shop

REASON_MAX = 500


class ConversionNotFound(NotFound):
    def __init__(self, conversion_id: object) -> None:
        super().__init__(f"referral conversion {conversion_id} does not exist")
        self.conversion_id = conversion_id


def approve(session: Session, *, shop: Shop, conversion_id: int, staff: str, now: datetime) -> ReferralConversion:
    """Pay a blocked conversion (both sides' points and the friend's reward, as an unblocked one) and record who
    approved it when. Conflict if it is not blocked (already decided, or never blocked)."""
    conversion = _blocked(session, shop=shop, conversion_id=conversion_id)
    if conversion.friend_profile_id is None:
        raise Conflict(f"referral conversion {conversion_id} has no friend any more (their data was erased)")
    friend = lock_profile_by_id(session, shop_id=shop.id, profile_id=conversion.friend_profile_id)
    advocate = session.get(CustomerLoyaltyProfile, conversion.advocate_profile_id)  # reward_conversion locks it
    assert advocate is not None  # the conversion's foreign key
    _decide(conversion, "approved", staff=staff, reason=None, now=now)
    reward_conversion(
        session,
        shop=shop,
        conversion=conversion,
        advocate=advocate,
        friend=friend,
        cause=ledger.Cause(type="admin", actor=staff),
        now=now,
    )
    return conversion


def reject(
    session: Session, *, shop: Shop, conversion_id: int, staff: str, reason: str, now: datetime
) -> ReferralConversion:
    """Close a blocked conversion unpaid, with the merchant's reason. Conflict if it is not blocked."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput("reason: say why the conversion is rejected")
    if len(reason) > REASON_MAX:
        raise InvalidInput(f"reason: at most {REASON_MAX} characters, got {len(reason)}")
    conversion = _blocked(session, shop=shop, conversion_id=conversion_id)
    conversion.status = "rejected"
    _decide(conversion, "rejected", staff=staff, reason=reason, now=now)
    session.flush()
    return conversion


def _blocked(session: Session, *, shop: Shop, conversion_id: int) -> ReferralConversion:
    conversion = session.execute(
        select(ReferralConversion)
        .where(ReferralConversion.shop_id == shop.id, ReferralConversion.id == conversion_id)
        .with_for_update()
    ).scalar_one_or_none()
    if conversion is None:
        raise ConversionNotFound(conversion_id)
    if conversion.status != "blocked":
        decided = f" ({conversion.review_decision} by {conversion.reviewed_by})" if conversion.review_decision else ""
        raise Conflict(
            f"referral conversion {conversion_id} is {conversion.status}{decided}; only blocked ones are reviewed"
        )
    return conversion


def _decide(conversion: ReferralConversion, decision: str, *, staff: str, reason: str | None, now: datetime) -> None:
    conversion.review_decision = decision
    conversion.reviewed_by = staff
    conversion.reviewed_at = now
    conversion.review_reason = reason
