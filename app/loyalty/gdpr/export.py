"""customers/data_request: everything held about one customer of one shop, as JSON-ready data for the merchant."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app.models import (
    AuditLog,
    CustomerLoyaltyProfile,
    Order,
    PendingCredit,
    PointsLot,
    PointsTransaction,
    RedemptionLog,
    ReferralClick,
    ReferralConversion,
    ReferralLink,
    RuleExecution,
    TierDefinition,
    event_history,
)

# A referral conversion belongs to two customers: each one's export shows its own side. The friend's order (its id,
# total and event), profile, points and reward are the friend's; the link and points of the advocate are theirs.
_FRIEND_SIDE = frozenset(
    {"friend_profile_id", "friend_customer_id", "friend_points", "friend_redemption_id", "order_id", "order_total"}
)
_CONVERSION_FRIEND_SIDE = _FRIEND_SIDE | {"event_id"}
_CONVERSION_ADVOCATE_SIDE = frozenset({"advocate_profile_id", "advocate_points", "link_id"})


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _row(obj: Any, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    return {column.key: _plain(getattr(obj, column.key)) for column in obj.__table__.columns if column.key not in skip}


def export_customer(session: Session, *, shop_id: int, customer_id: str) -> dict[str, Any]:
    """Every row about the customer in this shop (profile, tier, ledger, lots, pending points, redemptions and
    codes, referrals, orders, events and rule executions), JSON-safe. A customer we hold nothing about exports an
    empty record, never another customer's data."""
    customer_id = str(customer_id)
    profile = session.execute(
        select(CustomerLoyaltyProfile).where(
            CustomerLoyaltyProfile.shop_id == shop_id, CustomerLoyaltyProfile.customer_id == customer_id
        )
    ).scalar_one_or_none()
    # The inbox and its archive alike (event_history reads both).
    events = session.execute(
        select(event_history)
        .where(event_history.c.shop_id == shop_id, event_history.c.customer_id == customer_id)
        .order_by(event_history.c.occurred_at, event_history.c.id)
    ).mappings()
    export: dict[str, Any] = {
        "customer_id": customer_id,
        "profile": None,
        "events": [_own_event(event) for event in events],
    }
    if profile is None:
        return export

    def rows(model: Any, *conditions: Any, order: Any = None) -> list[dict[str, Any]]:
        query = (
            select(model)
            .where(model.shop_id == shop_id, *conditions)
            .order_by(order if order is not None else model.id)
        )
        return [_row(obj) for obj in session.execute(query).scalars()]

    tier = session.get(TierDefinition, profile.current_tier_id) if profile.current_tier_id else None
    link = session.execute(
        select(ReferralLink).where(ReferralLink.shop_id == shop_id, ReferralLink.profile_id == profile.id)
    ).scalar_one_or_none()
    export.update(
        profile=_row(profile),
        tier=None if tier is None else {"name": tier.name, "level": tier.level},
        ledger=rows(PointsTransaction, PointsTransaction.profile_id == profile.id),
        lots=rows(PointsLot, PointsLot.profile_id == profile.id),
        pending_points=rows(PendingCredit, PendingCredit.profile_id == profile.id),
        redemptions=rows(RedemptionLog, RedemptionLog.profile_id == profile.id),
        orders=rows(Order, Order.profile_id == profile.id),
        referral_link=None if link is None else _row(link),
        referral_clicks=0
        if link is None
        else session.execute(
            select(func.count(ReferralClick.id)).where(
                ReferralClick.shop_id == shop_id, ReferralClick.link_id == link.id
            )
        ).scalar_one(),
        referral_conversions=[
            _own_side(conversion, profile.id)
            for conversion in session.execute(
                select(ReferralConversion)
                .where(
                    ReferralConversion.shop_id == shop_id,
                    or_(
                        ReferralConversion.advocate_profile_id == profile.id,
                        ReferralConversion.friend_profile_id == profile.id,
                    ),
                )
                .order_by(ReferralConversion.id)
            ).scalars()
        ],
        rule_executions=rows(RuleExecution, RuleExecution.profile_id == profile.id),
        audit_log=rows(AuditLog, AuditLog.subject_type == "profile", AuditLog.subject_id == str(profile.id)),
    )
    return export


def _own_side(conversion: ReferralConversion, profile_id: int) -> dict[str, Any]:
    """A referral conversion as one of its two customers may see it: their side of it and what both share."""
    skip: frozenset[str] = frozenset()
    if conversion.advocate_profile_id != profile_id:
        skip |= _CONVERSION_ADVOCATE_SIDE
    if conversion.friend_profile_id != profile_id:
        skip |= _CONVERSION_FRIEND_SIDE
    return _row(conversion, skip)


def _own_event(event: Any) -> dict[str, Any]:
    """An inbox row of the customer, JSON-safe; a referral_converted event (raised for the advocate) without the
    friend's side of the conversion."""
    row = {key: _plain(value) for key, value in event.items()}
    if row.get("event_type") == "referral_converted" and isinstance(row.get("payload"), dict):
        row["payload"] = {key: value for key, value in row["payload"].items() if key not in _FRIEND_SIDE}
    return row
