"""ledger.credit / ledger.debit / post_entry against real PostgreSQL: keys, lots, balances, expiry dates."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.loyalty import ledger
from app.loyalty.base.errors import InsufficientPoints, InvalidInput
from app.models import PendingCredit, PointsLot, PointsTransaction
from tests.loyalty.ledger_helpers import (
    add_order,
    assert_sound,
    earn,
    entries,
    event_cause,
    profile,
    stored,
)


def test_credit_posts_entry_lot_and_balance(db_session, shop, now):
    prof = profile(db_session, shop, now)
    result = earn(db_session, shop, prof, 120, "rule:1:a0:order:1", now)
    assert result.duplicate is False and result.pending is None
    assert result.entry is not None and result.entry.points == 120 and result.entry.kind == "earn"
    row = stored(db_session, prof.id)
    assert (row.points_balance, row.lifetime_earned, row.points_pending) == (120, 120, 0)
    lot = db_session.execute(select(PointsLot)).scalar_one()
    assert (lot.points, lot.remaining, lot.expires_at, lot.entry_id) == (120, 120, None, result.entry.id)
    assert_sound(db_session, shop)


def test_same_key_credits_once(db_session, shop, now):
    prof = profile(db_session, shop, now)
    earn(db_session, shop, prof, 50, "k", now)
    again = earn(db_session, shop, prof, 70, "k", now)
    assert again == ledger.CreditResult(entry=None, pending=None, duplicate=True)
    assert stored(db_session, prof.id).points_balance == 50
    assert len(entries(db_session, prof.id)) == 1


def test_key_of_a_pending_credit_is_a_duplicate_even_without_hold(db_session, make_shop, now):
    shop = make_shop(return_window_days=14)
    prof = profile(db_session, shop, now)
    held = earn(db_session, shop, prof, 40, "k", now, hold=True)
    assert held.pending is not None and held.entry is None
    again = earn(db_session, shop, prof, 40, "k", now)
    assert again.duplicate is True
    row = stored(db_session, prof.id)
    assert (row.points_balance, row.points_pending) == (0, 40)
    assert entries(db_session, prof.id) == []


def test_hold_without_return_window_posts_at_once(db_session, shop, now):
    prof = profile(db_session, shop, now)
    result = earn(db_session, shop, prof, 40, "k", now, hold=True)
    assert result.entry is not None and result.pending is None
    assert db_session.execute(select(func.count()).select_from(PendingCredit)).scalar_one() == 0


def test_pending_credit_is_available_after_the_window(db_session, make_shop, now):
    shop = make_shop(return_window_days=30)
    prof = profile(db_session, shop, now)
    result = earn(db_session, shop, prof, 40, "k", now, hold=True)
    assert result.pending is not None
    assert result.pending.available_at == now + timedelta(days=30)
    assert result.pending.status == "pending"


@pytest.mark.parametrize("points", [0, -5])
def test_credit_refuses_non_positive_points(db_session, shop, now, points):
    prof = profile(db_session, shop, now)
    with pytest.raises(InvalidInput, match=f"positive number of points, got {points}"):
        earn(db_session, shop, prof, points, "k", now)
    assert entries(db_session, prof.id) == [] and stored(db_session, prof.id).points_balance == 0


def test_credit_refuses_a_debit_kind(db_session, shop, now):
    prof = profile(db_session, shop, now)
    with pytest.raises(InvalidInput, match="'redeem' is not a credit kind"):
        ledger.credit(
            db_session,
            shop=shop,
            profile_id=prof.id,
            kind="redeem",
            points=5,
            idempotency_key="k",
            cause=event_cause(),
            now=now,
        )
    assert entries(db_session, prof.id) == []


def test_credit_from_an_order_adds_to_what_the_order_earned(db_session, make_shop, now):
    shop = make_shop(return_window_days=7)
    prof = profile(db_session, shop, now)
    row = add_order(db_session, shop, prof, "9001", "100.00", now)
    earn(db_session, shop, prof, 100, "rule:1:a0:order:9001", now, order_id="9001")
    earn(db_session, shop, prof, 25, "rule:2:a0:order:9001", now, order_id="9001", hold=True)
    earn(db_session, shop, prof, 25, "rule:2:a0:order:9001", now, order_id="9001", hold=True)  # duplicate
    db_session.refresh(row)
    assert row.points_earned == 125


def test_debit_consumes_oldest_lots_first(db_session, shop, now):
    prof = profile(db_session, shop, now)
    earn(db_session, shop, prof, 30, "a", now)
    earn(db_session, shop, prof, 50, "b", now + timedelta(minutes=1))
    result = ledger.debit(
        db_session,
        shop=shop,
        profile_id=prof.id,
        points=40,
        idempotency_key="r1",
        cause=ledger.Cause(type="system"),
        now=now + timedelta(minutes=2),
    )
    assert result.entry is not None and result.entry.points == -40 and result.entry.kind == "redeem"
    remaining = db_session.execute(select(PointsLot.remaining).order_by(PointsLot.id)).scalars().all()
    assert remaining == [0, 40]
    row = stored(db_session, prof.id)
    assert (row.points_balance, row.lifetime_redeemed, row.lifetime_earned) == (40, 40, 80)
    assert_sound(db_session, shop)


def test_debit_refuses_to_overspend_and_writes_nothing(db_session, shop, now):
    prof = profile(db_session, shop, now)
    earn(db_session, shop, prof, 30, "a", now)
    with pytest.raises(InsufficientPoints) as caught:
        ledger.debit(
            db_session,
            shop=shop,
            profile_id=prof.id,
            points=31,
            idempotency_key="r1",
            cause=ledger.Cause(type="system"),
            now=now,
        )
    assert (caught.value.balance, caught.value.needed, caught.value.customer_id) == (30, 31, "1001")
    assert str(caught.value) == "customer 1001 has 30 points; this needs 31"
    assert stored(db_session, prof.id).points_balance == 30
    assert [e.points for e in entries(db_session, prof.id)] == [30]
    assert_sound(db_session, shop)


def test_debit_same_key_spends_once(db_session, shop, now):
    prof = profile(db_session, shop, now)
    earn(db_session, shop, prof, 30, "a", now)
    for _ in range(2):
        result = ledger.debit(
            db_session,
            shop=shop,
            profile_id=prof.id,
            points=10,
            idempotency_key="r1",
            cause=ledger.Cause(type="system"),
            now=now,
        )
    assert result == ledger.DebitResult(entry=None, duplicate=True)
    assert stored(db_session, prof.id).points_balance == 20


@pytest.mark.parametrize("points", [0, -1])
def test_debit_refuses_non_positive_points(db_session, shop, now, points):
    prof = profile(db_session, shop, now)
    with pytest.raises(InvalidInput, match="positive number of points"):
        ledger.debit(
            db_session,
            shop=shop,
            profile_id=prof.id,
            points=points,
            idempotency_key="r",
            cause=ledger.Cause(type="system"),
            now=now,
        )
    assert entries(db_session, prof.id) == []


def test_after_earning_policy_dates_each_lot(db_session, make_shop, now):
    shop = make_shop(points_expiry_policy="after_earning", points_expiry_days=365)
    prof = profile(db_session, shop, now)
    earn(db_session, shop, prof, 10, "a", now)
    lot = db_session.execute(select(PointsLot)).scalar_one()
    assert lot.expires_at == now + timedelta(days=365)


def test_inactivity_policy_moves_every_open_lot_with_activity(db_session, make_shop, now):
    shop = make_shop(points_expiry_policy="inactivity", points_expiry_days=90)
    prof = profile(db_session, shop, now)
    earn(db_session, shop, prof, 10, "a", now)
    later = now + timedelta(days=60)
    earn(db_session, shop, prof, 5, "b", later)
    expiries = db_session.execute(select(PointsLot.expires_at).order_by(PointsLot.id)).scalars().all()
    assert expiries == [later + timedelta(days=90)] * 2
    # An admin adjustment is not customer activity: it moves no other lot; its own lot runs N days from its credit.
    adjusted = later + timedelta(days=10)
    ledger.credit(
        db_session,
        shop=shop,
        profile_id=prof.id,
        kind="adjustment",
        points=3,
        idempotency_key="adj",
        cause=ledger.Cause(type="admin", actor="staff@shop"),
        now=adjusted,
    )
    expiries = db_session.execute(select(PointsLot.expires_at).order_by(PointsLot.id)).scalars().all()
    assert expiries == [later + timedelta(days=90)] * 2 + [adjusted + timedelta(days=90)]
    assert stored(db_session, prof.id).last_activity_at == later


def test_entries_cannot_be_updated(db_session, shop, now):
    prof = profile(db_session, shop, now)
    earn(db_session, shop, prof, 10, "a", now)
    db_session.commit()
    from sqlalchemy import update
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError, match="append-only"):
        db_session.execute(update(PointsTransaction).values(points=11))
    db_session.rollback()
    assert [e.points for e in entries(db_session, prof.id)] == [10]
