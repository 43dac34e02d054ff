"""Backtests run on request (the admin builder's): a row per run holds the draft, the range, the progress a worker
reports, a cancel request, and the result, kept so a merchant can compare drafts.

The states: queued -> running -> done | failed | cancelled. A worker claims a queued run once (`claim_backtest`), so
a task delivered twice replays nothing twice; it reports progress in short transactions of its own
(`record_progress`), which is where a cancel request is seen. A worker that dies mid-run (a deploy, an OOM kill)
never finishes its run: `fail_stalled_backtests` marks a running run failed once it has been silent for
STALLED_AFTER, so the merchant sees why and can run it again.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.loyalty.base.errors import InvalidInput
from app.loyalty.rulebook.backtesting import BacktestResult
from app.models import RuleBacktest
from app.rules import parse_rule

MAX_RANGE_DAYS = 3 * 366
FINISHED = ("done", "failed", "cancelled")
# A run reports every PROGRESS_EVERY events (seconds apart even on a big shop); ten silent minutes mean its worker is
# gone.
STALLED_AFTER = timedelta(minutes=10)
STALLED_ERROR = "the worker running this backtest stopped before it finished (restarted or crashed); run it again"


class BacktestCancelled(Exception):
    """The run is to stop: the merchant cancelled it, or it is no longer running (failed as stalled while its worker
    was only slow); raised from its progress report to stop the replay."""


def queue_backtest(
    session: Session,
    *,
    shop_id: int,
    definition: dict[str, Any],
    start: datetime,
    end: datetime,
    actor: str,
    now: datetime,
) -> RuleBacktest:
    """Record a backtest of a draft rule over [start, end) as queued; RuleValidationError for an invalid draft,
    InvalidInput for a range that is empty or longer than three years."""
    rule = parse_rule(definition)
    if end <= start:
        raise InvalidInput("the backtest's last day must not be before its first day")
    if (end - start).days > MAX_RANGE_DAYS:
        raise InvalidInput(f"a backtest covers at most {MAX_RANGE_DAYS} days")
    run = RuleBacktest(
        id=uuid.uuid4(),
        shop_id=shop_id,
        rule_name=rule.name,
        definition=rule.definition,
        starts_at=start,
        ends_at=end,
        status="queued",
        cancel_requested=False,
        events_done=0,
        created_by=actor,
        created_at=now,
    )
    session.add(run)
    session.flush()
    return run


def find_backtest(session: Session, *, shop_id: int, run_id: uuid.UUID) -> RuleBacktest | None:
    """The shop's backtest by id (None for another shop's)."""
    return session.execute(
        select(RuleBacktest).where(RuleBacktest.id == run_id, RuleBacktest.shop_id == shop_id)
    ).scalar_one_or_none()


def recent_backtests(session: Session, *, shop_id: int, rule_name: str, limit: int = 10) -> list[RuleBacktest]:
    """The shop's latest backtests of drafts with that rule name, newest first."""
    return list(
        session.execute(
            select(RuleBacktest)
            .where(RuleBacktest.shop_id == shop_id, RuleBacktest.rule_name == rule_name)
            .order_by(RuleBacktest.created_at.desc())
            .limit(limit)
        ).scalars()
    )


def claim_backtest(session: Session, *, run_id: uuid.UUID, now: datetime) -> RuleBacktest | None:
    """Mark a queued run running and return it; None when it is not queued (claimed already, or cancelled)."""
    claimed = session.execute(
        update(RuleBacktest)
        .where(RuleBacktest.id == run_id, RuleBacktest.status == "queued")
        .values(status="running", progress_at=now)
        .returning(RuleBacktest.id)
    ).first()
    return session.get(RuleBacktest, run_id) if claimed is not None else None


def record_progress(session: Session, *, run_id: uuid.UUID, done: int, total: int, now: datetime) -> None:
    """Store how far the run is; BacktestCancelled when the merchant asked it to stop, or when it is no longer
    running (a run failed as stalled keeps the progress it had when it failed)."""
    cancel = session.execute(
        update(RuleBacktest)
        .where(RuleBacktest.id == run_id, RuleBacktest.status == "running")
        .values(events_done=done, events_total=total, progress_at=now)
        .returning(RuleBacktest.cancel_requested)
    ).scalar_one_or_none()
    if cancel is None or cancel:
        raise BacktestCancelled(str(run_id))


def cancel_backtest(session: Session, run: RuleBacktest, *, now: datetime) -> None:
    """Ask a run to stop: a queued one is cancelled at once, a running one at its next progress report."""
    if run.status in FINISHED:
        return
    run.cancel_requested = True
    if run.status == "queued":
        run.status, run.finished_at = "cancelled", now
    session.flush()


def fail_stalled_backtests(session: Session, *, now: datetime) -> int:
    """Mark failed every running run (of any shop) whose worker has not reported for STALLED_AFTER (a run with no
    report time, claimed before progress_at existed, since it was created); returns how many. A worker that was only
    slow and reports later is stopped (record_progress) and finish_backtest leaves its run failed."""
    silent_since = func.coalesce(RuleBacktest.progress_at, RuleBacktest.created_at)
    stalled = session.execute(
        update(RuleBacktest)
        .where(RuleBacktest.status == "running", silent_since < now - STALLED_AFTER)
        .values(status="failed", finished_at=now, error=STALLED_ERROR)
        .returning(RuleBacktest.id)
    )
    return len(stalled.all())


def finish_backtest(
    session: Session,
    *,
    run_id: uuid.UUID,
    status: str,
    now: datetime,
    result: BacktestResult | None = None,
    error: str | None = None,
) -> None:
    """Record how the run ended: done with its result, failed with its error, or cancelled."""
    if status not in FINISHED:
        raise ValueError(f"a run ends done, failed or cancelled, not {status}")
    values: dict[str, Any] = {"status": status, "finished_at": now, "error": error}
    if result is not None:
        values.update(result=result_json(result), events_done=result.events, events_total=result.events)
    # Only a running run: one already failed as stalled keeps the error the merchant may have read.
    session.execute(
        update(RuleBacktest).where(RuleBacktest.id == run_id, RuleBacktest.status == "running").values(**values)
    )


def result_json(result: BacktestResult) -> dict[str, Any]:
    """A backtest result as JSON (money as text, weeks as ISO dates)."""
    return {
        "events": result.events,
        "points": result.points,
        "baseline_points": result.baseline_points,
        "points_change": result.points_change,
        "customers_affected": result.customers_affected,
        "customers_earning": result.customers_earning,
        "liability_change": str(result.liability_change),
        "currency": result.currency,
        "by_rule": {name: {"firings": t.firings, "points": t.points} for name, t in result.by_rule.items()},
        "baseline_by_rule": {
            name: {"firings": t.firings, "points": t.points} for name, t in result.baseline_by_rule.items()
        },
        "tier_movements": result.tier_movements,
        "by_week": [[week.isoformat(), *points] for week, points in result.by_week.items()],
        "top_customers": result.top_customers,
        "seconds": round(result.seconds, 3),
    }
