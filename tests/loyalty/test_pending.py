"""Pending points: held for the return window, released once by the sweep, cancelled by refunds inside it."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from app.loyalty import ledger
from app.models import PendingCredit, PointsLot, Shop
from tests.loyalty.ledger_helpers import (
    add_order,
    assert_sound,
    earn,
    entries,
    profile,
    refund,
    run_concurrently,
    stored,
)


def test_release_due_posts_the_held_points_once(db_session, make_shop, now):
    shop = make_shop(return_window_days=14, points_expiry_policy="after_earning", points_expiry_days=30)
    prof = profile(db_session, shop, now)
    held = earn(db_session, shop, prof, 80, "rule:1:a0:order:1", now, hold=True).pending
    assert ledger.release_due(db_session, shop_id=shop.id, now=now + timedelta(days=13)) == 0
    assert stored(db_session, prof.id).points_pending == 80
    sweep_time = now + timedelta(days=20)
    assert ledger.release_due(db_session, shop_id=shop.id, now=sweep_time) == 1
    assert ledger.release_due(db_session, shop_id=shop.id, now=sweep_time) == 0
    row = stored(db_session, prof.id)
    assert (row.points_balance, row.points_pending, row.lifetime_earned) == (80, 0, 80)
    [entry] = entries(db_session, prof.id)
    assert (entry.idempotency_key, entry.kind, entry.cause_type, entry.event_id) == (
        "rule:1:a0:order:1",
        "earn",
        "event",
        held.event_id,
    )
    db_session.refresh(held)
    assert (held.status, held.entry_id, held.resolved_at) == ("released", entry.id, sweep_time)
    # The lot's life runs from the end of the window, not from the (late) sweep.
    lot = db_session.execute(select(PointsLot)).scalar_one()
    assert lot.expires_at == now + timedelta(days=14 + 30)
    assert_sound(db_session, shop)


def held_order_credit(db_session, make_shop, now, *, window_days):
    """A shop with a return window, and a customer whose order 7 earned 100 points held for it."""
    shop = make_shop(return_window_days=window_days)
    prof = profile(db_session, shop, now)
    add_order(db_session, shop, prof, "7", "100.00", now)
    earn(db_session, shop, prof, 100, "rule:1:a0:order:7", now, order_id="7", hold=True)
    return shop, prof


def test_release_posts_what_a_partial_refund_left(db_session, make_shop, now):
    shop, prof = held_order_credit(db_session, make_shop, now, window_days=14)
    refund(db_session, shop, prof, "7", "r1", "40.00", now)
    assert ledger.release_due(db_session, shop_id=shop.id, now=now + timedelta(days=14)) == 1
    row = stored(db_session, prof.id)
    assert (row.points_balance, row.points_pending) == (60, 0)
    # A later full refund takes back exactly what was released, from the posted credit.
    result = refund(db_session, shop, prof, "7", "r2", "60.00", now)
    assert (result.pending_cancelled, result.points_reversed) == (0, 60)
    assert stored(db_session, prof.id).points_balance == 0
    assert_sound(db_session, shop)


def test_fully_cancelled_credit_is_not_released(db_session, make_shop, now):
    shop, prof = held_order_credit(db_session, make_shop, now, window_days=3)
    ledger.apply_cancellation(db_session, shop=shop, profile=prof, order_id="7", event_id=uuid.uuid4(), now=now)
    assert ledger.release_due(db_session, shop_id=shop.id, now=now + timedelta(days=3)) == 0
    assert entries(db_session, prof.id) == []
    assert stored(db_session, prof.id).points_pending == 0


def test_release_is_per_shop(db_session, make_shop, now):
    shop = make_shop(return_window_days=1)
    other = make_shop("other.myshopify.com", return_window_days=1)
    earn(db_session, shop, profile(db_session, shop, now), 10, "k", now, hold=True)
    earn(db_session, other, profile(db_session, other, now), 10, "k", now, hold=True)
    assert ledger.release_due(db_session, shop_id=other.id, now=now + timedelta(days=2)) == 1
    statuses = dict(db_session.execute(select(PendingCredit.shop_id, PendingCredit.status)).all())
    assert statuses == {shop.id: "pending", other.id: "released"}


def test_two_sweeps_at_once_release_once(session_factory, now):
    with session_factory.begin() as session:
        shop = Shop(domain="race.myshopify.com", return_window_days=1)
        session.add(shop)
        session.flush()
        for number in range(20):
            prof = profile(session, shop, now, customer_id=str(number))
            earn(session, shop, prof, 10 + number, f"k{number}", now, hold=True)
        shop_id = shop.id
    later = now + timedelta(days=1)
    counts = run_concurrently(session_factory, lambda session: ledger.release_due(session, shop_id=shop_id, now=later))
    assert sum(counts) == 20
    with session_factory() as session:
        shop = session.get(Shop, shop_id)
        assert_sound(session, shop)
        assert session.execute(select(PendingCredit.status).distinct()).scalars().all() == ["released"]
