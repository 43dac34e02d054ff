"""Small builders shared by the tier, reward, redemption, referral and GDPR tests (real rows, no mocks)."""

from __future__ import annotations

import itertools
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.loyalty import ledger, rewards
from app.models import CustomerLoyaltyProfile, PointsTransaction, Shop, TierDefinition
from tests.loyalty.ledger_helpers import earn

_keys = itertools.count(1)


def give_points(
    session: Session, shop: Shop, customer_id: str, points: int, now: datetime, kind: str = "adjustment"
) -> CustomerLoyaltyProfile:
    """Credit points through the ledger: an admin adjustment, or (kind "earn") points earned by a synthetic event."""
    profile = ledger.lock_profile(session, shop_id=shop.id, customer_id=customer_id, now=now)
    key = f"test:{next(_keys)}"
    if kind == "earn":
        earn(session, shop, profile, points, key, now)
    else:
        ledger.credit(
            session,
            shop=shop,
            profile_id=profile.id,
            kind=kind,
            points=points,
            idempotency_key=key,
            cause=ledger.Cause(type="admin", actor="test@example.test"),
            now=now,
        )
    session.refresh(profile)
    return profile


def make_reward(session: Session, shop: Shop, **overrides: object) -> int:
    fields: dict[str, object] = {
        "name": f"Reward {next(_keys)}",
        "kind": "fixed_amount",
        "points_cost": 500,
        "value": "5.00",
    }
    fields.update(overrides)
    return rewards.create_reward(session, shop_id=shop.id, spec=rewards.RewardSpec(**fields)).id  # type: ignore[arg-type]


def make_tier(session: Session, shop: Shop, name: str, level: int, threshold: str, **columns: object) -> TierDefinition:
    tier = TierDefinition(shop_id=shop.id, name=name, level=level, threshold=Decimal(threshold), **columns)
    session.add(tier)
    session.flush()
    return tier


def balance(session: Session, profile_id: int) -> int:
    return session.execute(
        select(CustomerLoyaltyProfile.points_balance).where(CustomerLoyaltyProfile.id == profile_id)
    ).scalar_one()


def ledger_sum(session: Session, profile_id: int) -> int:
    return int(
        session.execute(
            select(func.coalesce(func.sum(PointsTransaction.points), 0)).where(
                PointsTransaction.profile_id == profile_id
            )
        ).scalar_one()
    )


def entry_count(session: Session, shop_id: int) -> int:
    return session.execute(
        select(func.count(PointsTransaction.id)).where(PointsTransaction.shop_id == shop_id)
    ).scalar_one()
