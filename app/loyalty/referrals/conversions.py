"""Converting a referred friend's first order, and paying the rewards.

Lock order: the friend's profile (the caller's event lock), then the referral link (serializes one advocate's
conversions, so the daily limit holds under concurrency), then the advocate's profile. Two customers referring each
other with simultaneous first orders can deadlock; PostgreSQL aborts one and the stream retries it.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.loyalty import ledger, rewards
from app.loyalty.base.app_events import record_app_event
from app.loyalty.base.errors import RewardNotFound
from app.loyalty.ledger.profiles import lock_profile_by_id
from app.loyalty.referrals.links import (
    ConversionResult,
    block_reason,
    codes_in_order,
    conversion_result,
    find_link,
    order_amount,
)
from app.loyalty.referrals.settings import ReferralSettings, settings_for
from app.models import CustomerLoyaltyProfile, ReferralConversion, Shop


def referral_codes(settings: ReferralSettings, order: dict[str, Any]) -> list[str]:
    """The referral codes this order carries that the shop's programme reads (none while it is off): an order with
    none converts no referral, and convert_from_order leaves it without a round trip."""
    return codes_in_order(order, settings.landing_parameter) if settings.enabled else []


def convert_from_order(
    session: Session,
    *,
    shop: Shop,
    friend_profile: CustomerLoyaltyProfile,
    order: dict[str, Any],
    event_id: uuid.UUID | str,
    now: datetime,
) -> ConversionResult | None:
    """Record the conversion a referred order makes (rewarded, pending or blocked with its reason); None when the
    order carries no known referral code. Idempotent per order: a second call returns the first result.

    The caller holds the friend's profile lock and has recorded the order.
    """
    settings = settings_for(shop)
    order_id = str(order.get("id") or "")
    codes = referral_codes(settings, order)
    if not order_id or not codes:
        return None  # no referral code: there is no conversion to find or make (most orders; no round trip)
    existing = session.execute(
        select(ReferralConversion).where(ReferralConversion.shop_id == shop.id, ReferralConversion.order_id == order_id)
    ).scalar_one_or_none()
    if existing is not None:
        return conversion_result(existing, replayed=True)
    link = find_link(session, shop.id, codes, lock=True)
    if link is None:
        return None
    advocate = session.execute(
        select(CustomerLoyaltyProfile).where(
            CustomerLoyaltyProfile.id == link.profile_id, CustomerLoyaltyProfile.shop_id == shop.id
        )
    ).scalar_one()
    event_uuid = event_id if isinstance(event_id, uuid.UUID) else uuid.UUID(str(event_id))
    reason = block_reason(
        session,
        shop=shop,
        settings=settings,
        link=link,
        advocate=advocate,
        friend=friend_profile,
        order=order,
        order_id=order_id,
        now=now,
    )
    held = shop.return_window_days > 0
    conversion = ReferralConversion(
        shop_id=shop.id,
        link_id=link.id,
        advocate_profile_id=advocate.id,
        friend_profile_id=friend_profile.id,
        order_id=order_id,
        order_total=order_amount(order),
        status="blocked" if reason else ("pending" if held else "rewarded"),
        block_reason=reason,
        event_id=event_uuid,
        created_at=now,
    )
    session.add(conversion)
    session.flush()
    if reason is not None:
        return conversion_result(conversion, replayed=False)

    reward_conversion(
        session,
        shop=shop,
        conversion=conversion,
        advocate=advocate,
        friend=friend_profile,
        cause=ledger.Cause(type="event", event_id=event_uuid),
        now=now,
    )
    return conversion_result(conversion, replayed=False)


def reward_conversion(
    session: Session,
    *,
    shop: Shop,
    conversion: ReferralConversion,
    advocate: CustomerLoyaltyProfile,
    friend: CustomerLoyaltyProfile,
    cause: ledger.Cause,
    now: datetime,
) -> None:
    """Pay a conversion that passed (or was approved past) the fraud checks: link the friend to the advocate, credit
    both sides' points (held for the return window; one idempotency key per side, so a second call credits nothing),
    issue the friend's reward code unless held, and announce it. The caller holds the friend's lock; the advocate's
    is taken here, after it."""
    settings = settings_for(shop)
    held = shop.return_window_days > 0
    conversion.status = "pending" if held else "rewarded"
    if friend.referred_by_profile_id is None:
        session.execute(
            update(CustomerLoyaltyProfile)
            .where(CustomerLoyaltyProfile.id == friend.id)
            .values(referred_by_profile_id=advocate.id)
        )
        session.expire(friend, ["referred_by_profile_id"])
    source = ("referral", str(conversion.id))
    lock_profile_by_id(session, shop_id=shop.id, profile_id=advocate.id)
    for party, profile_id, points in (
        ("advocate", advocate.id, settings.advocate_points),
        ("friend", friend.id, settings.friend_points),
    ):
        if not points:
            continue
        ledger.credit(
            session,
            shop=shop,
            profile_id=profile_id,
            kind="referral",
            points=points,
            idempotency_key=f"referral:{conversion.id}:{party}",
            cause=cause,
            now=now,
            reason=f"Referral reward ({party})",
            source=source,
            hold_for_return_window=True,
        )
        setattr(conversion, f"{party}_points", points)
    if not held:
        _issue_friend_reward(session, shop=shop, conversion=conversion, friend=friend, now=now)
    record_app_event(
        session,
        shop_id=shop.id,
        event_type="referral_converted",
        key=f"referral_converted:{conversion.id}",
        customer_id=advocate.customer_id,
        subject=("referral_conversion", str(conversion.id)),
        data={
            "conversion_id": conversion.id,
            "advocate_profile_id": advocate.id,
            "friend_profile_id": friend.id,
            "friend_customer_id": friend.customer_id,
            "order_id": conversion.order_id,
            "status": conversion.status,
            "advocate_points": conversion.advocate_points,
            "friend_points": conversion.friend_points,
        },
        now=now,
    )
    session.flush()


def _issue_friend_reward(
    session: Session, *, shop: Shop, conversion: ReferralConversion, friend: CustomerLoyaltyProfile, now: datetime
) -> None:
    reward_id = settings_for(shop).friend_reward_id
    if reward_id is None or conversion.friend_redemption_id is not None:
        return
    try:
        result = rewards.issue_reward(
            session,
            shop=shop,
            profile=friend,
            reward_id=reward_id,
            idempotency_key=f"referral:{conversion.id}:friend",
            now=now,
        )
    except RewardNotFound:
        # The merchant deleted the reward named in the settings: the points still count; the code cannot be made.
        return
    conversion.friend_redemption_id = result.redemption.id


def release_due(session: Session, *, shop_id: int, now: datetime) -> list[int]:
    """Finish conversions whose pending window has passed: issue the friend's reward code, mark them rewarded.

    Idempotent (a rewarded conversion is not pending any more). Their points are released by pending.release_due.
    """
    shop = session.get(Shop, shop_id)
    if shop is None:
        return []
    due = (
        session.execute(
            select(ReferralConversion)
            .where(
                ReferralConversion.shop_id == shop_id,
                ReferralConversion.status == "pending",
                ReferralConversion.created_at <= now - timedelta(days=shop.return_window_days),
            )
            .order_by(ReferralConversion.id)
            .with_for_update(skip_locked=True)
        )
        .scalars()
        .all()
    )
    for conversion in due:
        if conversion.friend_profile_id is not None:
            friend = lock_profile_by_id(session, shop_id=shop_id, profile_id=conversion.friend_profile_id)
            _issue_friend_reward(session, shop=shop, conversion=conversion, friend=friend, now=now)
        conversion.status = "rewarded"
    session.flush()
    return [conversion.id for conversion in due]
