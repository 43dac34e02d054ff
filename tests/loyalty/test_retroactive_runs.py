"""Queued retroactive runs ("Go live" over past orders, on the worker): chunk by chunk, each event credited once, a run
whose worker stopped resumed after its last committed chunk (and the stopped worker writes nothing more), a failed
run's credits kept until undone."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from app.loyalty import rulebook
from app.loyalty.base.errors import InvalidInput
from app.loyalty.ledger.profiles import lock_profile
from app.loyalty.rulebook.backtest_runs import STALLED_AFTER
from app.models import AuditLog, PointsTransaction, Rule, RuleRetroRun, Shop
from tests.helpers import order_payload
from tests.loyalty.test_rulesets import big_orders, save, store_event
from tests.worker_fixtures import run_next_task

POINTS = 25


def past_orders(session: Session, shop: Shop, now: datetime) -> tuple[datetime, set[str]]:
    """Nine stored orders in the last ten days (three at one instant, a guest's, two under 100) and one before them;
    returns the range's start and the order ids a run over it must credit."""
    day = now - timedelta(days=10)
    orders = [
        ("1", "150.00", 0),
        ("2", "120.00", 1),
        ("3", "101.00", 1),
        ("4", "300.00", 1),  # three at the same instant: the cursor goes by (time, id), not time alone
        ("1", "50.00", 2),
        (None, "500.00", 3),  # a guest: no customer to credit
        ("5", "99.99", 4),
        ("2", "250.00", 5),
        ("6", "100.00", 6),
    ]
    for n, (customer, total, hour) in enumerate(orders):
        store_event(
            session,
            shop,
            customer_id=customer,
            occurred_at=day + timedelta(hours=hour),
            payload=order_payload(order_id=100 + n, total=total),
        )
    store_event(session, shop, customer_id="7", occurred_at=day - timedelta(days=1), payload=order_payload(order_id=99))
    session.commit()
    return day, {str(100 + n) for n, (customer, total, _) in enumerate(orders) if customer and float(total) >= 100}


def credited_orders(session: Session) -> list[str]:
    keys = session.execute(select(PointsTransaction.idempotency_key)).scalars().all()
    return sorted(key.rsplit(":", 1)[1] for key in keys)


def queued(session: Session, shop: Shop, now: datetime) -> tuple[RuleRetroRun, set[str]]:
    """The rule, the past orders, and a run over them queued; with the order ids it must credit."""
    save(session, shop, big_orders(points=POINTS), now)
    day, expected = past_orders(session, shop, now)
    run = rulebook.queue_retroactive_run(
        session, shop=shop, name="Big orders", start=day, end=now, actor="admin@shop", now=now
    )
    session.commit()
    return run, expected


def to_the_end(session: Session, run: RuleRetroRun, owner: uuid.UUID, now: datetime, chunk: int = 2) -> None:
    """Apply the owner's run (or undo) `chunk` events (customers) a transaction until nothing is left."""
    for _ in range(10):
        finished = rulebook.continue_retroactive_run(session, run_id=run.id, owner=owner, now=now, chunk=chunk)
        session.commit()
        if finished:
            return
    raise AssertionError("the run does not move on")


def assert_undone(session: Session, run: RuleRetroRun, expected: set[str]) -> None:
    session.refresh(run)
    assert (run.status, run.undo_customers, run.undo_reversed) == ("undone", 5, len(expected) * POINTS)
    assert session.execute(select(func.sum(PointsTransaction.points))).scalar_one() == 0


def test_a_queued_run_applies_its_range_a_chunk_per_transaction_each_event_once(
    db_session: Session, shop: Shop, now: datetime
) -> None:
    run, expected = queued(db_session, shop, now)
    owner = uuid.uuid4()
    assert rulebook.claim_retroactive_run(db_session, run_id=run.id, owner=owner, now=now)
    assert not rulebook.claim_retroactive_run(db_session, run_id=run.id, owner=uuid.uuid4(), now=now)
    db_session.commit()

    chunks = 0
    while True:
        finished = rulebook.continue_retroactive_run(db_session, run_id=run.id, owner=owner, now=now, chunk=2)
        db_session.commit()
        chunks += 1
        if chunks == 1:  # the first transaction kept its two events' credits with the cursor past them
            db_session.refresh(run)
            assert (run.status, run.events_done, run.events_total) == ("running", 2, 8)
            assert credited_orders(db_session) == ["100", "101"]
        if finished:
            break
        assert chunks < 10, "the run does not move on"
    db_session.refresh(run)
    assert chunks == 5  # 8 customer events, 2 a chunk: the fifth finds none left
    assert (run.status, run.events_done, run.credits, run.points, run.duplicates) == (
        "done",
        8,
        len(expected),
        POINTS * len(expected),
        0,
    )
    assert credited_orders(db_session) == sorted(expected)
    audit = db_session.execute(select(AuditLog).where(AuditLog.action == "rule_retroactive_run")).scalar_one()
    assert (audit.details["status"], audit.details["credits"], audit.details["batch_id"]) == (
        "done",
        len(expected),
        str(run.id),
    )
    # Finished: nothing more to claim, and a late chunk writes nothing.
    assert not rulebook.claim_retroactive_run(db_session, run_id=run.id, owner=owner, now=now + timedelta(days=1))
    assert rulebook.continue_retroactive_run(db_session, run_id=run.id, owner=owner, now=now)
    assert credited_orders(db_session) == sorted(expected)


def test_a_run_whose_worker_stopped_resumes_after_its_last_chunk_and_the_stopped_worker_writes_nothing_more(
    db_session: Session, shop: Shop, now: datetime
) -> None:
    run, expected = queued(db_session, shop, now)
    first, second = uuid.uuid4(), uuid.uuid4()
    assert rulebook.claim_retroactive_run(db_session, run_id=run.id, owner=first, now=now)
    assert not rulebook.continue_retroactive_run(db_session, run_id=run.id, owner=first, now=now, chunk=3)
    db_session.commit()
    # Still within the silence a live worker may keep: nobody else takes the run, and no sweep hands it out.
    later = now + STALLED_AFTER - timedelta(seconds=1)
    assert not rulebook.claim_retroactive_run(db_session, run_id=run.id, owner=second, now=later)
    assert rulebook.stalled_retroactive_runs(db_session, now=later) == []
    # Silent past it: the sweep hands the run out again and another worker takes it over.
    silent = now + STALLED_AFTER + timedelta(seconds=1)
    assert rulebook.stalled_retroactive_runs(db_session, now=silent) == [run.id]
    assert rulebook.claim_retroactive_run(db_session, run_id=run.id, owner=second, now=silent)
    db_session.commit()
    # The first worker was only slow: its next chunk finds the run no longer its own and writes nothing.
    assert rulebook.continue_retroactive_run(db_session, run_id=run.id, owner=first, now=silent, chunk=3)
    db_session.commit()
    assert len(credited_orders(db_session)) == 3
    to_the_end(db_session, run, second, silent, chunk=3)
    db_session.refresh(run)
    # Resumed after the cursor, not from the start: no event of the range was met twice.
    assert (run.status, run.events_done, run.credits, run.duplicates) == ("done", 8, len(expected), 0)
    assert credited_orders(db_session) == sorted(expected)


def test_a_failed_run_keeps_what_its_committed_chunks_gave_until_it_is_undone(
    db_session: Session, shop: Shop, now: datetime
) -> None:
    run, _ = queued(db_session, shop, now)
    owner = uuid.uuid4()
    rulebook.claim_retroactive_run(db_session, run_id=run.id, owner=owner, now=now)
    rulebook.continue_retroactive_run(db_session, run_id=run.id, owner=owner, now=now, chunk=2)
    db_session.commit()
    rulebook.fail_retroactive_run(db_session, run_id=run.id, owner=uuid.uuid4(), error="not its own", now=now)
    rulebook.fail_retroactive_run(db_session, run_id=run.id, owner=owner, error="OperationalError: gone", now=now)
    db_session.commit()
    db_session.refresh(run)
    assert (run.status, run.error, run.credits, run.points) == ("failed", "OperationalError: gone", 2, 2 * POINTS)
    assert rulebook.stalled_retroactive_runs(db_session, now=now + timedelta(days=1)) == []  # not resumed
    undone = rulebook.reverse_retroactive_run(db_session, shop=shop, batch_id=run.id, actor="admin@shop", now=now)
    db_session.commit()
    assert (undone.customers, undone.reversed) == (2, 2 * POINTS)
    assert db_session.execute(select(func.sum(PointsTransaction.points))).scalar_one() == 0


def finished_run(session: Session, shop: Shop, now: datetime) -> tuple[RuleRetroRun, set[str]]:
    run, expected = queued(session, shop, now)
    owner = uuid.uuid4()
    rulebook.claim_retroactive_run(session, run_id=run.id, owner=owner, now=now)
    rulebook.continue_retroactive_run(session, run_id=run.id, owner=owner, now=now)
    session.commit()
    return run, expected


def test_the_undo_takes_back_a_chunk_of_customers_per_transaction_every_order_of_each_once(
    db_session: Session, shop: Shop, now: datetime
) -> None:
    run, expected = finished_run(db_session, shop, now)
    assert run.status == "done" and len(expected) == 6  # customer 2 has two orders in the batch
    rulebook.request_undo(db_session, shop_id=shop.id, run_id=run.id, actor="undoer@shop", now=now)
    db_session.commit()
    owner = uuid.uuid4()
    assert rulebook.claim_retroactive_run(db_session, run_id=run.id, owner=owner, now=now)
    chunks = 0
    for _ in range(10):
        chunks += 1
        finished = rulebook.continue_retroactive_run(db_session, run_id=run.id, owner=owner, now=now, chunk=2)
        db_session.commit()
        if chunks == 1:  # customers 1 and 2 (both of 2's orders) taken back, the rest still theirs
            assert db_session.execute(select(func.sum(PointsTransaction.points))).scalar_one() == 3 * POINTS
        if finished:
            break
    db_session.refresh(run)
    assert chunks == 3  # 5 customers, 2 a chunk
    assert (run.status, run.undo_customers, run.undo_reversed, run.undo_shortfall) == ("undone", 5, 6 * POINTS, 0)
    assert db_session.execute(select(func.sum(PointsTransaction.points))).scalar_one() == 0
    audit = db_session.execute(select(AuditLog).where(AuditLog.action == "rule_retroactive_reversal")).scalar_one()
    assert (audit.actor, audit.details["reversed"], audit.details["customers"]) == ("undoer@shop", 6 * POINTS, 5)
    with pytest.raises(InvalidInput, match="undone already"):
        rulebook.request_undo(db_session, shop_id=shop.id, run_id=run.id, actor="a", now=now)


def test_an_undo_whose_worker_stopped_resumes_and_takes_back_the_rest_once(
    db_session: Session, shop: Shop, now: datetime
) -> None:
    run, expected = finished_run(db_session, shop, now)
    rulebook.request_undo(db_session, shop_id=shop.id, run_id=run.id, actor="undoer@shop", now=now)
    first, second = uuid.uuid4(), uuid.uuid4()
    assert rulebook.claim_retroactive_run(db_session, run_id=run.id, owner=first, now=now)
    rulebook.continue_retroactive_run(db_session, run_id=run.id, owner=first, now=now, chunk=2)
    db_session.commit()
    assert rulebook.stalled_retroactive_runs(db_session, now=now + STALLED_AFTER - timedelta(seconds=1)) == []
    silent = now + STALLED_AFTER + timedelta(seconds=1)
    assert rulebook.stalled_retroactive_runs(db_session, now=silent) == [run.id]
    assert rulebook.claim_retroactive_run(db_session, run_id=run.id, owner=second, now=silent)
    assert rulebook.continue_retroactive_run(db_session, run_id=run.id, owner=first, now=silent, chunk=2)
    to_the_end(db_session, run, second, silent)
    assert_undone(db_session, run, expected)


def test_a_stopped_undo_says_so_and_asking_again_takes_back_the_rest(
    db_session: Session, shop: Shop, now: datetime
) -> None:
    run, expected = finished_run(db_session, shop, now)
    with pytest.raises(InvalidInput, match="needs the admin"):
        rulebook.request_undo(db_session, shop_id=shop.id, run_id=run.id, actor=" ", now=now)
    rulebook.request_undo(db_session, shop_id=shop.id, run_id=run.id, actor="undoer@shop", now=now)
    owner = uuid.uuid4()
    rulebook.claim_retroactive_run(db_session, run_id=run.id, owner=owner, now=now)
    rulebook.continue_retroactive_run(db_session, run_id=run.id, owner=owner, now=now, chunk=2)
    rulebook.fail_retroactive_run(db_session, run_id=run.id, owner=owner, error="OperationalError: gone", now=now)
    db_session.commit()
    db_session.refresh(run)
    assert (run.status, run.undone_by, run.undo_reversed) == ("failed", "undoer@shop", 3 * POINTS)
    rulebook.request_undo(db_session, shop_id=shop.id, run_id=run.id, actor="undoer@shop", now=now)
    owner = uuid.uuid4()
    assert rulebook.claim_retroactive_run(db_session, run_id=run.id, owner=owner, now=now)
    to_the_end(db_session, run, owner, now)
    assert_undone(db_session, run, expected)


def test_a_run_refuses_a_missing_actor_and_a_range_that_is_empty_or_too_long(
    db_session: Session, shop: Shop, now: datetime
) -> None:
    save(db_session, shop, big_orders(points=POINTS), now)
    cases = [
        (" ", now - timedelta(days=1), "needs the admin who runs it"),
        ("a", now, "last day must not be before its first day"),
        ("a", now - timedelta(days=4 * 366), "covers at most 1098 days"),
    ]
    for actor, start, message in cases:
        with pytest.raises(InvalidInput, match=message):
            rulebook.queue_retroactive_run(
                db_session, shop=shop, name="Big orders", start=start, end=now, actor=actor, now=now
            )
    db_session.rollback()
    assert db_session.execute(select(func.count()).select_from(RuleRetroRun)).scalar_one() == 0


def test_the_sweep_hands_a_stalled_run_to_the_worker_which_finishes_it(
    worker, db_session: Session, shop: Shop, now: datetime
) -> None:  # type: ignore[no-untyped-def]
    from app.tasks.retroactive_runs import resume_stalled_retroactive_runs

    save(db_session, shop, big_orders(points=POINTS), now)
    day, expected = past_orders(db_session, shop, now)
    real_now = datetime.now(now.tzinfo)
    run = rulebook.queue_retroactive_run(
        db_session, shop=shop, name="Big orders", start=day, end=now, actor="admin@shop", now=real_now
    )
    db_session.commit()
    owner = uuid.uuid4()
    rulebook.claim_retroactive_run(db_session, run_id=run.id, owner=owner, now=real_now)
    rulebook.continue_retroactive_run(db_session, run_id=run.id, owner=owner, now=real_now, chunk=2)
    # Its worker died eleven minutes ago, after one chunk.
    db_session.execute(
        update(RuleRetroRun).where(RuleRetroRun.id == run.id).values(progress_at=real_now - timedelta(minutes=11))
    )
    db_session.commit()

    resume_stalled_retroactive_runs.call_local()
    assert run_next_task(worker) == "run_retroactive"
    db_session.refresh(run)
    assert (run.status, run.events_done, run.credits, run.duplicates) == ("done", 8, len(expected), 0)
    assert credited_orders(db_session) == sorted(expected)
    assert db_session.execute(select(Rule.status)).scalar_one() == "active"


def assert_locks_in_the_consumers_order(engine, shop: Shop, run: RuleRetroRun, owner: uuid.UUID, now: datetime) -> None:  # type: ignore[no-untyped-def]
    """With a stream batch holding customer 8001's profile (first in (shop, customer) order), the run's next chunk
    waits for it holding nothing more: 8002's profile is free for the batch's next lock. Then the chunk goes on."""

    def profile_lock(customer: str, *, nowait: bool = False) -> str:
        return (
            "SELECT id FROM customer_loyalty_profiles WHERE shop_id = :shop AND customer_id = :customer FOR UPDATE"
            + (" NOWAIT" if nowait else "")
        )

    outcome: list[object] = []

    def chunk() -> None:
        with Session(engine) as worker:
            try:
                outcome.append(rulebook.continue_retroactive_run(worker, run_id=run.id, owner=owner, now=now))
                worker.commit()
            except Exception as error:  # noqa: BLE001 - reported by the assertions below
                outcome.append(error)

    with engine.connect() as batch:
        batch.execute(text(profile_lock("8001")), {"shop": shop.id, "customer": "8001"})
        thread = threading.Thread(target=chunk)
        thread.start()
        for _ in range(100):  # until the chunk waits for the lock the batch holds
            batch.execute(text("SELECT pg_stat_clear_snapshot()"))  # a transaction sees one snapshot of the stats
            waiting = batch.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()")
            ).scalar_one()
            if waiting:
                break
            time.sleep(0.05)
        assert waiting, f"the chunk never waited for the batch's lock: {outcome}"
        batch.execute(text(profile_lock("8002", nowait=True)), {"shop": shop.id, "customer": "8002"})
        batch.rollback()
        thread.join(timeout=30)
    assert outcome == [True]


def two_customers_run(session: Session, shop: Shop, now: datetime) -> tuple[RuleRetroRun, uuid.UUID]:
    """A run claimed over two customers' orders, ordered against the stream batches' lock order: 8002's profile and
    order come first (by id and by time), 8001 comes first in (shop, customer) order."""
    save(session, shop, big_orders(points=POINTS), now)
    day = now - timedelta(days=3)
    for hour, customer in ((1, "8002"), (2, "8001")):
        lock_profile(session, shop_id=shop.id, customer_id=customer, now=day)
        payload = order_payload(order_id=9000 + hour, total="150.00")
        store_event(session, shop, customer_id=customer, occurred_at=day + timedelta(hours=hour), payload=payload)
    run = rulebook.queue_retroactive_run(
        session, shop=shop, name="Big orders", start=day, end=now, actor="admin@shop", now=now
    )
    owner = uuid.uuid4()
    rulebook.claim_retroactive_run(session, run_id=run.id, owner=owner, now=now)
    return run, owner


def test_a_chunk_locks_its_customers_in_the_consumers_order_not_event_by_event(
    engine, db_session: Session, shop: Shop, now: datetime
) -> None:  # type: ignore[no-untyped-def]
    """A stream batch locks its customers' profiles in (shop, customer) order; a chunk locking them event by event
    (time order) could hold one the batch waits for while waiting for one the batch holds: a deadlock."""
    run, owner = two_customers_run(db_session, shop, now)
    db_session.commit()
    assert_locks_in_the_consumers_order(engine, shop, run, owner, now)
    assert sorted(credited_orders(db_session)) == ["9001", "9002"]


def test_an_undo_chunk_locks_its_customers_in_the_consumers_order_not_by_profile_id(
    engine, db_session: Session, shop: Shop, now: datetime
) -> None:  # type: ignore[no-untyped-def]
    run, owner = two_customers_run(db_session, shop, now)
    rulebook.continue_retroactive_run(db_session, run_id=run.id, owner=owner, now=now)
    rulebook.request_undo(db_session, shop_id=shop.id, run_id=run.id, actor="undoer@shop", now=now)
    rulebook.claim_retroactive_run(db_session, run_id=run.id, owner=owner, now=now)
    db_session.commit()
    assert_locks_in_the_consumers_order(engine, shop, run, owner, now)
    assert db_session.execute(select(func.sum(PointsTransaction.points))).scalar_one() == 0


def test_finishing_a_run_that_fails_midway_marks_it_failed_and_keeps_its_committed_chunks(
    db_session: Session, shop: Shop, now: datetime, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """The loop the worker and the CLI share: a chunk that raises is rolled back, the run says why, the error goes on
    to the caller, and what the chunks before it committed stays."""
    from app.loyalty.rulebook import retroactive

    run, _ = queued(db_session, shop, now)
    owner = uuid.uuid4()
    rulebook.claim_retroactive_run(db_session, run_id=run.id, owner=owner, now=now)
    db_session.commit()
    chunks = []

    def second_chunk_fails(session: Session, **kwargs: object) -> bool:
        chunks.append(kwargs)
        if len(chunks) == 2:
            raise RuntimeError("the database went away")
        return rulebook.continue_retroactive_run(session, chunk=2, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(retroactive, "continue_retroactive_run", second_chunk_fails)
    with pytest.raises(RuntimeError, match="the database went away"):
        retroactive.finish_retroactive_run(db_session, run_id=run.id, owner=owner, clock=lambda: now)
    db_session.refresh(run)
    assert (run.status, run.error, run.events_done, run.owner) == (
        "failed",
        "RuntimeError: the database went away",
        2,
        None,
    )
    assert credited_orders(db_session) == ["100", "101"]
