"""Rules as stored, against real PostgreSQL: versions, the cached active set, executions, dry runs, backtests,
retroactive runs, and budgets and limits under concurrent events."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.loyalty import ledger, rulebook
from app.loyalty.base.errors import InvalidInput
from app.loyalty.base.inbound import InboundEvent
from app.loyalty.ledger.profiles import lock_profile
from app.loyalty.processing.event import process_event
from app.loyalty.read_models.storefront import programme
from app.loyalty.rulebook import FIRST_ORDER_BONUS
from app.models import (
    AuditLog,
    CustomerLoyaltyProfile,
    EventQueue,
    Order,
    PointsTransaction,
    Rule,
    RuleBacktest,
    RuleExecution,
    RuleVersion,
    Shop,
    TierDefinition,
)
from app.rules import CustomerFacts, Evaluation, Facts, RuleValidationError, StaticHistory, evaluate
from app.rules.summary import summarize
from tests.helpers import order_payload
from tests.loyalty.rulebook_helpers import CANNOT_RUN, RUNS_AS_SAVED, store_old_version

PER_DOLLAR = {"name": "Per dollar", "actions": [{"type": "points_per_currency", "rate": 1, "basis": "total"}]}


def save(session: Session, shop: Shop, definition: dict[str, Any], now: datetime) -> rulebook.SaveResult:
    result = rulebook.save_rule(session, shop_id=shop.id, definition=definition, actor="admin@shop", now=now)
    session.commit()
    return result


def revision(session: Session, shop: Shop) -> int:
    return session.execute(select(Shop.rules_revision).where(Shop.id == shop.id)).scalar_one()


def store_event(
    session: Session,
    shop: Shop,
    *,
    customer_id: str | None,
    occurred_at: datetime,
    event_type: str = "order_created",
    payload: dict[str, Any] | None = None,
) -> uuid.UUID:
    event_id = uuid.uuid4()
    session.add(
        EventQueue(
            event_id=event_id,
            shop_id=shop.id,
            event_type=event_type,
            customer_id=customer_id,
            payload=payload if payload is not None else {},
            occurred_at=occurred_at,
            received_at=occurred_at,
            status="processed",
        )
    )
    session.flush()
    return event_id


def count(session: Session, model: type) -> int:
    return session.execute(select(func.count()).select_from(model)).scalar_one()


# --- versions ----------------------------------------------------------------------------------------------------


def test_save_creates_then_versions_only_real_changes(db_session: Session, shop: Shop, now: datetime) -> None:
    created = save(db_session, shop, FIRST_ORDER_BONUS, now)
    assert (created.created, created.changed, created.version.version, revision(db_session, shop)) == (True, True, 1, 1)
    same = save(db_session, shop, {**FIRST_ORDER_BONUS, "priority": 0, "status": "active"}, now)  # defaults: identical
    assert (same.changed, same.version.version, revision(db_session, shop)) == (False, 1, 1)
    changed = save(db_session, shop, {**FIRST_ORDER_BONUS, "priority": 5}, now + timedelta(minutes=1))
    assert (changed.changed, changed.version.version, revision(db_session, shop)) == (True, 2, 2)
    assert [str(change) for change in changed.diff] == ["~ /priority: 0 -> 5"]
    rule = db_session.execute(select(Rule)).scalar_one()
    assert (rule.current_version, rule.priority, rule.definition["priority"]) == (2, 5, 5)
    versions = db_session.execute(
        select(RuleVersion.version, RuleVersion.created_by).order_by(RuleVersion.version)
    ).all()
    assert versions == [(1, "admin@shop"), (2, "admin@shop")]


def test_invalid_rule_is_refused_with_pointers_and_writes_nothing(
    db_session: Session, shop: Shop, now: datetime
) -> None:
    bad = {
        **FIRST_ORDER_BONUS,
        "conditions": {"operator": "and", "conditions": [{"type": "order_total", "operator": ">=", "value": "100"}]},
    }
    with pytest.raises(RuleValidationError) as caught:
        rulebook.save_rule(db_session, shop_id=shop.id, definition=bad, actor="a", now=now)
    assert str(caught.value) == "/conditions/conditions/0/value: must be a number"
    db_session.rollback()
    assert (count(db_session, Rule), count(db_session, RuleVersion), revision(db_session, shop)) == (0, 0, 0)


def test_diff_and_restore_make_a_new_version(db_session: Session, shop: Shop, now: datetime) -> None:
    save(db_session, shop, FIRST_ORDER_BONUS, now)
    save(db_session, shop, {**FIRST_ORDER_BONUS, "actions": [{"type": "points", "amount": 750}]}, now)
    changes = rulebook.diff_versions(db_session, shop_id=shop.id, name="First Order Bonus", from_version=1)
    assert [change.to_json() for change in changes] == [
        {"op": "replace", "pointer": "/actions/0/amount", "old": 500, "new": 750},
        {"op": "remove", "pointer": "/actions/0/reason", "old": "First order bonus"},
    ]
    restored = rulebook.restore_version(
        db_session, shop_id=shop.id, name="First Order Bonus", version=1, actor="admin@shop", now=now
    )
    db_session.commit()
    assert (restored.version.version, restored.changed) == (3, True)
    assert (
        rulebook.diff_versions(db_session, shop_id=shop.id, name="First Order Bonus", from_version=1, to_version=3)
        == []
    )
    with pytest.raises(rulebook.RuleNotFound, match="no rule named 'First Order Bonus' version 9 in this shop"):
        rulebook.diff_versions(db_session, shop_id=shop.id, name="First Order Bonus", from_version=9)
    with pytest.raises(rulebook.RuleNotFound, match="no rule named 'Nope' in this shop"):
        rulebook.restore_version(db_session, shop_id=shop.id, name="Nope", version=1, actor="a", now=now)


def test_rules_are_per_shop(db_session: Session, shop: Shop, other_shop: Shop, now: datetime) -> None:
    save(db_session, shop, FIRST_ORDER_BONUS, now)
    other = save(db_session, other_shop, FIRST_ORDER_BONUS, now)
    assert other.created
    assert [r.name for r in rulebook.active_rules(db_session, other_shop)] == ["First Order Bonus"]
    assert (
        rulebook.active_rules(db_session, shop)[0].rule_id != rulebook.active_rules(db_session, other_shop)[0].rule_id
    )


# --- the cached active set ------------------------------------------------------------------------------------


def test_active_rules_are_cached_by_revision_and_reload_after_a_change_in_another_session(
    db_session: Session, session_factory: sessionmaker[Session], shop: Shop, now: datetime
) -> None:
    save(db_session, shop, FIRST_ORDER_BONUS, now)
    save(db_session, shop, {**PER_DOLLAR, "status": "paused"}, now)
    first = rulebook.active_rules(db_session, shop)
    assert [rule.name for rule in first] == ["First Order Bonus"]
    assert rulebook.active_rules(db_session, shop) is first  # no reload while the revision holds
    with session_factory.begin() as other:  # "another process" changes a rule and commits
        rulebook.save_rule(other, shop_id=shop.id, definition=PER_DOLLAR, actor="a", now=now)
    db_session.refresh(shop)
    second = rulebook.active_rules(db_session, shop)
    assert second is not first
    assert sorted(rule.name for rule in second) == ["First Order Bonus", "Per dollar"]
    assert {rule.version for rule in second} == {1, 2}


# --- executions -------------------------------------------------------------------------------------------------


def order_facts(customer_id: str = "501", total: str = "150.00", events: int = 1) -> Facts:
    when = datetime(2026, 3, 2, 15, tzinfo=timezone.utc)
    return Facts(
        str(uuid.uuid4()),
        "order_created",
        when,
        "UTC",
        order_payload(total=total),
        CustomerFacts(customer_id),
        StaticHistory(events=[("order_created", when)] * events),
    )


def test_record_executions_keeps_firings_with_actions_and_trace_and_samples_why_nots(
    db_session: Session, shop: Shop, now: datetime
) -> None:
    save(db_session, shop, FIRST_ORDER_BONUS, now)
    save(db_session, shop, {**PER_DOLLAR, "limits": {"budget_points": 1000}}, now)
    profile = lock_profile(db_session, shop_id=shop.id, customer_id="501", now=now)
    rules = rulebook.active_rules(db_session, shop)

    def record(evaluation: Evaluation, **sampling: float) -> int:
        return rulebook.record_executions(
            db_session,
            shop_id=shop.id,
            event_id=uuid.uuid4(),
            profile_id=profile.id,
            evaluation=evaluation,
            now=now,
            **sampling,
        )

    assert record(evaluate(rules, order_facts())) == 2
    second = evaluate(rules, order_facts(events=2, total="20.00"))
    assert record(second, sample_rate=0) == 1  # the firing only
    assert record(second, sample_rate=1) == 2  # and the why-not
    rows = db_session.execute(select(RuleExecution).order_by(RuleExecution.id)).scalars().all()
    bonus = rows[0]
    assert (bonus.fired, bonus.points, bonus.actions) == (
        True,
        500,
        [{"action_index": 0, "type": "points", "points": 500, "reason": "First order bonus", "params": {}}],
    )
    assert bonus.trace["skipped_reason"] is None
    assert [child["held"] for child in bonus.trace["conditions"][0]["children"]] == [True, True]
    (why_not,) = [row for row in rows if not row.fired]
    assert (why_not.fired, why_not.points, why_not.actions, why_not.trace["skipped_reason"]) == (
        False,
        0,
        [],
        "conditions not met",
    )
    assert why_not.trace["conditions"][0]["children"][1] == {
        "pointer": "/conditions/conditions/1",
        "type": "frequency",
        "operator": "==",
        "held": False,
        "expected": 1,
        "seen": 2,
    }
    assert {row.rule_version_id for row in rows} == {r.version_id for r in rules}
    budgeted = db_session.execute(select(Rule.points_issued).where(Rule.name == "Per dollar")).scalar_one()
    assert budgeted == 150 + 20 + 20  # only the budgeted rule's row is counted
    assert db_session.execute(select(Rule.points_issued).where(Rule.name == "First Order Bonus")).scalar_one() == 0


# --- dry runs ---------------------------------------------------------------------------------------------------


def test_dry_run_explains_and_writes_nothing(db_session: Session, shop: Shop, now: datetime) -> None:
    save(db_session, shop, FIRST_ORDER_BONUS, now)
    before = (count(db_session, RuleExecution), count(db_session, PointsTransaction), revision(db_session, shop))
    envelope = {
        "event_type": "order_created",
        "customer_id": "700",
        "timestamp": "2026-03-02T10:00:00Z",
        "event_data": order_payload(total="150.00", customer_id=700),
    }
    live = rulebook.dry_run(db_session, shop=shop, event=envelope, now=now)
    assert (live.points_total, live.results[0].trace[0].held) == (500, True)
    draft = rulebook.dry_run(
        db_session,
        shop=shop,
        event=order_payload(total="150.00", customer_id=700),
        now=now,
        drafts=[{**PER_DOLLAR, "status": "draft"}],
    )
    assert [(d.rule_name, d.points) for d in draft.decisions] == [("Per dollar", 150)]
    guest = rulebook.dry_run(
        db_session, shop=shop, event=order_payload(customer_id=None), now=now, names=["First Order Bonus"]
    )
    assert (guest.points_total, guest.results[0].skipped_reason) == (0, "conditions not met")
    with pytest.raises(rulebook.RuleNotFound):
        rulebook.dry_run(db_session, shop=shop, event=envelope, now=now, names=["Missing"])
    db_session.commit()
    assert (
        count(db_session, RuleExecution),
        count(db_session, PointsTransaction),
        revision(db_session, shop),
    ) == before


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ([], "an event must be a JSON object"),
        ({"event_data": {}, "event_type": ""}, "event_type: must be a non-empty string"),
        ({"event_data": [], "event_type": "order_created"}, "event_data: must be a JSON object"),
        ({"event_data": {}, "event_type": "order_created", "timestamp": "yesterday"}, "timestamp: 'yesterday' is not"),
        ({"event_data": {}, "event_type": "order_created", "timestamp": "2026-01-01T10:00"}, "needs a UTC offset"),
    ],
)
def test_dry_run_refuses_a_malformed_event(
    db_session: Session, shop: Shop, now: datetime, event: Any, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        rulebook.dry_run(db_session, shop=shop, event=event, now=now)


# --- concurrency: budgets and limits ------------------------------------------------------------------------------


def race(session_factory: sessionmaker[Session], events: list[InboundEvent], now: datetime) -> None:
    barrier = threading.Barrier(len(events))
    errors: list[BaseException] = []

    def run(event: InboundEvent) -> None:
        session = session_factory()
        try:
            barrier.wait()
            with session.begin():
                process_event(session, event, consumer_group="test", now=now)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            session.close()

    threads = [threading.Thread(target=run, args=(event,)) for event in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []


def order_event(shop: Shop, customer_id: int, order_id: int, total: str = "150.00") -> InboundEvent:
    return InboundEvent(
        event_id=uuid.uuid4(),
        event_type="order_created",
        shop_domain=shop.domain,
        customer_id=str(customer_id),
        timestamp=datetime(2026, 3, 2, 15, tzinfo=timezone.utc),
        event_data=order_payload(order_id=order_id, customer_id=customer_id, total=total),
    )


def test_budget_is_never_overspent_by_concurrent_events(
    db_session: Session, session_factory: sessionmaker[Session], shop: Shop, now: datetime
) -> None:
    save(
        db_session,
        shop,
        {"name": "Launch bonus", "limits": {"budget_points": 1000}, "actions": [{"type": "points", "amount": 300}]},
        now,
    )
    race(session_factory, [order_event(shop, 9000 + n, 5000 + n) for n in range(8)], now)
    credited = (
        db_session.execute(
            select(PointsTransaction.points)
            .where(PointsTransaction.rule_id.is_not(None))
            .order_by(PointsTransaction.points.desc())
        )
        .scalars()
        .all()
    )
    assert credited == [300, 300, 300, 100]  # the fourth award is cut to what remains, then the rule stops
    assert db_session.execute(select(Rule.points_issued)).scalar_one() == 1000
    reasons = db_session.execute(select(func.count()).where(RuleExecution.fired.is_(True))).scalar_one()
    assert reasons == 4


def test_per_customer_limit_holds_under_concurrent_events_of_one_customer(
    db_session: Session, session_factory: sessionmaker[Session], shop: Shop, now: datetime
) -> None:
    save(
        db_session,
        shop,
        {"name": "Once", "limits": {"per_customer": 1}, "actions": [{"type": "points", "amount": 50}]},
        now,
    )
    race(session_factory, [order_event(shop, 42, 7000 + n) for n in range(6)], now)
    credited = db_session.execute(select(PointsTransaction.points)).scalars().all()
    assert credited == [50]
    profile = db_session.execute(
        select(CustomerLoyaltyProfile).where(CustomerLoyaltyProfile.customer_id == "42")
    ).scalar_one()
    assert profile.points_balance == 50


# --- backtests ------------------------------------------------------------------------------------------------


def test_backtest_reports_the_change_against_the_live_rules_and_writes_nothing(
    db_session: Session, shop: Shop, now: datetime
) -> None:
    shop.tier_basis = "points_earned"
    db_session.add(TierDefinition(shop_id=shop.id, name="Gold", level=1, threshold=Decimal(900)))
    db_session.commit()
    save(db_session, shop, FIRST_ORDER_BONUS, now)
    day = datetime(2026, 2, 1, 12, tzinfo=timezone.utc)
    store_event(
        db_session,
        shop,
        customer_id="1",
        occurred_at=day - timedelta(days=40),
        payload=order_payload(order_id=1, total="200.00"),
    )  # before the range: "1" is not a first order
    for n, (customer, total) in enumerate(
        [("1", "120.00"), ("2", "150.00"), ("2", "90.00"), ("3", "99.99"), (None, "300.00")]
    ):
        store_event(
            db_session,
            shop,
            customer_id=customer,
            occurred_at=day + timedelta(hours=n),
            payload=order_payload(order_id=10 + n, total=total),
        )
    store_event(
        db_session,
        shop,
        customer_id="2",
        occurred_at=day + timedelta(days=60),
        payload=order_payload(order_id=99, total="500.00"),
    )  # after the range
    db_session.commit()
    before = (count(db_session, RuleExecution), count(db_session, PointsTransaction))
    draft = {**FIRST_ORDER_BONUS, "actions": [{"type": "points", "amount": 1200}]}
    seen: list[tuple[int, int]] = []
    result = rulebook.backtest(
        db_session,
        shop=shop,
        drafts=[draft, PER_DOLLAR],
        start=day,
        end=day + timedelta(days=30),
        progress=lambda done, total: seen.append((done, total)),
    )
    assert (result.events, result.baseline_points) == (5, 500)  # only customer 2's first order qualifies
    assert result.points == 1200 + (120 + 150 + 90 + 99 + 300)  # the guest order earns per dollar too
    assert (result.points_change, result.customers_affected, result.customers_earning) == (1459, 3, 3)
    assert result.liability_change == Decimal("14.59")  # at 100 points per USD
    assert (result.by_rule["First Order Bonus"].firings, result.by_rule["Per dollar"].points) == (1, 759)
    assert result.tier_movements == [{"customer_id": "2", "from": None, "to": "Gold", "points_change": 940}]
    assert seen == [(5, 5)]
    db_session.commit()
    assert (count(db_session, RuleExecution), count(db_session, PointsTransaction)) == before


def _running_backtest(session: Session, shop: Shop, *, created_at: datetime) -> uuid.UUID:
    run = rulebook.queue_backtest(
        session,
        shop_id=shop.id,
        definition=FIRST_ORDER_BONUS,
        start=created_at - timedelta(days=30),
        end=created_at,
        actor="admin@shop",
        now=created_at,
    )
    assert rulebook.claim_backtest(session, run_id=run.id, now=created_at) is not None
    session.commit()
    return run.id


def test_a_running_backtest_that_never_reported_is_failed_once_silent_since_it_was_created(
    db_session: Session, shop: Shop, now: datetime
) -> None:
    """A run left running with no report time (claimed before progress_at existed) stalls as of its creation."""
    old = _running_backtest(db_session, shop, created_at=now - timedelta(minutes=11))
    recent = _running_backtest(db_session, shop, created_at=now - timedelta(minutes=9))
    db_session.execute(update(RuleBacktest).values(progress_at=None))

    assert rulebook.fail_stalled_backtests(db_session, now=now) == 1
    db_session.commit()
    assert (db_session.get(RuleBacktest, old).status, db_session.get(RuleBacktest, recent).status) == (
        "failed",
        "running",
    )


def test_progress_of_a_run_failed_as_stalled_is_not_recorded_and_stops_the_replay(
    db_session: Session, shop: Shop, now: datetime
) -> None:
    run_id = _running_backtest(db_session, shop, created_at=now)
    assert rulebook.fail_stalled_backtests(db_session, now=now + timedelta(minutes=11)) == 1
    db_session.commit()

    # The worker was only slow: its next report finds the run failed, changes nothing, and stops it.
    with pytest.raises(rulebook.BacktestCancelled):
        rulebook.record_progress(db_session, run_id=run_id, done=1000, total=5000, now=now + timedelta(minutes=12))
    db_session.commit()
    db_session.expire_all()
    run = db_session.get(RuleBacktest, run_id)
    assert (run.status, run.events_done, run.events_total, run.progress_at) == ("failed", 0, None, now)


# --- retroactive runs -------------------------------------------------------------------------------------------


def big_orders(*, points: int) -> dict[str, Any]:
    """A rule for retroactive runs: `points` for every order of 100 or more."""
    return {
        "name": "Big orders",
        "conditions": {"operator": "and", "conditions": [{"type": "order_total", "operator": ">=", "value": 100}]},
        "actions": [{"type": "points", "amount": points}],
    }


def test_retroactive_run_credits_once_per_event_and_reverses_as_a_batch(
    db_session: Session, shop: Shop, now: datetime
) -> None:
    save(db_session, shop, big_orders(points=25), now)
    day = now - timedelta(days=10)
    for n, (customer, total) in enumerate([("1", "150.00"), ("1", "50.00"), ("2", "300.00"), (None, "500.00")]):
        store_event(
            db_session,
            shop,
            customer_id=customer,
            occurred_at=day + timedelta(hours=n),
            payload=order_payload(order_id=100 + n, total=total),
        )
    db_session.commit()
    run = rulebook.retroactive_run(
        db_session, shop=shop, name="Big orders", start=day, end=now, actor="admin@shop", now=now
    )
    db_session.commit()
    assert (run.events, run.credits, run.points, run.duplicates) == (3, 2, 50, 0)
    keys = db_session.execute(select(PointsTransaction.idempotency_key).order_by(PointsTransaction.id)).scalars().all()
    rule_id = db_session.execute(select(Rule.id)).scalar_one()
    assert keys == [f"rule:{rule_id}:a0:order:100", f"rule:{rule_id}:a0:order:102"]
    again = rulebook.retroactive_run(
        db_session, shop=shop, name="Big orders", start=day, end=now, actor="admin@shop", now=now
    )
    db_session.commit()
    assert (again.credits, again.points, again.duplicates) == (0, 0, 2)
    undone = rulebook.reverse_retroactive_run(db_session, shop=shop, batch_id=run.batch_id, actor="admin@shop", now=now)
    db_session.commit()
    assert (undone.customers, undone.claimed, undone.reversed, undone.shortfall) == (2, 50, 50, 0)
    balances = db_session.execute(select(CustomerLoyaltyProfile.points_balance)).scalars().all()
    assert balances == [0, 0]
    twice = rulebook.reverse_retroactive_run(db_session, shop=shop, batch_id=run.batch_id, actor="admin@shop", now=now)
    assert (twice.claimed, twice.reversed) == (0, 0)
    actions = db_session.execute(select(AuditLog.action).order_by(AuditLog.id)).scalars().all()
    assert actions == [
        "rule_retroactive_run",
        "rule_retroactive_run",
        "rule_retroactive_reversal",
        "rule_retroactive_reversal",
    ]
    with pytest.raises(InvalidInput, match="needs the admin"):
        rulebook.retroactive_run(db_session, shop=shop, name="Big orders", start=day, end=now, actor=" ", now=now)


def test_refunds_take_back_retroactive_points_in_proportion_and_the_batch_reversal_only_the_rest(
    db_session: Session, shop: Shop, now: datetime
) -> None:
    """Points a retroactive run gave an order are that order's points: its refunds take them back too."""
    save(db_session, shop, big_orders(points=100), now)
    day = now - timedelta(days=10)
    profile = lock_profile(db_session, shop_id=shop.id, customer_id="1", now=day)
    db_session.add(
        Order(
            shop_id=shop.id,
            profile_id=profile.id,
            order_id="100",
            total=Decimal("200.00"),
            subtotal=Decimal("200.00"),
            placed_at=day,
        )
    )
    store_event(db_session, shop, customer_id="1", occurred_at=day, payload=order_payload(order_id=100, total="200.00"))
    db_session.commit()
    run = rulebook.retroactive_run(db_session, shop=shop, name="Big orders", start=day, end=now, actor="a", now=now)
    db_session.commit()
    assert (run.credits, run.points) == (1, 100)

    def refund(refund_id: str, amount: str) -> ledger.ReversalResult:
        customer = lock_profile(db_session, shop_id=shop.id, customer_id="1", now=now)
        result = ledger.apply_refund(
            db_session,
            shop=shop,
            profile=customer,
            order_id="100",
            refund_id=refund_id,
            refunded_amount=Decimal(amount),
            event_id=uuid.uuid4(),
            now=now,
        )
        db_session.commit()
        return result

    assert refund("r1", "50.00").points_claimed == 25  # a quarter of the order
    assert refund("r1", "50.00").duplicate  # the same refund again takes nothing
    undone = rulebook.reverse_retroactive_run(db_session, shop=shop, batch_id=run.batch_id, actor="a", now=now)
    db_session.commit()
    assert (undone.claimed, undone.reversed) == (75, 75)  # only what the refund had not taken
    assert refund("r2", "150.00").points_claimed == 0  # nothing of the batch is left to take
    db_session.expire_all()
    assert db_session.get(CustomerLoyaltyProfile, profile.id).points_balance == 0
    assert db_session.execute(select(func.sum(PointsTransaction.points))).scalar_one() == 0


def test_explaining_an_order_already_processed_does_not_count_it_twice(
    db_session: Session, shop: Shop, now: datetime
) -> None:
    save(db_session, shop, FIRST_ORDER_BONUS, now)
    event = order_event(shop, 321, 654)
    process_event(db_session, event, consumer_group="test", now=now)
    db_session.commit()
    envelope = {
        "event_id": str(event.event_id),
        "event_type": "order_created",
        "customer_id": "321",
        "timestamp": event.timestamp.isoformat(),
        "event_data": event.event_data,
    }
    explained = rulebook.dry_run(db_session, shop=shop, event=envelope, now=now)
    assert [child.seen for child in explained.results[0].trace[0].children] == ["150.00", 1]
    assert explained.points_total == 500
    second = {**envelope, "event_id": str(uuid.uuid4()), "event_data": order_payload(order_id=655, customer_id=321)}
    assert rulebook.dry_run(db_session, shop=shop, event=second, now=now).results[0].trace[0].children[1].seen == 2


# --- replays follow the shop's orders_earn_on ------------------------------------------------------------------

# A rule that names both order topics: live, a shop that earns on payment runs it once per order, at orders/paid.
EVERY_ORDER_TOPIC = {
    "name": "Per dollar",
    "event_types": ["order_created", "order_paid"],
    "actions": [{"type": "points_per_currency", "rate": 1, "basis": "total"}],
}


def _paid_and_unpaid_orders(session: Session, shop: Shop, day: datetime) -> None:
    """Order 1 of customer 1 created, then paid; order 2 of customer 2 created and never paid."""
    shop.orders_earn_on = "paid"
    first = order_payload(order_id=1, customer_id=1, total="150.00")
    store_event(session, shop, customer_id="1", occurred_at=day, payload=first)
    paid_at = day + timedelta(hours=1)
    store_event(session, shop, customer_id="1", occurred_at=paid_at, payload=first, event_type="order_paid")
    store_event(
        session,
        shop,
        customer_id="2",
        occurred_at=day + timedelta(hours=2),
        payload=order_payload(order_id=2, customer_id=2, total="90.00"),
    )
    session.commit()


def test_a_backtest_of_a_shop_that_earns_on_payment_counts_each_paid_order_once(
    db_session: Session, shop: Shop, now: datetime
) -> None:
    day = now - timedelta(days=10)
    _paid_and_unpaid_orders(db_session, shop, day)
    live_default = {**EVERY_ORDER_TOPIC, "name": "Per dollar (orders)", "event_types": ["order_created"]}
    save(db_session, shop, live_default, now)

    result = rulebook.backtest(db_session, shop=shop, drafts=[EVERY_ORDER_TOPIC], start=day, end=now)

    # Order 1 earns once, at its payment; order 2 was never paid and earns nothing, as live.
    assert (result.events, result.points, result.baseline_points) == (3, 150 + 150, 150)
    assert result.by_rule["Per dollar"].firings == 1
    assert result.baseline_by_rule["Per dollar (orders)"].firings == 1
    assert result.top_customers == [{"customer_id": "1", "points": 300, "baseline_points": 150}]


def test_a_retroactive_run_of_a_shop_that_earns_on_payment_credits_each_paid_order_once(
    db_session: Session, shop: Shop, now: datetime
) -> None:
    day = now - timedelta(days=10)
    _paid_and_unpaid_orders(db_session, shop, day)
    save(db_session, shop, EVERY_ORDER_TOPIC, now)

    run = rulebook.retroactive_run(db_session, shop=shop, name="Per dollar", start=day, end=now, actor="a", now=now)
    db_session.commit()

    assert (run.events, run.credits, run.points, run.duplicates) == (1, 1, 150, 0)
    rule_id = db_session.execute(select(Rule.id)).scalar_one()
    keys = db_session.execute(select(PointsTransaction.idempotency_key)).scalars().all()
    assert keys == [f"rule:{rule_id}:a0:order:1"]


def test_a_dry_run_sees_the_shops_earning_order_event_as_an_order(
    db_session: Session, shop: Shop, now: datetime
) -> None:
    shop.orders_earn_on = "paid"
    db_session.commit()
    save(db_session, shop, PER_DOLLAR, now)
    paid = {
        "event_type": "order_paid",
        "customer_id": "700",
        "timestamp": "2026-03-02T10:00:00Z",
        "event_data": order_payload(total="150.00", customer_id=700),
    }
    assert rulebook.dry_run(db_session, shop=shop, event=paid, now=now).points_total == 150
    shop.orders_earn_on = "created"
    db_session.commit()
    assert rulebook.dry_run(db_session, shop=shop, event=paid, now=now).points_total == 0


# --- versions stored under looser bounds -----------------------------------------------------------------------


def test_the_active_set_runs_an_old_version_as_saved_or_leaves_it_out_and_keeps_the_others(
    db_session: Session, shop: Shop, now: datetime
) -> None:
    save(db_session, shop, PER_DOLLAR, now)
    store_old_version(db_session, shop, RUNS_AS_SAVED["amount"])
    store_old_version(db_session, shop, CANNOT_RUN["within_days"])
    assert sorted(rule.name for rule in rulebook.active_rules(db_session, shop)) == ["Big bonus", "Per dollar"]
    assert rulebook.listens_to(db_session, shop, "order_created")
    envelope = {
        "event_type": "order_created",
        "customer_id": "700",
        "timestamp": "2026-03-02T10:00:00Z",
        "event_data": order_payload(total="150.00", customer_id=700),
    }
    tried = rulebook.dry_run(db_session, shop=shop, event=envelope, now=now)
    assert sorted((d.rule_name, d.points) for d in tried.decisions) == [
        ("Big bonus", 5_000_000_000),
        ("Per dollar", 150),
    ]
    day = now - timedelta(days=1)
    store_event(db_session, shop, customer_id="1", occurred_at=day, payload=order_payload(order_id=1, total="20.00"))
    db_session.commit()
    result = rulebook.backtest(db_session, shop=shop, drafts=[{**PER_DOLLAR, "name": "Draft"}], start=day, end=now)
    assert (result.events, result.baseline_points) == (1, 5_000_000_000 + 20)


def test_the_storefront_programme_shows_the_ways_to_earn_of_the_rules_that_run(
    db_session: Session, shop: Shop, now: datetime
) -> None:
    save(db_session, shop, PER_DOLLAR, now)
    store_old_version(db_session, shop, RUNS_AS_SAVED["amount"])
    store_old_version(db_session, shop, CANNOT_RUN["amount"])
    ways = programme(db_session, shop=shop).ways_to_earn
    assert [(way.definition["name"], way.points) for way in ways] == [
        ("Big bonus", 5_000_000_000),
        ("Per dollar", None),
    ]
    assert summarize(ways[0].definition, "USD") == "Customers earn 5,000,000,000 points when an order is placed."


def test_editing_an_old_version_takes_todays_bounds(db_session: Session, shop: Shop, now: datetime) -> None:
    store_old_version(db_session, shop, RUNS_AS_SAVED["amount"])
    edited = {**RUNS_AS_SAVED["amount"], "description": "bigger than ever"}
    with pytest.raises(RuleValidationError) as refused:
        rulebook.save_rule(db_session, shop_id=shop.id, definition=edited, actor="admin@shop", now=now)
    db_session.rollback()
    assert str(refused.value) == "/actions/0/amount: must be at most 1,000,000,000"
    fixed = {**edited, "actions": [{"type": "points", "amount": 1_000_000_000}]}
    assert rulebook.save_rule(db_session, shop_id=shop.id, definition=fixed, actor="admin@shop", now=now).changed
