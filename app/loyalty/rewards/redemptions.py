"""Spending points on rewards, two-phase (reliability.md L4, L13, L14).

1. `redeem_reward` (one transaction, under the profile row lock): debit the points, write a `pending`
   `redemption_logs` row with a fresh code, and stage an outbox row (`discount_code.create`, dedupe key
   `redemption:<id>`) for the adapter that creates the code in Shopify. Concurrent redemptions of one customer are
   serialized by the lock and the debit refuses to go below zero, so they can never overspend.
2. The adapter then calls `settle` (code created: `posted`) or `fail` (refused for good: `failed`, and the points
   come back through a `redemption_refund` entry that points at the debit). Both are idempotent.

A client idempotency key makes a retried request return the first result (`replayed=True`); the same key with other
input is a Conflict (409). Refused requests store nothing, so a retry after topping up the balance can succeed.
Codes are single-use and bound to the customer; unused codes can be cancelled (points returned) and expire on their
date (`expire_due`, points not returned: the customer held a working code until then).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.loyalty import ledger
from app.loyalty.base.app_events import record_app_event
from app.loyalty.base.errors import Conflict, InsufficientPoints, InvalidInput, RewardUnavailable
from app.loyalty.rewards import definitions
from app.loyalty.rewards.discount_codes import create_payload, new_code
from app.models import (
    CustomerLoyaltyProfile,
    Outbox,
    RedemptionLog,
    RewardDefinition,
    Shop,
    TierDefinition,
)
from app.rules.values import text_fault

# Redemptions that use up a per-customer limit (failed and cancelled ones gave the points back).
COUNTED_STATUSES = ("pending", "posted", "used", "expired")


@dataclass(frozen=True)
class RedemptionResult:
    redemption: RedemptionLog
    points_deducted: int
    new_balance: int
    replayed: bool


def _customer_id(raw: object) -> str:
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 64:
        raise InvalidInput(f"customer_id must be a Shopify customer id (a non-empty string), got {raw!r}")
    return raw.strip()


def _idempotency_key(raw: object) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 255 or text_fault(raw) is not None:
        raise InvalidInput("idempotency_key must be 1-255 characters, none of them NUL or half a UTF-16 pair")
    return raw


def _request_hash(**fields: object) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def _steps(reward: RewardDefinition, steps: int | None) -> int:
    if steps is None:
        return 1
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise InvalidInput(f"steps must be a whole number of at least 1, got {steps!r}")
    if reward.kind != "points_to_amount":
        if steps != 1:
            raise InvalidInput(f"reward {reward.id} is not redeemed in steps")
        return steps
    if reward.max_steps is not None and steps > reward.max_steps:
        raise InvalidInput(f"reward {reward.id} allows at most {reward.max_steps} steps, got {steps}")
    # Without max_steps (or with one saved before it was bounded), the steps a balance affords may add up past what
    # a redemption's value holds.
    value = Decimal(reward.value)
    most = definitions.most_steps(value)
    if steps > most:
        raise InvalidInput(
            f"reward {reward.id}: {steps:,} steps of {value:,} come to {value * steps:,} off, and one redemption "
            f"must be less than {definitions.AMOUNT_LIMIT:,} off; redeem at most {most:,} at once"
        )
    return steps


def _replay(session: Session, profile: CustomerLoyaltyProfile, key: str, request_hash: str) -> RedemptionResult | None:
    prior = session.execute(
        select(RedemptionLog).where(
            RedemptionLog.shop_id == profile.shop_id,
            RedemptionLog.profile_id == profile.id,
            RedemptionLog.idempotency_key == key,
        )
    ).scalar_one_or_none()
    if prior is None:
        return None
    if prior.request_hash != request_hash:
        raise Conflict(f"idempotency key {key!r} was already used for a different redemption request")
    balance = prior.balance_after if prior.balance_after is not None else profile.points_balance
    return RedemptionResult(redemption=prior, points_deducted=prior.points_spent, new_balance=balance, replayed=True)


def _check_available(session: Session, reward: RewardDefinition, profile: CustomerLoyaltyProfile) -> None:
    if not reward.active:
        raise RewardUnavailable(f"reward {reward.id} is not available")
    if reward.min_tier_level is not None:
        level = session.execute(
            select(TierDefinition.level).where(
                TierDefinition.id == profile.current_tier_id, TierDefinition.shop_id == profile.shop_id
            )
        ).scalar_one_or_none()
        if level is None or level < reward.min_tier_level:
            raise RewardUnavailable(
                f"reward {reward.id} needs tier level {reward.min_tier_level}; customer {profile.customer_id} is at "
                + ("no tier" if level is None else f"level {level}")
            )
    if reward.per_customer_limit is not None:
        used = session.execute(
            select(func.count(RedemptionLog.id)).where(
                RedemptionLog.shop_id == profile.shop_id,
                RedemptionLog.profile_id == profile.id,
                RedemptionLog.reward_id == reward.id,
                RedemptionLog.status.in_(COUNTED_STATUSES),
            )
        ).scalar_one()
        if used >= reward.per_customer_limit:
            raise RewardUnavailable(
                f"customer {profile.customer_id} has already redeemed reward {reward.id} "
                f"{used} time(s); the limit is {reward.per_customer_limit}"
            )


def _stage(
    session: Session,
    *,
    shop: Shop,
    reward: RewardDefinition,
    profile: CustomerLoyaltyProfile,
    points: int,
    steps: int,
    key: str | None,
    request_hash: str | None,
    now: datetime,
    granted_by_rule_id: int | None = None,
) -> RedemptionLog:
    """The pending redemption row and its outbox row (the debit, if any, is the caller's)."""
    redemption = RedemptionLog(
        shop_id=shop.id,
        profile_id=profile.id,
        reward_id=reward.id,
        points_spent=points,
        steps=steps,
        value=definitions.redemption_value(reward, steps),
        code=new_code(),
        status="pending",
        idempotency_key=key,
        request_hash=request_hash,
        granted_by_rule_id=granted_by_rule_id,
        expires_at=now + timedelta(days=reward.code_expiry_days) if reward.code_expiry_days else None,
        created_at=now,
    )
    session.add(redemption)
    session.flush()
    session.add(
        Outbox(
            shop_id=shop.id,
            kind="discount_code.create",
            dedupe_key=f"redemption:{redemption.id}",
            payload=create_payload(
                shop=shop, reward=reward, redemption=redemption, customer_id=profile.customer_id, now=now
            ),
            next_attempt_at=now,
            created_at=now,
        )
    )
    return redemption


def redeem_reward(
    session: Session,
    *,
    shop: Shop,
    customer_id: str,
    reward_id: int,
    now: datetime,
    idempotency_key: str | None = None,
    steps: int | None = None,
) -> RedemptionResult:
    """Spend the customer's points on a reward: debit, pending redemption with its code, outbox row; all or nothing.

    Raises RewardNotFound (unknown or another shop's reward), RewardUnavailable (inactive, tier, limit),
    InsufficientPoints, InvalidInput (bad steps or key) and Conflict (key reused with other input).
    """
    customer_id = _customer_id(customer_id)
    key = _idempotency_key(idempotency_key)
    request_hash = _request_hash(reward_id=reward_id, steps=steps)
    profile = ledger.lock_existing_profile(session, shop_id=shop.id, customer_id=customer_id)
    if profile is not None and key is not None:
        replayed = _replay(session, profile, key, request_hash)
        if replayed is not None:
            return replayed
    reward = definitions.get_reward(session, shop_id=shop.id, reward_id=reward_id)
    count = _steps(reward, steps)
    cost = reward.points_cost * count
    if profile is None:
        raise InsufficientPoints(customer_id, 0, cost)
    _check_available(session, reward, profile)
    if profile.points_balance < cost:
        raise InsufficientPoints(customer_id, profile.points_balance, cost)

    redemption = _stage(
        session,
        shop=shop,
        reward=reward,
        profile=profile,
        points=cost,
        steps=count,
        key=key,
        request_hash=request_hash,
        now=now,
    )
    ledger.debit(
        session,
        shop=shop,
        profile_id=profile.id,
        points=cost,
        idempotency_key=f"redemption:{redemption.id}",
        cause=ledger.Cause(type="redemption", redemption_id=redemption.id),
        now=now,
        kind="redeem",
        reason=f"Redeemed {reward.name}",
        source=("redemption", str(redemption.id)),
    )
    new_balance = session.execute(
        select(CustomerLoyaltyProfile.points_balance).where(CustomerLoyaltyProfile.id == profile.id)
    ).scalar_one()
    redemption.balance_after = new_balance
    _redeemed_event(session, shop=shop, redemption=redemption, customer_id=customer_id, now=now)
    session.flush()
    return RedemptionResult(redemption=redemption, points_deducted=cost, new_balance=new_balance, replayed=False)


def issue_reward(
    session: Session,
    *,
    shop: Shop,
    profile: CustomerLoyaltyProfile,
    reward_id: int,
    idempotency_key: str,
    now: datetime,
    granted_by_rule_id: int | None = None,
) -> RedemptionResult:
    """Grant a reward without spending points (a rule's issue_reward action, a referral's friend reward), once per
    business key (e.g. "rule:7:a0:order:123"). The caller holds the profile lock. Ignores tier and limits."""
    key = f"grant:{_idempotency_key(idempotency_key)}"
    request_hash = _request_hash(grant=reward_id)
    replayed = _replay(session, profile, key, request_hash)
    if replayed is not None:
        return replayed
    reward = definitions.get_reward(session, shop_id=shop.id, reward_id=reward_id)
    redemption = _stage(
        session,
        shop=shop,
        reward=reward,
        profile=profile,
        points=0,
        steps=1,
        key=key,
        request_hash=request_hash,
        now=now,
        granted_by_rule_id=granted_by_rule_id,
    )
    redemption.balance_after = profile.points_balance
    _redeemed_event(session, shop=shop, redemption=redemption, customer_id=profile.customer_id, now=now)
    session.flush()
    return RedemptionResult(
        redemption=redemption, points_deducted=0, new_balance=profile.points_balance, replayed=False
    )


def _redeemed_event(
    session: Session, *, shop: Shop, redemption: RedemptionLog, customer_id: str, now: datetime
) -> None:
    record_app_event(
        session,
        shop_id=shop.id,
        event_type="reward_redeemed",
        key=f"reward_redeemed:{redemption.id}",
        customer_id=customer_id,
        subject=("redemption", str(redemption.id)),
        data={
            "redemption_id": redemption.id,
            "reward_id": redemption.reward_id,
            "profile_id": redemption.profile_id,
            "points_spent": redemption.points_spent,
            "value": None if redemption.value is None else str(redemption.value),
        },
        now=now,
    )


__all__ = [
    "RedemptionResult",
    "issue_reward",
    "redeem_reward",
]
