"""The ledger drift check: a stored balance that no longer matches its ledger opens one `ledger_drift` episode through
the worker's hourly check and the minute's alert check, and closes it once the balance is right again."""

from __future__ import annotations

from sqlalchemy import text

from app.monitoring import drift
from app.monitoring.alerts import active_alerts
from tests.loyalty.ledger_helpers import earn, profile
from tests.worker_fixtures import run_next_task


def run(worker, task) -> None:  # type: ignore[no-untyped-def]
    task()
    assert run_next_task(worker) == task.task_class.__name__


def test_a_drifted_balance_opens_one_episode_that_closes_when_it_is_repaired(  # type: ignore[no-untyped-def]
    worker, session_factory, shop, other_shop, now, redis_client, redis_namespace
) -> None:
    from app.tasks.alerts import check_alerts, check_ledger_drift

    with session_factory.begin() as session:
        member = profile(session, shop, now)
        earn(session, shop, member, 300, "order:1", now)
        earn(session, other_shop, profile(session, other_shop, now), 50, "order:9", now)
    run(worker, check_ledger_drift)
    assert drift.latest(redis_client, redis_namespace)["profiles"] == 0  # a sound ledger: nothing found
    run(worker, check_alerts)
    assert active_alerts(redis_client, redis_namespace)["ledger_drift"] is None

    with session_factory.begin() as session:  # what a bad manual fix or a half-restored backup would do
        session.execute(
            text("UPDATE customer_loyalty_profiles SET points_balance = 333 WHERE id = :id"), {"id": member.id}
        )
    run(worker, check_ledger_drift)
    report = drift.latest(redis_client, redis_namespace)
    assert report["shops_checked"] == 2
    assert report["drifted"] == [{"shop_id": shop.id, "profiles": 1, "profile_ids": [member.id]}]
    run(worker, check_alerts)
    run(worker, check_alerts)
    episode = active_alerts(redis_client, redis_namespace)["ledger_drift"]
    assert episode["value"] == 1.0 and "invariant L1" in episode["summary"]

    with session_factory.begin() as session:
        session.execute(
            text("UPDATE customer_loyalty_profiles SET points_balance = 300 WHERE id = :id"), {"id": member.id}
        )
    run(worker, check_ledger_drift)
    run(worker, check_alerts)
    assert active_alerts(redis_client, redis_namespace)["ledger_drift"] is None
