"""The append-only points ledger: every balance change is one entry, written with the stored balance it changes.

Invariants held here (DESIGN.md, reference/reliability.md L1-L10): balance = sum of entries, updated in the same
transaction; one idempotency key credits at most once per shop (in the ledger or as a pending credit); every entry
names its cause; credits become lots that debits consume oldest first.

Lots and negative balances: the lots' `remaining` always sum to max(balance, 0). A balance can only go below zero
through a reversal when the shop allows it; then every lot is empty, and later credits first repay that debt (their
lot starts with `points - repaid` remaining).

Expiry dates (`lot_expiry`): `never` -> no date; `after_earning` -> N days after the lot was credited;
`inactivity` -> a lot expires N days after the later of its own credit and the customer's last activity, so each
activity moves all the profile's open lots to now + N days. Activity is an earn (posted or held for the return window)
or a redemption (`ACTIVITY_KINDS`), never a referral credit, adjustment, import, reversal or expiry.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, String, any_, func, literal, or_, select, tuple_, union_all, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.orm import Session

from app.loyalty.base.bulk import pairs_table
from app.loyalty.base.errors import InsufficientPoints, InvalidInput
from app.models import (
    CustomerLoyaltyProfile,
    Order,
    PendingCredit,
    PointsLot,
    PointsTransaction,
    Shop,
)

CREDIT_KINDS = frozenset({"earn", "adjustment", "import", "referral", "redemption_refund"})
DEBIT_KINDS = frozenset({"redeem", "adjustment"})
# Credits that count toward lifetime_earned (a returned redemption is not new earning).
EARNING_KINDS = frozenset({"earn", "adjustment", "import", "referral"})
# What the inactivity expiry policy counts as the customer being active (a referral credit is the friend's doing).
ACTIVITY_KINDS = frozenset({"earn", "redeem"})


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


@dataclass(frozen=True)
class CreditResult:
    """What `credit` did: posted `entry`, or held `pending`, or nothing because the key was used (`duplicate`)."""

    entry: PointsTransaction | None
    pending: PendingCredit | None
    duplicate: bool


@dataclass(frozen=True)
class DebitResult:
    """What `debit` did: posted `entry`, or nothing because the key was used (`duplicate`)."""

    entry: PointsTransaction | None
    duplicate: bool


def lot_expiry(shop: Shop, *, credited_at: datetime, last_activity_at: datetime | None) -> datetime | None:
    """When a lot credited at `credited_at` expires under the shop's current policy (see the module docstring)."""
    if shop.points_expiry_policy == "never" or not shop.points_expiry_days:
        return None
    days = timedelta(days=shop.points_expiry_days)
    if shop.points_expiry_policy == "inactivity":
        return max(last_activity_at or credited_at, credited_at) + days
    return credited_at + days


def new_lot_expiry(session: Session, *, shop: Shop, profile_id: int, now: datetime) -> datetime | None:
    """When a lot credited to this profile now expires (`lot_expiry`, with the profile's last activity as stored)."""
    if shop.points_expiry_policy != "inactivity" or not shop.points_expiry_days:
        return lot_expiry(shop, credited_at=now, last_activity_at=None)  # the last activity does not matter
    last_activity = session.execute(
        select(CustomerLoyaltyProfile.last_activity_at).where(CustomerLoyaltyProfile.id == profile_id)
    ).scalar_one()
    return lot_expiry(shop, credited_at=now, last_activity_at=last_activity)


def key_used(session: Session, *, shop_id: int, idempotency_key: str) -> bool:
    """True if this key names an entry in the ledger or a pending credit (held, released or cancelled)."""
    return bool(keys_used(session, {(shop_id, idempotency_key)}))


def keys_used(session: Session, keys: set[tuple[int, str]]) -> set[tuple[int, str]]:
    """Which of these (shop id, idempotency key) pairs name an entry in the ledger or a pending credit, one statement
    of the same text for any number of keys."""
    if not keys:
        return set()
    wanted = pairs_table(list(keys), (BigInteger(), String()), ("shop_id", "key"))
    in_ledger = select(PointsTransaction.shop_id, PointsTransaction.idempotency_key).where(
        tuple_(PointsTransaction.shop_id, PointsTransaction.idempotency_key).in_(select(wanted.c.shop_id, wanted.c.key))
    )
    in_pending = select(PendingCredit.shop_id, PendingCredit.idempotency_key).where(
        tuple_(PendingCredit.shop_id, PendingCredit.idempotency_key).in_(select(wanted.c.shop_id, wanted.c.key))
    )
    return {(shop_id, key) for shop_id, key in session.execute(union_all(in_ledger, in_pending))}


def record_activity(session: Session, *, shop: Shop, profile_id: int, now: datetime) -> None:
    """Mark the customer active at `now`; under the inactivity policy, move every open lot's expiry to now + N."""
    session.execute(
        update(CustomerLoyaltyProfile)
        .where(CustomerLoyaltyProfile.id == profile_id, CustomerLoyaltyProfile.shop_id == shop.id)
        .values(last_activity_at=func.greatest(func.coalesce(CustomerLoyaltyProfile.last_activity_at, now), now))
    )
    extend_open_lots(session, shop=shop, profile_ids=[profile_id], now=now)


def extend_open_lots(session: Session, *, shop: Shop, profile_ids: list[int], now: datetime) -> None:
    """Under the inactivity policy, move every open lot of these profiles to expire N days from now (they were
    active now); nothing under other policies."""
    if shop.points_expiry_policy == "inactivity" and shop.points_expiry_days:
        session.execute(
            update(PointsLot)
            .where(
                PointsLot.shop_id == shop.id,
                PointsLot.profile_id == any_(literal(profile_ids, ARRAY(BigInteger))),  # one parameter for any number
                PointsLot.remaining > 0,
                PointsLot.expired_at.is_(None),
                or_(
                    PointsLot.expires_at.is_(None), PointsLot.expires_at < now + timedelta(days=shop.points_expiry_days)
                ),
            )
            .values(expires_at=now + timedelta(days=shop.points_expiry_days))
        )


def holds(shop: Shop, *, hold_for_return_window: bool) -> bool:
    """Whether a credit asked to wait for the return window is held as a pending credit (the shop has a window)."""
    return hold_for_return_window and shop.return_window_days > 0


def pending_row(
    *,
    shop: Shop,
    profile_id: int,
    kind: str,
    points: int,
    idempotency_key: str,
    cause: Cause,
    now: datetime,
    reason: str | None,
    source: tuple[str, str] | None,
) -> dict[str, Any]:
    """The pending_credits row of a credit held for the shop's return window (released when it has passed)."""
    source_type, source_id = source if source else (None, None)
    return {
        "shop_id": shop.id,
        "profile_id": profile_id,
        "kind": kind,
        "points": points,
        "idempotency_key": idempotency_key,
        "source_type": source_type,
        "source_id": source_id,
        "reason": reason,
        "available_at": now + timedelta(days=shop.return_window_days),
        "created_at": now,
        **cause.columns(),
    }


def entry_row(
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
    reverses_id: int | None = None,
    details: dict[str, Any] | None = None,
    shortfall: int = 0,
) -> dict[str, Any]:
    """The points_transactions row of one ledger entry."""
    source_type, source_id = source if source else (None, None)
    return {
        "shop_id": shop_id,
        "profile_id": profile_id,
        "kind": kind,
        "points": points,
        "idempotency_key": idempotency_key,
        "reason": reason,
        "source_type": source_type,
        "source_id": source_id,
        "reverses_id": reverses_id,
        "shortfall": shortfall,
        "details": details or {},
        "created_at": now,
        **cause.columns(),
    }


def lot_row(
    *,
    shop_id: int,
    profile_id: int,
    entry_id: int,
    points: int,
    balance_before: int,
    now: datetime,
    expires_at: datetime | None,
) -> dict[str, Any]:
    """The points_lots row of a credit of `points` to a balance of `balance_before`: what the credit does not spend
    repaying a negative balance stays in the lot."""
    repaid = min(points, max(0, -balance_before))
    return {
        "shop_id": shop_id,
        "profile_id": profile_id,
        "entry_id": entry_id,
        "points": points,
        "remaining": points - repaid,
        "earned_at": now,
        "expires_at": expires_at,
    }


def credit(
    session: Session,
    *,
    shop: Shop,
    profile_id: int,
    kind: str,
    points: int,
    idempotency_key: str,
    cause: Cause,
    now: datetime,
    reason: str | None = None,
    source: tuple[str, str] | None = None,
    hold_for_return_window: bool = False,
) -> CreditResult:
    """Credit `points` once per key: a lot expiring per the shop's policy, or a pending credit held for the return
    window (when `hold_for_return_window` and the shop has one). The caller holds the profile lock.

    A key already used (posted, or held/released/cancelled as pending) writes nothing and says `duplicate`. A credit
    whose source is ("order", id) also adds to `orders.points_earned` of that order, the basis refunds prorate from.
    """
    if points <= 0:
        raise InvalidInput(f"a credit must be a positive number of points, got {points}")
    if kind not in CREDIT_KINDS:
        raise InvalidInput(f"{kind!r} is not a credit kind ({', '.join(sorted(CREDIT_KINDS))})")
    if key_used(session, shop_id=shop.id, idempotency_key=idempotency_key):
        return CreditResult(entry=None, pending=None, duplicate=True)
    if kind in ACTIVITY_KINDS:
        record_activity(session, shop=shop, profile_id=profile_id, now=now)

    if holds(shop, hold_for_return_window=hold_for_return_window):
        row = pending_row(
            shop=shop,
            profile_id=profile_id,
            kind=kind,
            points=points,
            idempotency_key=idempotency_key,
            cause=cause,
            now=now,
            reason=reason,
            source=source,
        )
        pending_id = session.execute(
            insert(PendingCredit)
            .values(**row)
            .on_conflict_do_nothing(index_elements=["shop_id", "idempotency_key"])
            .returning(PendingCredit.id)
        ).scalar_one_or_none()
        if pending_id is None:
            return CreditResult(entry=None, pending=None, duplicate=True)
        session.execute(
            update(CustomerLoyaltyProfile)
            .where(CustomerLoyaltyProfile.id == profile_id, CustomerLoyaltyProfile.shop_id == shop.id)
            .values(points_pending=CustomerLoyaltyProfile.points_pending + points, updated_at=now)
        )
        _add_order_earned(session, shop_id=shop.id, profile_id=profile_id, source=source, kind=kind, points=points)
        return CreditResult(entry=None, pending=session.get(PendingCredit, pending_id), duplicate=False)

    entry = post_entry(
        session,
        shop_id=shop.id,
        profile_id=profile_id,
        kind=kind,
        points=points,
        idempotency_key=idempotency_key,
        cause=cause,
        now=now,
        reason=reason,
        source=source,
        expires_at=new_lot_expiry(session, shop=shop, profile_id=profile_id, now=now),
    )
    if entry is None:
        return CreditResult(entry=None, pending=None, duplicate=True)
    _add_order_earned(session, shop_id=shop.id, profile_id=profile_id, source=source, kind=kind, points=points)
    return CreditResult(entry=entry, pending=None, duplicate=False)


def debit(
    session: Session,
    *,
    shop: Shop,
    profile_id: int,
    points: int,
    idempotency_key: str,
    cause: Cause,
    now: datetime,
    kind: str = "redeem",
    reason: str | None = None,
    source: tuple[str, str] | None = None,
    details: dict[str, Any] | None = None,
) -> DebitResult:
    """Spend `points` once per key, oldest lots first; never below zero (raises InsufficientPoints, nothing written).

    The caller holds the profile lock; the balance is read FOR UPDATE again here so the check and the entry see the
    same row (L4). A used key writes nothing and says `duplicate`.
    """
    if points <= 0:
        raise InvalidInput(f"a debit must be a positive number of points, got {points}")
    if kind not in DEBIT_KINDS:
        raise InvalidInput(f"{kind!r} is not a debit kind ({', '.join(sorted(DEBIT_KINDS))})")
    if key_used(session, shop_id=shop.id, idempotency_key=idempotency_key):
        return DebitResult(entry=None, duplicate=True)
    customer_id, balance = session.execute(
        select(CustomerLoyaltyProfile.customer_id, CustomerLoyaltyProfile.points_balance)
        .where(CustomerLoyaltyProfile.id == profile_id, CustomerLoyaltyProfile.shop_id == shop.id)
        .with_for_update()
    ).one()
    if balance < points:
        raise InsufficientPoints(customer_id, balance, points)
    if kind in ACTIVITY_KINDS:
        record_activity(session, shop=shop, profile_id=profile_id, now=now)
    entry = post_entry(
        session,
        shop_id=shop.id,
        profile_id=profile_id,
        kind=kind,
        points=-points,
        idempotency_key=idempotency_key,
        cause=cause,
        now=now,
        reason=reason,
        source=source,
        details=details,
    )
    if entry is None:
        return DebitResult(entry=None, duplicate=True)
    return DebitResult(entry=entry, duplicate=False)


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
    shortfall: int = 0,
    prefer_lot_id: int | None = None,
) -> PointsTransaction | None:
    """Append one entry and move the stored balance by `points`; None if this key was already posted (a no-op).

    The low-level primitive under credit/debit/reversals: it checks no policy. The caller must hold the profile's
    row lock (ledger.lock_profile). A positive entry becomes a lot expiring at `expires_at` (first repaying any
    negative balance); a negative one consumes lots, `prefer_lot_id` first (the lot a reversal takes back), then
    oldest first, never more than the positive part of the balance.
    """
    if points == 0:
        raise ValueError("a ledger entry moves at least one point")
    row = entry_row(
        shop_id=shop_id,
        profile_id=profile_id,
        kind=kind,
        points=points,
        idempotency_key=idempotency_key,
        cause=cause,
        now=now,
        reason=reason,
        source=source,
        reverses_id=reverses_id,
        details=details,
        shortfall=shortfall,
    )
    # RETURNING the whole row gives the entry as an ORM object: no second read of what was just written.
    entry = session.execute(
        insert(PointsTransaction)
        .values(**row)
        .on_conflict_do_nothing(index_elements=["shop_id", "idempotency_key"])
        .returning(PointsTransaction)
    ).scalar_one_or_none()
    if entry is None:
        return None
    entry_id = entry.id

    earned = points if points > 0 and kind in EARNING_KINDS else 0
    redeemed = -points if kind == "redeem" else 0
    values: dict[str, Any] = {
        "points_balance": CustomerLoyaltyProfile.points_balance + points,
        "lifetime_earned": CustomerLoyaltyProfile.lifetime_earned + earned,
        "lifetime_redeemed": CustomerLoyaltyProfile.lifetime_redeemed + redeemed,
        "updated_at": now,
    }
    if kind in ACTIVITY_KINDS:
        values["last_activity_at"] = func.greatest(func.coalesce(CustomerLoyaltyProfile.last_activity_at, now), now)
    new_balance = session.execute(
        update(CustomerLoyaltyProfile)
        .where(CustomerLoyaltyProfile.id == profile_id, CustomerLoyaltyProfile.shop_id == shop_id)
        .values(**values)
        .returning(CustomerLoyaltyProfile.points_balance)
    ).scalar_one()
    balance_before = new_balance - points
    if points > 0:
        session.execute(
            insert(PointsLot).values(
                **lot_row(
                    shop_id=shop_id,
                    profile_id=profile_id,
                    entry_id=entry_id,
                    points=points,
                    balance_before=balance_before,
                    now=now,
                    expires_at=expires_at,
                )
            )
        )
    else:
        covered = min(-points, max(0, balance_before))
        if covered:
            consume_lots(session, shop_id=shop_id, profile_id=profile_id, points=covered, prefer_lot_id=prefer_lot_id)
    return entry


def consume_lots(
    session: Session, *, shop_id: int, profile_id: int, points: int, prefer_lot_id: int | None = None
) -> int:
    """Take `points` from the profile's lots (`prefer_lot_id` first, then oldest first); return what lots could not
    cover."""
    preferred = (PointsLot.id == prefer_lot_id) if prefer_lot_id is not None else literal(False)
    lots = session.execute(
        select(PointsLot.id, PointsLot.remaining)
        .where(PointsLot.shop_id == shop_id, PointsLot.profile_id == profile_id, PointsLot.remaining > 0)
        .order_by(preferred.desc(), PointsLot.earned_at, PointsLot.id)
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


def ledger_balance(session: Session, *, profile_id: int) -> int:
    """The balance as the ledger says it (sum of entries), for checks against the stored balance (L1)."""
    return int(
        session.execute(
            select(func.coalesce(func.sum(PointsTransaction.points), 0)).where(
                PointsTransaction.profile_id == profile_id
            )
        ).scalar_one()
    )


def drifted_profiles(session: Session, *, shop_id: int) -> list[int]:
    """Profiles whose stored balance differs from the sum of their entries, or whose open lots do not sum to the
    positive part of the balance: empty when the ledger is sound (the drift monitor's query)."""
    sums = select(
        PointsTransaction.profile_id.label("profile_id"),
        PointsTransaction.points.label("entry"),
        literal(0).label("lot"),
    ).where(PointsTransaction.shop_id == shop_id)
    lots = select(
        PointsLot.profile_id.label("profile_id"), literal(0).label("entry"), PointsLot.remaining.label("lot")
    ).where(PointsLot.shop_id == shop_id)
    both = union_all(sums, lots).subquery()
    totals = (
        select(both.c.profile_id, func.sum(both.c.entry).label("entries"), func.sum(both.c.lot).label("lots"))
        .group_by(both.c.profile_id)
        .subquery()
    )
    rows = session.execute(
        select(CustomerLoyaltyProfile.id)
        .outerjoin(totals, totals.c.profile_id == CustomerLoyaltyProfile.id)
        .where(
            CustomerLoyaltyProfile.shop_id == shop_id,
            or_(
                CustomerLoyaltyProfile.points_balance != func.coalesce(totals.c.entries, 0),
                func.greatest(CustomerLoyaltyProfile.points_balance, 0) != func.coalesce(totals.c.lots, 0),
            ),
        )
        .order_by(CustomerLoyaltyProfile.id)
    ).scalars()
    return list(rows)


def _add_order_earned(
    session: Session, *, shop_id: int, profile_id: int, source: tuple[str, str] | None, kind: str, points: int
) -> None:
    """Keep `orders.points_earned` (what the order earned, under the rule versions that awarded it) in step."""
    if source is None or source[0] != "order" or kind == "redemption_refund":
        return
    session.execute(
        update(Order)
        .where(
            Order.shop_id == shop_id,
            Order.order_id == source[1],
            or_(Order.profile_id == profile_id, Order.profile_id.is_(None)),
        )
        .values(points_earned=Order.points_earned + points)
    )
