"""Expiry sweeps: every due lot expires once, and only what is left of it (L10)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.loyalty import ledger
from app.models import CustomerLoyaltyProfile, PointsLot, Shop
from tests.loyalty.ledger_helpers import (
    add_order,
    assert_sound,
    earn,
    entries,
    profile,
    refund,
    run_concurrently,
    spend,
    stored,
)


def test_expiry_takes_only_the_remainder_of_due_lots(db_session, make_shop, now):
    shop = make_shop(points_expiry_policy="after_earning", points_expiry_days=30)
    prof = profile(db_session, shop, now)
    earn(db_session, shop, prof, 100, "old", now)
    earn(db_session, shop, prof, 50, "new", now + timedelta(days=20))
    spend(db_session, shop, prof, 70, "spend", now + timedelta(days=21))
    assert ledger.expire_due(db_session, shop_id=shop.id, now=now + timedelta(days=30)) == 1
    assert ledger.expire_due(db_session, shop_id=shop.id, now=now + timedelta(days=30)) == 0
    ledger_entries = entries(db_session, prof.id)
    old = next(e for e in ledger_entries if e.idempotency_key == "old")
    old_lot = db_session.execute(select(PointsLot.id).where(PointsLot.entry_id == old.id)).scalar_one()
    expired = [e for e in ledger_entries if e.kind == "expiry"]
    assert [(e.points, e.reverses_id, e.cause_type, e.idempotency_key) for e in expired] == [
        (-30, old.id, "expiry", f"expiry:lot:{old_lot}")
    ]
    assert stored(db_session, prof.id).points_balance == 50
    assert_sound(db_session, shop)


def test_a_fully_spent_lot_expires_without_an_entry(db_session, make_shop, now):
    shop = make_shop(points_expiry_policy="after_earning", points_expiry_days=10)
    prof = profile(db_session, shop, now)
    earn(db_session, shop, prof, 40, "a", now)
    spend(db_session, shop, prof, 40, "spend", now)
    assert ledger.expire_due(db_session, shop_id=shop.id, now=now + timedelta(days=11)) == 0
    lot = db_session.execute(select(PointsLot)).scalar_one()
    db_session.refresh(lot)
    assert lot.expired_at == now + timedelta(days=11)
    assert [e.kind for e in entries(db_session, prof.id)] == ["earn", "redeem"]


def test_inactivity_expiry_follows_the_last_activity(db_session, make_shop, now):
    shop = make_shop(points_expiry_policy="inactivity", points_expiry_days=90)
    prof = profile(db_session, shop, now)
    earn(db_session, shop, prof, 10, "a", now)
    earn(db_session, shop, prof, 20, "b", now + timedelta(days=80))
    assert ledger.expire_due(db_session, shop_id=shop.id, now=now + timedelta(days=100)) == 0
    assert ledger.expire_due(db_session, shop_id=shop.id, now=now + timedelta(days=170)) == 2
    assert stored(db_session, prof.id).points_balance == 0
    assert_sound(db_session, shop)


def test_never_policy_expires_nothing(db_session, shop, now):
    prof = profile(db_session, shop, now)
    earn(db_session, shop, prof, 10, "a", now)
    assert ledger.expire_due(db_session, shop_id=shop.id, now=now + timedelta(days=10000)) == 0
    assert stored(db_session, prof.id).points_balance == 10


def test_expiry_is_per_shop(db_session, make_shop, now):
    shop = make_shop(points_expiry_policy="after_earning", points_expiry_days=1)
    other = make_shop("other.myshopify.com", points_expiry_policy="after_earning", points_expiry_days=1)
    mine, theirs = profile(db_session, shop, now), profile(db_session, other, now)
    earn(db_session, shop, mine, 10, "k", now)
    earn(db_session, other, theirs, 10, "k", now)
    assert ledger.expire_due(db_session, shop_id=shop.id, now=now + timedelta(days=2)) == 1
    assert (stored(db_session, mine.id).points_balance, stored(db_session, theirs.id).points_balance) == (0, 10)


def test_two_sweeps_at_once_expire_each_lot_once(session_factory, now):
    with session_factory.begin() as session:
        shop = Shop(domain="race.myshopify.com", points_expiry_policy="after_earning", points_expiry_days=1)
        session.add(shop)
        session.flush()
        for number in range(20):
            prof = profile(session, shop, now, customer_id=str(number))
            earn(session, shop, prof, 10, f"k{number}", now)
        shop_id = shop.id
    later = now + timedelta(days=2)
    counts = run_concurrently(session_factory, lambda session: ledger.expire_due(session, shop_id=shop_id, now=later))
    assert sum(counts) == 20
    with session_factory() as session:
        assert_sound(session, session.get(Shop, shop_id))


@pytest.mark.parametrize("policy", ["cap", "allow"])
def test_a_refund_after_expiry_never_takes_the_expired_points_again(db_session, make_shop, now, policy):
    """An order's 100 points expired unspent; the customer earned 80 more; then the order was refunded in full. The
    100 points are gone already: the refund takes nothing (it took the 80 newer points, or went to -20 under
    "allow")."""
    shop = make_shop(points_expiry_policy="after_earning", points_expiry_days=30, negative_balance_policy=policy)
    prof = profile(db_session, shop, now)
    add_order(db_session, shop, prof, "5001", "100.00", now)
    earn(db_session, shop, prof, 100, "order:5001", now, order_id="5001")
    later = now + timedelta(days=31)
    assert ledger.expire_due(db_session, shop_id=shop.id, now=later) == 1
    earn(db_session, shop, prof, 80, "newer", later)
    result = refund(db_session, shop, prof, "5001", "r1", "100.00", later + timedelta(days=1))
    assert (result.points_claimed, result.points_reversed, result.shortfall) == (0, 0, 0)
    assert stored(db_session, prof.id).points_balance == 80
    assert [e.kind for e in entries(db_session, prof.id)] == ["earn", "expiry", "earn"]
    assert_sound(db_session, shop)


def test_a_refund_after_a_partly_spent_lot_expired_takes_back_only_what_was_spent(db_session, make_shop, now):
    """100 points earned, 40 spent, the other 60 expired. A half refund is covered by what expired (nothing more to
    take); the full refund takes back the 40 the customer spent, from their newer points."""
    shop = make_shop(points_expiry_policy="after_earning", points_expiry_days=30)
    prof = profile(db_session, shop, now)
    add_order(db_session, shop, prof, "5001", "100.00", now)
    earn(db_session, shop, prof, 100, "order:5001", now, order_id="5001")
    spend(db_session, shop, prof, 40, "spend", now + timedelta(days=1))
    later = now + timedelta(days=31)
    assert ledger.expire_due(db_session, shop_id=shop.id, now=later) == 1
    earn(db_session, shop, prof, 200, "newer", later)
    half = refund(db_session, shop, prof, "5001", "r1", "50.00", later)
    assert (half.points_claimed, stored(db_session, prof.id).points_balance) == (0, 200)
    rest = refund(db_session, shop, prof, "5001", "r2", "50.00", later)
    assert (rest.points_claimed, rest.points_reversed, rest.shortfall) == (40, 40, 0)
    assert stored(db_session, prof.id).points_balance == 160
    assert_sound(db_session, shop)


def test_undoing_an_import_whose_points_expired_leaves_the_balance_alone(db_session, make_shop, now):
    """Imported points that expired are gone: undoing the import takes nothing, even where negatives are allowed."""
    shop = make_shop(points_expiry_policy="after_earning", points_expiry_days=30, negative_balance_policy="allow")
    imported = ledger.import_opening_balances(
        db_session, shop=shop, csv_text="customer_id,points\n1001,100\n1002,100\n", actor="ana", now=now
    )
    later = now + timedelta(days=31)
    assert ledger.expire_due(db_session, shop_id=shop.id, now=later) == 2
    prof = profile(db_session, shop, later, customer_id="1002")
    earn(db_session, shop, prof, 30, "newer", later)
    out = ledger.reverse_import(db_session, shop=shop, batch_id=imported.batch_id, actor="ana", now=later)
    assert (out.points_claimed, out.points_reversed, out.shortfall) == (0, 0, 0)
    balances = select(CustomerLoyaltyProfile.customer_id, CustomerLoyaltyProfile.points_balance)
    assert dict(db_session.execute(balances).all()) == {"1001": 0, "1002": 30}
    assert_sound(db_session, shop)
