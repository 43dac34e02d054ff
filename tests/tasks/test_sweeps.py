"""The sweep's advisory lock under real threads and connections, and the Huey tasks of app.tasks run the way the
worker runs them: enqueued on a real Redis-backed Huey, taken off the queue and executed."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from app.loyalty.processing import sweeps
from app.models import Shop, TierDefinition
from tests.loyalty.ledger_helpers import earn, profile, stored
from tests.worker_fixtures import run_next_task

Sweep = Callable[..., sweeps.SweepReport]


def owed_points(sessions: sessionmaker[Session], shop: Shop, earned_at: datetime) -> int:
    """A member of `shop` with 200 points held for the shop's return window from `earned_at`; their profile id."""
    with sessions.begin() as session:
        member = profile(session, shop, earned_at)
        earn(session, shop, member, 200, "order:1", earned_at, order_id="1", hold=True)
    return member.id


def balances(sessions: sessionmaker[Session], profile_id: int) -> tuple[int, int]:
    with sessions() as session:
        member = stored(session, profile_id)
        return member.points_balance, member.points_pending


def race(sessions: sessionmaker[Session], sweep: Sweep, shop_ids: list[int], now: datetime) -> list[sweeps.SweepReport]:
    """Sweep each shop id in its own thread and transaction, all started together; none commits before every one has
    tried its lock, so the sweeps truly overlap. Their reports, in order."""
    started, tried = threading.Barrier(len(shop_ids)), threading.Barrier(len(shop_ids))
    reports: list[sweeps.SweepReport | None] = [None] * len(shop_ids)

    def run(index: int) -> None:
        with sessions.begin() as session:
            started.wait(timeout=10)
            reports[index] = sweep(session, shop_id=shop_ids[index], now=now)
            tried.wait(timeout=10)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(shop_ids))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert None not in reports, "a sweep did not finish (see the thread's exception above)"
    return reports  # type: ignore[return-value]


class TestAdvisoryLock:
    @pytest.fixture
    def due(self, session_factory, make_shop, now):  # type: ignore[no-untyped-def]
        """A shop whose member's 200 held points are due, and their profile id."""
        shop = make_shop(return_window_days=14)
        return shop, owed_points(session_factory, shop, now - timedelta(days=14))

    def test_of_two_sweeps_of_one_shop_at_once_one_does_the_work_and_the_other_skips(  # type: ignore[no-untyped-def]
        self, session_factory, due, now
    ) -> None:
        shop, member = due
        reports = race(session_factory, sweeps.sweep_shop, [shop.id, shop.id], now)
        assert sorted(report.skipped for report in reports) == [False, True]
        [done] = [report for report in reports if not report.skipped]
        assert done.counts["pending_released"] == 1
        assert balances(session_factory, member) == (200, 0)

    def test_of_two_tier_recalculations_of_one_shop_at_once_one_runs(self, session_factory, due, now) -> None:  # type: ignore[no-untyped-def]
        shop, _ = due
        reports = race(session_factory, sweeps.recalculate_tiers, [shop.id, shop.id], now)
        assert sorted(report.skipped for report in reports) == [False, True]

    def test_sweeps_of_different_shops_do_not_block_each_other(  # type: ignore[no-untyped-def]
        self, session_factory, make_shop, due, now
    ) -> None:
        shop, member = due
        other_shop = make_shop("other-shop.myshopify.com", return_window_days=14)
        other_member = owed_points(session_factory, other_shop, now - timedelta(days=14))
        reports = race(session_factory, sweeps.sweep_shop, [shop.id, other_shop.id], now)
        assert [(report.skipped, report.counts["pending_released"]) for report in reports] == [(False, 1), (False, 1)]
        assert balances(session_factory, member) == balances(session_factory, other_member) == (200, 0)

    @pytest.mark.parametrize("end", ["commit", "rollback"])
    def test_the_lock_ends_with_the_transaction_that_took_it(self, engine, due, now, end: str) -> None:  # type: ignore[no-untyped-def]
        shop, member = due
        # Two connections held open throughout: a lock that outlived its transaction would still hold the first.
        with engine.connect() as first_connection, engine.connect() as second_connection:
            first, second = Session(first_connection), Session(second_connection)
            assert not sweeps.sweep_shop(first, shop_id=shop.id, now=now).skipped
            getattr(first, end)()
            report = sweeps.sweep_shop(second, shop_id=shop.id, now=now)
            assert not report.skipped
            assert report.counts["pending_released"] == (0 if end == "commit" else 1)
            second.commit()
            first.close()
            second.close()


class TestHueyTasks:
    def test_the_periodic_sweep_sweeps_every_installed_shop(self, worker, session_factory, make_shop) -> None:  # type: ignore[no-untyped-def]
        from app.tasks.sweeps import sweep_all_shops

        earned_at = datetime.now(timezone.utc) - timedelta(days=15)
        installed = make_shop(return_window_days=14)
        uninstalled = make_shop("gone.myshopify.com", return_window_days=14)
        members = [owed_points(session_factory, shop, earned_at) for shop in (installed, uninstalled)]
        with session_factory.begin() as session:
            session.execute(update(Shop).where(Shop.id == uninstalled.id).values(uninstalled_at=earned_at))

        sweep_all_shops()
        assert run_next_task(worker) == "sweep_all_shops"
        assert [balances(session_factory, member) for member in members] == [(200, 0), (0, 200)]

    def test_the_periodic_sweep_leaves_a_shop_to_the_sweep_already_on_it(  # type: ignore[no-untyped-def]
        self, worker, session_factory, make_shop
    ) -> None:
        from app.tasks.sweeps import sweep_all_shops

        earned_at = datetime.now(timezone.utc) - timedelta(days=15)
        busy, free = make_shop(return_window_days=14), make_shop("free.myshopify.com", return_window_days=14)
        members = [owed_points(session_factory, shop, earned_at) for shop in (busy, free)]
        sweep_all_shops()
        with session_factory.begin() as manual:  # a manual sweep of `busy` holds its lock meanwhile
            assert not sweeps.sweep_shop(manual, shop_id=busy.id, now=earned_at).skipped
            assert run_next_task(worker) == "sweep_all_shops"
        assert [balances(session_factory, member) for member in members] == [(0, 200), (200, 0)]

    def test_a_shop_whose_sweep_fails_does_not_hold_back_the_others(  # type: ignore[no-untyped-def]
        self, worker, session_factory, make_shop, refuse
    ) -> None:
        """Each shop is swept in its own transaction; one whose sweep keeps failing must not keep the shops after it
        from being swept (held points released, points expired). The task still fails, so Huey retries it."""
        from app.tasks.sweeps import sweep_all_shops

        earned_at = datetime.now(timezone.utc) - timedelta(days=15)
        failing, healthy = make_shop(return_window_days=14), make_shop("healthy.myshopify.com", return_window_days=14)
        members = [owed_points(session_factory, shop, earned_at) for shop in (failing, healthy)]
        refuse("points_transactions", when=f"NEW.shop_id = {failing.id}")
        sweep_all_shops()
        worker.execute(worker.dequeue())
        assert [balances(session_factory, member) for member in members] == [(0, 200), (200, 0)]

    def test_the_tier_recalculation_task_places_members_on_the_ladder(  # type: ignore[no-untyped-def]
        self, worker, session_factory, make_shop
    ) -> None:
        from app.tasks.sweeps import recalculate_tiers

        shop = make_shop()
        with session_factory.begin() as session:
            silver = TierDefinition(shop_id=shop.id, name="Silver", level=1, threshold=Decimal(100))
            session.add(silver)
            member = profile(session, shop, datetime.now(timezone.utc))
            earn(session, shop, member, 200, "order:1", datetime.now(timezone.utc) - timedelta(days=1))
        recalculate_tiers(shop.id)
        assert run_next_task(worker) == "recalculate_tiers"
        with session_factory() as session:
            assert stored(session, member.id).current_tier_id == silver.id

    def test_the_heartbeat_task_marks_this_worker_alive(self, worker, redis_client, redis_namespace) -> None:  # type: ignore[no-untyped-def]
        from app.tasks.sweeps import worker_heartbeat

        worker_heartbeat()
        assert run_next_task(worker) == "worker_heartbeat"
        [key] = list(redis_client.scan_iter(match=f"{redis_namespace}:workers:*"))
        assert 0 < redis_client.ttl(key) <= 150
