"""Helpers shared by the loyalty tests: profiles, orders, earning and spending, and the invariant checks every ledger
test ends with."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from app.loyalty import ledger
from app.loyalty.ledger.profiles import lock_profile
from app.models import CustomerLoyaltyProfile, Order, PointsLot, PointsTransaction, Shop


def profile(session: Session, shop: Shop, now: datetime, customer_id: str = "1001") -> CustomerLoyaltyProfile:
    return lock_profile(session, shop_id=shop.id, customer_id=customer_id, now=now)


def add_order(
    session: Session,
    shop: Shop,
    prof: CustomerLoyaltyProfile,
    order_id: str,
    total: str,
    placed_at: datetime,
    subtotal: str | None = None,
    **columns: object,
) -> Order:
    """The shop's `orders` row for this customer's order (subtotal = total unless given)."""
    row = Order(
        shop_id=shop.id,
        profile_id=prof.id,
        order_id=order_id,
        total=Decimal(total),
        subtotal=Decimal(subtotal or total),
        placed_at=placed_at,
        **columns,
    )
    session.add(row)
    session.flush()
    return row


def event_cause() -> ledger.Cause:
    return ledger.Cause(type="event", event_id=uuid.uuid4())


def earn(
    session: Session,
    shop: Shop,
    prof: CustomerLoyaltyProfile,
    points: int,
    key: str,
    now: datetime,
    order_id: str | None = None,
    hold: bool = False,
) -> ledger.CreditResult:
    """Credit `points` earned by a synthetic event, posted or (`hold`) held for the return window; `order_id` makes
    that order the credit's source, as the rule path does."""
    return ledger.credit(
        session,
        shop=shop,
        profile_id=prof.id,
        kind="earn",
        points=points,
        idempotency_key=key,
        cause=event_cause(),
        now=now,
        source=("order", order_id) if order_id else None,
        hold_for_return_window=hold,
    )


def spend(
    session: Session, shop: Shop, prof: CustomerLoyaltyProfile, points: int, key: str, now: datetime
) -> ledger.DebitResult:
    """Debit `points` as a redemption would (a system cause): the counterpart of `earn`."""
    return ledger.debit(
        session,
        shop=shop,
        profile_id=prof.id,
        points=points,
        idempotency_key=key,
        cause=ledger.Cause("system"),
        now=now,
    )


def refund(
    session: Session,
    shop: Shop,
    prof: CustomerLoyaltyProfile,
    order_id: str,
    refund_id: str,
    amount: str,
    now: datetime,
    basis: str = "subtotal",
) -> ledger.ReversalResult:
    """Apply a refund of `amount` (of the order's `basis`) as a `refunds/create` event would."""
    return ledger.apply_refund(
        session,
        shop=shop,
        profile=prof,
        order_id=order_id,
        refund_id=refund_id,
        refunded_amount=Decimal(amount),
        event_id=uuid.uuid4(),
        now=now,
        basis=basis,
    )


def stored(session: Session, profile_id: int) -> CustomerLoyaltyProfile:
    return session.execute(
        select(CustomerLoyaltyProfile)
        .where(CustomerLoyaltyProfile.id == profile_id)
        .execution_options(populate_existing=True)
    ).scalar_one()


def entries(session: Session, profile_id: int) -> list[PointsTransaction]:
    return list(
        session.execute(
            select(PointsTransaction).where(PointsTransaction.profile_id == profile_id).order_by(PointsTransaction.id)
        ).scalars()
    )


def lots_remaining(session: Session, profile_id: int) -> int:
    return int(
        session.execute(
            select(func.coalesce(func.sum(PointsLot.remaining), 0)).where(PointsLot.profile_id == profile_id)
        ).scalar_one()
    )


def assert_sound(session: Session, shop: Shop) -> None:
    """L1 and the lot invariant for every profile: stored balance = sum of entries, lots = max(balance, 0)."""
    session.flush()
    assert ledger.drifted_profiles(session, shop_id=shop.id) == []


def run_concurrently(session_factory, work, *, times: int = 2) -> list:  # type: ignore[no-untyped-def]
    """Run `work(session)` in `times` threads, each in its own transaction, started together; their results."""
    results: list = []  # type: ignore[type-arg]
    barrier = threading.Barrier(times)

    def run() -> None:
        with session_factory.begin() as session:
            barrier.wait()
            results.append(work(session))

    threads = [threading.Thread(target=run) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@contextmanager
def sent_statements(session: Session) -> Iterator[list[tuple[str, Any]]]:
    """Every statement the session's connection sends inside the block, with its parameters."""
    sent: list[tuple[str, Any]] = []

    def record(_conn, _cursor, statement, parameters, *_args):  # type: ignore[no-untyped-def]
        sent.append((statement, parameters))

    connection = session.connection()
    event.listen(connection, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(connection, "before_cursor_execute", record)


def widest(sent: list[tuple[str, Any]]) -> int:
    """The most parameters one of these statements bound: PostgreSQL takes at most 65,535, so a batch's values must
    travel as arrays, not a parameter each."""
    return max(len(parameters or ()) for _statement, parameters in sent)
