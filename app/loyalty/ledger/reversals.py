"""Taking back what one business object (an order, an import batch) credited to a customer: the core under refunds,
cancellations and import reversals.

The object's credits are its *items*: pending credits still held for the return window, and posted credit entries
(each with its lot). A claim of N points is spread over the items: pending points are cancelled first (they were
never spendable), then posted credits, oldest first. Each posted item gets one reversal entry that points at it
(`reverses_id`) and takes from its own lot first. `points_lots.reversed_points` counts what was claimed from each
credit, taken or forgiven, and a CHECK keeps it <= the credit (L8).

What a credit lost to expiry (its `expiry` entry) is gone already and is never claimed again: a claim on a credit
takes at most `points - reversed - expired`, and `earned_by` reports the expired part, which refunds count as taken.
Claiming it again would take the customer's other points (or push the balance below zero) for points they never had.

Beyond the balance (L9): with `negative_balance_policy = "allow"` the whole claim is posted and the balance may go
below zero; with `"cap"` an entry takes at most the positive balance and records the rest as `shortfall` on the
entry. A claim capped to nothing writes no entry (0 points cannot be one); its shortfall is recorded on the request's
`ledger_reversals` row, which always satisfies claimed = pending cancelled + reversed + shortfall.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, any_, func, literal, select, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.orm import Session

from app.loyalty.ledger import entries
from app.models import (
    CustomerLoyaltyProfile,
    LedgerReversal,
    PendingCredit,
    PointsLot,
    PointsTransaction,
    Shop,
)

# Credits an object "earned" and that a reversal of it takes back (a returned redemption is not one).
REVERSIBLE_KINDS = tuple(sorted(entries.CREDIT_KINDS - {"redemption_refund"}))


@dataclass(frozen=True)
class Earned:
    """What an object credited a profile (`earned`), how much of it was already claimed back (`reversed`) and how
    much its posted credits lost to expiry (`expired`, never claimable)."""

    earned: int
    reversed: int
    expired: int = 0

    @property
    def claimable(self) -> int:
        """What a take-back can still claim."""
        return max(0, self.earned - self.reversed - self.expired)


@dataclass
class TakeBack:
    """What one claim did: pending points cancelled, points reversed by entries, and the capped shortfall."""

    pending_cancelled: int = 0
    points_reversed: int = 0
    shortfall: int = 0
    entries: list[PointsTransaction] = field(default_factory=list)

    @property
    def claimed(self) -> int:
        """The points claimed: what was cancelled, reversed and capped (a claim is always spread in full)."""
        return self.pending_cancelled + self.points_reversed + self.shortfall

    def add(self, other: TakeBack) -> None:
        """Count another claim of the same request into this one."""
        self.pending_cancelled += other.pending_cancelled
        self.points_reversed += other.points_reversed
        self.shortfall += other.shortfall
        self.entries.extend(other.entries)

    def request_columns(self) -> dict[str, int]:
        """The totals as the request's `ledger_reversals` row records them."""
        return {
            "points_claimed": self.claimed,
            "pending_cancelled": self.pending_cancelled,
            "points_reversed": self.points_reversed,
            "shortfall": self.shortfall,
        }


def _pending_items(session: Session, *, shop_id: int, profile_id: int, source: tuple[str, str]) -> list[PendingCredit]:
    return list(
        session.execute(
            select(PendingCredit)
            .where(
                PendingCredit.shop_id == shop_id,
                PendingCredit.profile_id == profile_id,
                PendingCredit.source_type == source[0],
                PendingCredit.source_id == source[1],
                PendingCredit.kind.in_(REVERSIBLE_KINDS),
            )
            .order_by(PendingCredit.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).scalars()
    )


def _posted_items(session: Session, *, shop_id: int, profile_id: int, source: tuple[str, str]) -> list[PointsLot]:
    return list(
        session.execute(
            select(PointsLot)
            .join(PointsTransaction, PointsTransaction.id == PointsLot.entry_id)
            .where(
                PointsTransaction.shop_id == shop_id,
                PointsTransaction.profile_id == profile_id,
                PointsTransaction.source_type == source[0],
                PointsTransaction.source_id == source[1],
                PointsTransaction.kind.in_(REVERSIBLE_KINDS),
            )
            .order_by(PointsLot.entry_id)
            .with_for_update(of=PointsLot)
            .execution_options(populate_existing=True)
        ).scalars()
    )


def _expired(session: Session, *, shop_id: int, profile_id: int, lots: list[PointsLot]) -> dict[int, int]:
    """{lot id: points its credit lost to expiry} of these lots (only those that expired with points left)."""
    by_entry = {lot.entry_id: lot.id for lot in lots if lot.expired_at is not None}
    if not by_entry:
        return {}
    rows = session.execute(
        select(PointsTransaction.reverses_id, func.sum(-PointsTransaction.points))
        .where(
            PointsTransaction.shop_id == shop_id,
            PointsTransaction.profile_id == profile_id,
            PointsTransaction.kind == "expiry",
            PointsTransaction.reverses_id == any_(literal(list(by_entry), ARRAY(BigInteger))),
        )
        .group_by(PointsTransaction.reverses_id)
    ).all()
    return {by_entry[entry_id]: int(points) for entry_id, points in rows}


def open_request(
    session: Session,
    *,
    shop_id: int,
    profile_id: int,
    kind: str,
    key: str,
    source: tuple[str, str],
    now: datetime,
    **details: Any,
) -> int | None:
    """Record one take-back request (a `ledger_reversals` row) under its key; None if the key is recorded already,
    so a repeated request does nothing. `close_request` writes what it took once the claim is spread."""
    return session.execute(
        insert(LedgerReversal)
        .values(
            shop_id=shop_id,
            profile_id=profile_id,
            kind=kind,
            idempotency_key=key,
            source_type=source[0],
            source_id=source[1],
            created_at=now,
            **details,
        )
        .on_conflict_do_nothing(index_elements=["shop_id", "idempotency_key"])
        .returning(LedgerReversal.id)
    ).scalar_one_or_none()


def close_request(session: Session, request_id: int, taken: TakeBack, **details: Any) -> None:
    """Write on the request's row what its claims took (claimed = pending cancelled + reversed + shortfall)."""
    session.execute(
        update(LedgerReversal).where(LedgerReversal.id == request_id).values(**taken.request_columns(), **details)
    )


def earned_by(session: Session, *, shop_id: int, profile_id: int, source: tuple[str, str]) -> Earned:
    """What `source` credited this profile, pending or posted, and how much of that was already claimed back.

    A released pending credit is counted by its lot (which holds what was left after cancellations) plus what was
    cancelled before release, so nothing is counted twice.
    """
    earned = reversed_ = 0
    for pending in _pending_items(session, shop_id=shop_id, profile_id=profile_id, source=source):
        earned += pending.points_cancelled
        reversed_ += pending.points_cancelled
        if pending.status == "pending":
            earned += pending.points - pending.points_cancelled
    lots = _posted_items(session, shop_id=shop_id, profile_id=profile_id, source=source)
    for lot in lots:
        earned += lot.points
        reversed_ += lot.reversed_points
    expired = sum(_expired(session, shop_id=shop_id, profile_id=profile_id, lots=lots).values())
    return Earned(earned=earned, reversed=reversed_, expired=expired)


def reversal_entry(
    *,
    shop_id: int,
    profile_id: int,
    credit_id: int,
    want: int,
    take: int,
    request_key: str,
    cause: entries.Cause,
    now: datetime,
    reason: str | None,
    source: tuple[str, str],
) -> dict[str, Any]:
    """The entry that takes back `take` of the `want` points claimed from one credit (the rest is its shortfall), as
    the arguments of entries.entry_row and post_entry: its key is `<request_key>:reverses:<credit id>`."""
    return {
        "shop_id": shop_id,
        "profile_id": profile_id,
        "kind": "reversal",
        "points": -take,
        "idempotency_key": f"{request_key}:reverses:{credit_id}",
        "cause": cause,
        "now": now,
        "reason": reason,
        "source": source,
        "reverses_id": credit_id,
        "shortfall": want - take,
    }


def take_back(
    session: Session,
    *,
    shop: Shop,
    profile_id: int,
    source: tuple[str, str],
    claim: int,
    request_key: str,
    cause: entries.Cause,
    now: datetime,
    reason: str | None = None,
) -> TakeBack:
    """Take back `claim` points of what `source` credited this profile (see the module docstring for the order and
    the negative-balance policy). The caller holds the profile lock and has checked claim <= `earned_by(...)
    .claimable`.

    Entry keys are `<request_key>:reverses:<entry id>`, so one request reverses each credit at most once.
    """
    result = TakeBack()
    left = claim
    for pending in _pending_items(session, shop_id=shop.id, profile_id=profile_id, source=source):
        if left == 0:
            break
        if pending.status != "pending":
            continue
        cancel = min(left, pending.points - pending.points_cancelled)
        if cancel == 0:
            continue
        fully = pending.points_cancelled + cancel == pending.points
        session.execute(
            update(PendingCredit)
            .where(PendingCredit.id == pending.id)
            .values(
                points_cancelled=PendingCredit.points_cancelled + cancel,
                status="cancelled" if fully else "pending",
                resolved_at=now if fully else None,
            )
        )
        session.execute(
            update(CustomerLoyaltyProfile)
            .where(CustomerLoyaltyProfile.id == profile_id)
            .values(points_pending=CustomerLoyaltyProfile.points_pending - cancel, updated_at=now)
        )
        result.pending_cancelled += cancel
        left -= cancel

    lots = _posted_items(session, shop_id=shop.id, profile_id=profile_id, source=source)
    expired = _expired(session, shop_id=shop.id, profile_id=profile_id, lots=lots) if left else {}
    for lot in lots:
        if left == 0:
            break
        want = min(left, max(0, lot.points - lot.reversed_points - expired.get(lot.id, 0)))
        if want == 0:
            continue
        take = want
        if shop.negative_balance_policy != "allow":
            balance = session.execute(
                select(CustomerLoyaltyProfile.points_balance).where(CustomerLoyaltyProfile.id == profile_id)
            ).scalar_one()
            take = min(want, max(0, balance))
        session.execute(
            update(PointsLot).where(PointsLot.id == lot.id).values(reversed_points=PointsLot.reversed_points + want)
        )
        if take:
            entry = entries.post_entry(
                session,
                **reversal_entry(
                    shop_id=shop.id,
                    profile_id=profile_id,
                    credit_id=lot.entry_id,
                    want=want,
                    take=take,
                    request_key=request_key,
                    cause=cause,
                    now=now,
                    reason=reason,
                    source=source,
                ),
                prefer_lot_id=lot.id,
            )
            if entry is None:  # the request key is unique, so its entry keys are too
                raise RuntimeError(f"reversal key {request_key}:reverses:{lot.entry_id} was already used")
            result.entries.append(entry)
        result.points_reversed += take
        result.shortfall += want - take
        left -= want
    if left:
        raise RuntimeError(f"claim of {claim} points exceeds what {source[0]} {source[1]} has left to take back")
    return result


def take_back_rest(
    session: Session,
    *,
    shop: Shop,
    profile_id: int,
    source: tuple[str, str],
    request_key: str,
    cause: entries.Cause,
    now: datetime,
    reason: str | None = None,
) -> TakeBack:
    """Take back all that `source` credited this profile and is not claimed back yet (nothing when nothing is left),
    as `take_back` does; the caller holds the profile lock."""
    so_far = earned_by(session, shop_id=shop.id, profile_id=profile_id, source=source)
    if so_far.claimable == 0:
        return TakeBack()
    return take_back(
        session,
        shop=shop,
        profile_id=profile_id,
        source=source,
        claim=so_far.claimable,
        request_key=request_key,
        cause=cause,
        now=now,
        reason=reason,
    )
