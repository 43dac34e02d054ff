"""The worker's per-shop sweep: everything due as of now, exactly once, never two sweeps of one shop at a time."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.loyalty import ledger
from app.loyalty.ledger.profiles import lock_profile
from app.loyalty.processing import sweeps
from app.models import CustomerLoyaltyProfile, PendingCredit, Shop, TierDefinition


def _setup(session: Session, make_shop, now: datetime) -> tuple[Shop, int]:  # type: ignore[no-untyped-def]
    shop = make_shop(return_window_days=14, points_expiry_policy="after_earning", points_expiry_days=30)
    session.add(TierDefinition(shop_id=shop.id, name="Silver", level=1, threshold=Decimal(100)))
    profile = lock_profile(session, shop_id=shop.id, customer_id="1001", now=now)
    cause = ledger.Cause("system")
    ledger.credit(
        session,
        shop=shop,
        profile_id=profile.id,
        kind="earn",
        points=200,
        idempotency_key="order:1",
        cause=cause,
        now=now,
        source=("order", "1"),
        hold_for_return_window=True,
    )
    ledger.credit(
        session,
        shop=shop,
        profile_id=profile.id,
        kind="adjustment",
        points=50,
        idempotency_key="welcome",
        cause=ledger.Cause("admin", actor="merchant"),
        now=now,
    )
    session.commit()
    return shop, profile.id


def _balances(session: Session, profile_id: int) -> tuple[int, int]:
    session.expire_all()
    profile = session.get(CustomerLoyaltyProfile, profile_id)
    return profile.points_balance, profile.points_pending


def test_a_sweep_does_everything_due_and_a_second_one_nothing(db_session, make_shop, now) -> None:  # type: ignore[no-untyped-def]
    shop, profile_id = _setup(db_session, make_shop, now)
    assert _balances(db_session, profile_id) == (50, 200)

    early = sweeps.sweep_shop(db_session, shop_id=shop.id, now=now + timedelta(days=13))
    db_session.commit()
    assert early.counts["pending_released"] == 0 and _balances(db_session, profile_id) == (50, 200)

    released = sweeps.sweep_shop(db_session, shop_id=shop.id, now=now + timedelta(days=14))
    db_session.commit()
    assert released.counts["pending_released"] == 1
    assert _balances(db_session, profile_id) == (250, 0)
    assert db_session.execute(select(PendingCredit.status)).scalar_one() == "released"

    expired = sweeps.sweep_shop(db_session, shop_id=shop.id, now=now + timedelta(days=31))
    db_session.commit()
    assert expired.counts["lots_expired"] == 1  # the 50 welcome points, 30 days after earning
    assert _balances(db_session, profile_id) == (200, 0)

    again = sweeps.sweep_shop(db_session, shop_id=shop.id, now=now + timedelta(days=31))
    db_session.commit()
    assert not again.skipped and sum(again.counts.values()) == 0
    assert _balances(db_session, profile_id) == (200, 0)


def test_two_sweeps_of_one_shop_never_run_at_once(session_factory: sessionmaker[Session], make_shop, now) -> None:  # type: ignore[no-untyped-def]
    with session_factory() as setup:
        shop, profile_id = _setup(setup, make_shop, now)
    later = now + timedelta(days=14)
    with session_factory() as first, session_factory() as second:
        with first.begin():
            assert not sweeps.sweep_shop(first, shop_id=shop.id, now=later).skipped
            # While the first sweep's transaction is open, a second sweep of the same shop stands aside.
            with second.begin():
                assert sweeps.sweep_shop(second, shop_id=shop.id, now=later).skipped
        with second.begin():  # and once the first committed, a new sweep finds nothing left to do
            report = sweeps.sweep_shop(second, shop_id=shop.id, now=later)
            assert not report.skipped and report.counts["pending_released"] == 0
    with session_factory() as check:
        assert _balances(check, profile_id) == (250, 0)


def test_recalculation_places_members_on_a_changed_ladder(db_session, make_shop, now) -> None:  # type: ignore[no-untyped-def]
    shop, profile_id = _setup(db_session, make_shop, now)
    sweeps.sweep_shop(db_session, shop_id=shop.id, now=now + timedelta(days=14))
    db_session.commit()
    assert db_session.get(CustomerLoyaltyProfile, profile_id).current_tier_id is None  # nothing evaluated it yet

    report = sweeps.recalculate_tiers(db_session, shop_id=shop.id, now=now + timedelta(days=14))
    db_session.commit()
    assert report.counts == {"tier_changes": 1}
    assert sweeps.recalculate_tiers(db_session, shop_id=shop.id, now=now + timedelta(days=14)).counts == {
        "tier_changes": 0
    }
