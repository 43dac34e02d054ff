"""Retroactive runs: one rule applied for real to the shop's past events, as a batch that can be reversed.

Idempotent per event: each credit uses the key the live path uses, `rule:{rule_id}:a{action}:{source}` (source is
the business object, e.g. `order:123`), so an order the rule already credited, live or by an earlier run, is never
credited again. The batch's credits carry source ("rule_retro", "<batch id>:<business source>"): the batch is what
`reverse_retroactive_run` takes back, and the business object is what a later refund or cancellation of that order
takes back in proportion (see `retro_sources`).
Only point actions are applied; rewards, tags and webhooks for past events are left out and counted as skipped.
As live, an order runs the rule at the event the shop's `orders_earn_on` names (order_earning.rule_event_type).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Row, any_, case, func, literal, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from app.loyalty import ledger
from app.loyalty.base.errors import InvalidInput
from app.loyalty.base.inbound import ORDER_EVENT_TYPES
from app.loyalty.base.order_earning import rule_event_type
from app.loyalty.ledger.profiles import lock_profile, lock_profiles, lock_profiles_by_id, release_profiles
from app.loyalty.ledger.retro_sources import RETRO_SOURCE, retro_source
from app.loyalty.rulebook.backtest_runs import MAX_RANGE_DAYS, STALLED_AFTER
from app.loyalty.rulebook.executions import record_executions
from app.loyalty.rulebook.facts import business_source, customer_facts, rule_credit_key
from app.loyalty.rulebook.history import DatabaseHistory, stored_in_range
from app.loyalty.rulebook.store import compiled_version, get_version
from app.models import AuditLog, PointsTransaction, RuleRetroRun, RuleVersion, Shop, event_history
from app.models import Rule as RuleRow
from app.rules import CompiledRule, Facts, evaluate

ALL_STATUSES = frozenset({"draft", "active", "paused", "archived"})
# Events a queued run applies per transaction: each chunk commits its credits with the run's cursor and totals, a few
# seconds of work (about 5 ms an event here), so locks are short and a stopped run loses at most one chunk's work.
RETRO_CHUNK = 500


@dataclass(frozen=True)
class RetroResult:
    """What a retroactive run did: events seen, credits posted and their points, duplicates and skipped actions."""

    batch_id: uuid.UUID
    events: int
    credits: int
    points: int
    duplicates: int
    skipped_actions: int


@dataclass(frozen=True)
class RetroReversal:
    """What reversing a batch did: customers touched, points claimed, taken back, and the shortfall not taken."""

    batch_id: uuid.UUID
    customers: int
    claimed: int
    reversed: int
    shortfall: int


def retroactive_run(
    session: Session,
    *,
    shop: Shop,
    name: str,
    start: datetime,
    end: datetime,
    actor: str,
    now: datetime,
    version: int | None = None,
) -> RetroResult:
    """Apply the rule (its current version, or `version`) to the stored events in [start, end) of its event types,
    crediting through the ledger once per event and action, all in the caller's transaction; record the firings and
    an audit entry. For a range small enough for one transaction (the admin's preview); real runs are queued
    (RuleRetroRun) and applied a chunk per transaction."""
    if not actor or not actor.strip():
        raise InvalidInput("a retroactive run needs the admin who runs it")
    row, stored = get_version(session, shop_id=shop.id, name=name, version=version)
    replay = _Replay(shop, row, stored, compiled_version(stored, row.id), uuid.uuid4(), actor.strip(), now)
    events = session.execute(select(*_EVENT_COLUMNS).where(*replay.in_range(start, end)).order_by(*_REPLAY_ORDER)).all()
    replay.apply(session, events)
    replay.audit(session, start, end, status="done")
    session.flush()
    return replay.result()


def count_retroactive_events(
    session: Session, *, shop: Shop, name: str, start: datetime, end: datetime, version: int | None = None
) -> int:
    """How many stored events a retroactive run of the rule over [start, end) would replay."""
    row, stored = get_version(session, shop_id=shop.id, name=name, version=version)
    in_range = _replayed(shop, compiled_version(stored, row.id), start, end)
    return session.execute(select(func.count()).where(*in_range)).scalar_one()


def queue_retroactive_run(
    session: Session,
    *,
    shop: Shop,
    name: str,
    start: datetime,
    end: datetime,
    actor: str,
    now: datetime,
    version: int | None = None,
) -> RuleRetroRun:
    """Record a retroactive run of the rule (its current version, or `version`) over [start, end) as queued, for a
    worker (`continue_retroactive_run`); InvalidInput for a missing actor or a range that is empty or over three
    years."""
    if not actor or not actor.strip():
        raise InvalidInput("a retroactive run needs the admin who runs it")
    if end <= start:
        raise InvalidInput("the retroactive run's last day must not be before its first day")
    if (end - start).days > MAX_RANGE_DAYS:
        raise InvalidInput(f"a retroactive run covers at most {MAX_RANGE_DAYS} days")
    row, stored = get_version(session, shop_id=shop.id, name=name, version=version)
    run = RuleRetroRun(
        id=uuid.uuid4(),
        shop_id=shop.id,
        rule_id=row.id,
        rule_version=stored.version,
        starts_at=start,
        ends_at=end,
        status="queued",
        events_done=0,
        credits=0,
        points=0,
        duplicates=0,
        skipped_actions=0,
        created_by=actor.strip(),
        created_at=now,
    )
    session.add(run)
    session.flush()
    return run


def find_retroactive_run(session: Session, *, shop_id: int, run_id: uuid.UUID) -> RuleRetroRun | None:
    """The shop's retroactive run by id (None for another shop's), as the row is now: a worker moves it on, so a copy
    the session loaded earlier is not served."""
    return session.execute(
        select(RuleRetroRun)
        .where(RuleRetroRun.id == run_id, RuleRetroRun.shop_id == shop_id)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def latest_retroactive_run(session: Session, *, shop_id: int, rule_id: int) -> RuleRetroRun | None:
    """The rule's most recent retroactive run in this shop (its page shows it, with its progress or its undo)."""
    return session.execute(
        select(RuleRetroRun)
        .where(RuleRetroRun.shop_id == shop_id, RuleRetroRun.rule_id == rule_id)
        .order_by(RuleRetroRun.created_at.desc(), RuleRetroRun.id)
        .limit(1)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def claim_retroactive_run(session: Session, *, run_id: uuid.UUID, owner: uuid.UUID, now: datetime) -> bool:
    """Make `owner` the worker of a queued run or an undo asked for, or of a running run or undo silent for
    STALLED_AFTER (its worker stopped: it resumes after the last chunk committed). False when the run is finished or
    another worker is on it."""
    silent_since = func.coalesce(RuleRetroRun.progress_at, RuleRetroRun.created_at)
    claimed = session.execute(
        update(RuleRetroRun)
        .where(
            RuleRetroRun.id == run_id,
            or_(
                RuleRetroRun.status == "queued",
                (RuleRetroRun.status == "undoing") & RuleRetroRun.owner.is_(None),
                RuleRetroRun.status.in_(("running", "undoing")) & (silent_since < now - STALLED_AFTER),
            ),
        )
        .values(
            status=case((RuleRetroRun.status == "queued", "running"), else_=RuleRetroRun.status),
            owner=owner,
            progress_at=now,
        )
        .returning(RuleRetroRun.id)
    ).first()
    return claimed is not None


def continue_retroactive_run(
    session: Session, *, run_id: uuid.UUID, owner: uuid.UUID, now: datetime, chunk: int = RETRO_CHUNK
) -> bool:
    """Apply the run's next `chunk` events in the caller's transaction, with the run's cursor and totals, so a commit
    keeps both or neither; or, for an undo, take back what it gave `chunk` customers. True when nothing is left for
    this owner (the run or its undo is done now, or no longer its own)."""
    run = session.execute(select(RuleRetroRun).where(RuleRetroRun.id == run_id).with_for_update()).scalar_one_or_none()
    if run is None or run.status not in ("running", "undoing") or run.owner != owner:
        return True
    if run.status == "undoing":
        return _undo_chunk(session, run, now=now, customers=chunk)
    shop = session.get_one(Shop, run.shop_id)
    row = session.get_one(RuleRow, run.rule_id)
    stored = session.execute(
        select(RuleVersion).where(RuleVersion.rule_id == run.rule_id, RuleVersion.version == run.rule_version)
    ).scalar_one()
    replay = _Replay(shop, row, stored, compiled_version(stored, row.id), run.id, run.created_by, now)
    in_range = replay.in_range(run.starts_at, run.ends_at)
    if run.events_total is None:
        run.events_total = session.execute(select(func.count()).where(*in_range)).scalar_one()
    if run.cursor_at is not None:
        in_range.append(tuple_(*_REPLAY_ORDER) > tuple_(run.cursor_at, run.cursor_id))
    events = session.execute(select(*_EVENT_COLUMNS).where(*in_range).order_by(*_REPLAY_ORDER).limit(chunk)).all()
    replay.apply(session, events)
    if events:
        run.cursor_at, run.cursor_id = events[-1].occurred_at, events[-1].id
    run.events_done += replay.totals["events"]
    run.credits += replay.totals["credits"]
    run.points += replay.totals["points"]
    run.duplicates += replay.totals["duplicates"]
    run.skipped_actions += replay.totals["skipped"]
    run.progress_at = now
    finished = len(events) < chunk
    if finished:
        run.status, run.owner, run.finished_at = "done", None, now
        _audit_run(session, run, status="done")
    session.flush()
    return finished


def finish_retroactive_run(
    session: Session, *, run_id: uuid.UUID, owner: uuid.UUID, clock: Callable[[], datetime]
) -> None:
    """Take the owner's claimed run, or its undo, to its end: a chunk per transaction of its own (so the session must
    have none open). When a chunk fails, it is rolled back, the run is marked failed with why (what the committed
    chunks did stays), and the error is raised again for the caller to report."""
    try:
        finished = False
        while not finished:
            with session.begin():
                finished = continue_retroactive_run(session, run_id=run_id, owner=owner, now=clock())
    except Exception as exc:
        session.rollback()
        with session.begin():
            fail_retroactive_run(session, run_id=run_id, owner=owner, error=f"{type(exc).__name__}: {exc}", now=clock())
        raise


def fail_retroactive_run(session: Session, *, run_id: uuid.UUID, owner: uuid.UUID, error: str, now: datetime) -> None:
    """Mark the owner's run failed with why: what its committed chunks gave (or took back) stays, and asking for the
    undo again takes back the rest."""
    run = session.execute(select(RuleRetroRun).where(RuleRetroRun.id == run_id).with_for_update()).scalar_one_or_none()
    if run is None or run.status not in ("running", "undoing") or run.owner != owner:
        return
    undoing = run.status == "undoing"
    run.status, run.owner, run.error, run.progress_at = "failed", None, error, now
    run.finished_at = run.finished_at or now
    if not undoing:
        _audit_run(session, run, status="failed")
    session.flush()


def request_undo(session: Session, *, shop_id: int, run_id: uuid.UUID, actor: str, now: datetime) -> RuleRetroRun:
    """Ask for the undo of the shop's finished run (done, or failed: its committed chunks gave points), for a worker;
    an undo already asked for is left as it is. InvalidInput says why a run cannot be undone now."""
    if not actor or not actor.strip():
        raise InvalidInput("reversing a retroactive run needs the admin who does it")
    run = session.execute(
        select(RuleRetroRun).where(RuleRetroRun.id == run_id, RuleRetroRun.shop_id == shop_id).with_for_update()
    ).scalar_one_or_none()
    if run is None:
        raise InvalidInput(f"retroactive run {run_id} does not exist in this shop")
    if run.status in ("queued", "running"):
        raise InvalidInput("the retroactive run is still going; undo it once it has finished")
    if run.status == "undone":
        raise InvalidInput("the retroactive run is undone already")
    if run.status == "failed" and run.undone_by is None and run.credits == 0:
        raise InvalidInput("the retroactive run gave nothing to take back")
    if run.status != "undoing":
        run.status, run.owner, run.error, run.progress_at = "undoing", None, None, now
        run.undone_by = actor.strip()
    session.flush()
    return run


def stalled_retroactive_runs(session: Session, *, now: datetime) -> list[uuid.UUID]:
    """Runs and undos to hand to a worker again: running ones silent for STALLED_AFTER (their worker stopped mid-way)
    and ones asked for as long ago (their task was lost); each resumes after its last committed chunk."""
    silent_since = func.coalesce(RuleRetroRun.progress_at, RuleRetroRun.created_at)
    return list(
        session.execute(
            select(RuleRetroRun.id).where(
                RuleRetroRun.status.in_(("queued", "running", "undoing")), silent_since < now - STALLED_AFTER
            )
        ).scalars()
    )


# The columns a replay reads of each stored event, and the order it applies them in (also a queued run's cursor).
_EVENT_COLUMNS = (
    event_history.c.id,
    event_history.c.event_id,
    event_history.c.event_type,
    event_history.c.customer_id,
    event_history.c.payload,
    event_history.c.occurred_at,
)
_REPLAY_ORDER = (event_history.c.occurred_at, event_history.c.id)


def _replayed(shop: Shop, rule: CompiledRule, start: datetime, end: datetime) -> list[ColumnElement[bool]]:
    """The stored events the rule runs on in [start, end), as live processing sees them: events of a customer, of the
    rule's types, and an order at the shop's earning event only."""
    recorded_types = sorted(
        event_type
        for event_type in {*rule.rule.event_types, *ORDER_EVENT_TYPES}
        if rule_event_type(shop.orders_earn_on, event_type) in rule.rule.event_types
    )
    return [
        *stored_in_range(shop.id, start, end),
        event_history.c.customer_id.is_not(None),
        event_history.c.event_type.in_(recorded_types),
    ]


@dataclass
class _Replay:
    """One retroactive batch: the rule version it applies, who runs it, and what it did so far."""

    shop: Shop
    row: RuleRow
    stored: RuleVersion
    rule: CompiledRule
    batch_id: uuid.UUID
    actor: str
    now: datetime
    totals: dict[str, int] = field(
        default_factory=lambda: {"events": 0, "credits": 0, "points": 0, "duplicates": 0, "skipped": 0}
    )

    def in_range(self, start: datetime, end: datetime) -> list[ColumnElement[bool]]:
        return _replayed(self.shop, self.rule, start, end)

    def apply(self, session: Session, events: Sequence[Row[Any]]) -> None:
        """Apply the rule to these events in order. Their customers' profiles are created and locked first, all in
        one statement in (shop, customer) order, the order the stream consumer's batches lock in: locked event by
        event (time order), a chunk and a batch sharing two customers could each hold the one the other waits for."""
        lock_profiles(session, [(self.shop.id, event.customer_id) for event in events], now=self.now)
        try:
            self._apply(session, events)
        finally:
            release_profiles(session)

    def _apply(self, session: Session, events: Sequence[Row[Any]]) -> None:
        shop, row, stored = self.shop, self.row, self.stored
        for event in events:
            event_id, customer_id, payload, occurred_at = (
                event.event_id,
                event.customer_id,
                event.payload,
                event.occurred_at,
            )
            event_type = rule_event_type(shop.orders_earn_on, event.event_type)
            assert event_type is not None
            self.totals["events"] += 1
            profile = lock_profile(session, shop_id=shop.id, customer_id=customer_id, now=self.now)
            facts = Facts(
                str(event_id),
                event_type,
                occurred_at,
                shop.timezone,
                payload,
                customer_facts(session, shop_id=shop.id, customer_id=customer_id),
                DatabaseHistory(
                    session=session,
                    shop_id=shop.id,
                    customer_id=customer_id,
                    profile_id=profile.id,
                    as_of=occurred_at,
                    timezone=shop.timezone,
                    chronological=True,
                ),
            )
            evaluation = evaluate([self.rule], facts, statuses=ALL_STATUSES)
            if not evaluation.decisions:
                continue
            source = business_source(event_type, str(event_id), customer_id, payload)
            for decision in evaluation.decisions:
                target = profile.id if decision.type != "referral_advocate_points" else profile.referred_by_profile_id
                if decision.points is None or target is None:
                    self.totals["skipped"] += 1
                    continue
                result = ledger.credit(
                    session,
                    shop=shop,
                    profile_id=target,
                    kind="earn" if target == profile.id else "referral",
                    points=decision.points,
                    idempotency_key=rule_credit_key(row.id, decision.action_index, source),
                    cause=ledger.Cause(
                        "event", event_id=event_id, rule_id=row.id, rule_version_id=stored.id, actor=self.actor
                    ),
                    now=self.now,
                    reason=f"{decision.reason or row.name} (retroactive)",
                    source=retro_source(self.batch_id, source),
                )
                self.totals["duplicates" if result.duplicate else "credits"] += 1
                self.totals["points"] += 0 if result.duplicate else decision.points
            record_executions(
                session,
                shop_id=shop.id,
                event_id=event_id,
                profile_id=profile.id,
                evaluation=evaluation,
                now=self.now,
                sample_rate=0,
            )

    def audit(self, session: Session, start: datetime, end: datetime, *, status: str) -> None:
        details = {"batch_id": str(self.batch_id), "version": self.stored.version, "status": status}
        _audit(session, self.shop.id, self.row.id, self.actor, self.now, start, end, {**details, **self.totals})

    def result(self) -> RetroResult:
        t = self.totals
        return RetroResult(self.batch_id, t["events"], t["credits"], t["points"], t["duplicates"], t["skipped"])


def _audit_run(session: Session, run: RuleRetroRun, *, status: str) -> None:
    totals = {
        "events": run.events_done,
        "credits": run.credits,
        "points": run.points,
        "duplicates": run.duplicates,
        "skipped": run.skipped_actions,
    }
    details = {"batch_id": str(run.id), "version": run.rule_version, "status": status, **totals}
    now = run.finished_at or run.progress_at or run.created_at
    _audit(session, run.shop_id, run.rule_id, run.created_by, now, run.starts_at, run.ends_at, details)


def _audit(
    session: Session,
    shop_id: int,
    rule_id: int,
    actor: str,
    now: datetime,
    start: datetime,
    end: datetime,
    details: dict[str, Any],
) -> None:
    session.add(
        AuditLog(
            shop_id=shop_id,
            actor=actor,
            action="rule_retroactive_run",
            subject_type="rule",
            subject_id=str(rule_id),
            created_at=now,
            details={**details, "from": start.isoformat(), "to": end.isoformat()},
        )
    )


def reverse_retroactive_run(
    session: Session, *, shop: Shop, batch_id: uuid.UUID, actor: str, now: datetime
) -> RetroReversal:
    """Take back everything a retroactive batch credited, once (a second call finds nothing left to take), in the
    caller's transaction: for a batch from before runs were queued (a RuleRetroRun's undo goes a chunk at a time)."""
    if not actor or not actor.strip():
        raise InvalidInput("reversing a retroactive run needs the admin who does it")
    profile_ids = _batch_customers(session, shop.id, batch_id, after=None, limit=None)
    took = _take_back(session, shop, batch_id, profile_ids, actor=actor.strip(), now=now)
    _audit_reversal(session, shop.id, batch_id, actor.strip(), now, took)
    session.flush()
    return took


def _batch_customers(
    session: Session, shop_id: int, batch_id: uuid.UUID, *, after: int | None, limit: int | None
) -> list[int]:
    """The profiles the batch credited, in id order, after `after`."""
    query = (
        select(PointsTransaction.profile_id)
        .where(
            PointsTransaction.shop_id == shop_id,
            PointsTransaction.source_type == RETRO_SOURCE,
            PointsTransaction.source_id.startswith(f"{batch_id}:", autoescape=True),
        )
        .distinct()
        .order_by(PointsTransaction.profile_id)
    )
    if after is not None:
        query = query.where(PointsTransaction.profile_id > after)
    return list(session.execute(query.limit(limit)).scalars())


def _take_back(
    session: Session, shop: Shop, batch_id: uuid.UUID, profile_ids: list[int], *, actor: str, now: datetime
) -> RetroReversal:
    """Take back the rest of what the batch credited these profiles, each of its sources (orders) once."""
    if not profile_ids:
        return RetroReversal(batch_id, 0, 0, 0, 0)
    # All of them first, in the stream batches' lock order: one at a time in id order, an undo and a batch sharing two
    # customers could each hold the one the other waits for.
    lock_profiles_by_id(session, shop_id=shop.id, profile_ids=profile_ids)
    sources = session.execute(
        select(PointsTransaction.profile_id, PointsTransaction.source_id)
        .where(
            PointsTransaction.shop_id == shop.id,
            PointsTransaction.profile_id == any_(literal(profile_ids, ARRAY(BigInteger))),
            PointsTransaction.source_type == RETRO_SOURCE,
            PointsTransaction.source_id.startswith(f"{batch_id}:", autoescape=True),
        )
        .distinct()
        .order_by(PointsTransaction.profile_id, PointsTransaction.source_id)
    ).all()
    claimed = taken = shortfall = 0
    for profile_id, source_id in sources:
        result = ledger.take_back_rest(
            session,
            shop=shop,
            profile_id=profile_id,
            source=(RETRO_SOURCE, source_id),
            request_key=f"rule_retro_reversal:{batch_id}:{profile_id}",
            cause=ledger.Cause("admin", actor=actor),
            now=now,
            reason=f"Retroactive run {batch_id} reversed",
        )
        claimed += result.claimed
        taken += result.points_reversed
        shortfall += result.shortfall
    return RetroReversal(batch_id, len(profile_ids), claimed, taken, shortfall)


def _undo_chunk(session: Session, run: RuleRetroRun, *, now: datetime, customers: int) -> bool:
    shop = session.get_one(Shop, run.shop_id)
    actor = run.undone_by or run.created_by
    profile_ids = _batch_customers(session, shop.id, run.id, after=run.undo_cursor, limit=customers)
    took = _take_back(session, shop, run.id, profile_ids, actor=actor, now=now)
    if profile_ids:
        run.undo_cursor = profile_ids[-1]
    run.undo_customers += took.customers
    run.undo_claimed += took.claimed
    run.undo_reversed += took.reversed
    run.undo_shortfall += took.shortfall
    run.progress_at = now
    finished = len(profile_ids) < customers
    if finished:
        run.status, run.owner, run.undone_at = "undone", None, now
        whole = RetroReversal(run.id, run.undo_customers, run.undo_claimed, run.undo_reversed, run.undo_shortfall)
        _audit_reversal(session, shop.id, run.id, actor, now, whole)
    session.flush()
    return finished


def _audit_reversal(
    session: Session, shop_id: int, batch_id: uuid.UUID, actor: str, now: datetime, took: RetroReversal
) -> None:
    session.add(
        AuditLog(
            shop_id=shop_id,
            actor=actor,
            action="rule_retroactive_reversal",
            subject_type="rule_retro_batch",
            subject_id=str(batch_id),
            created_at=now,
            details={
                "customers": took.customers,
                "claimed": took.claimed,
                "reversed": took.reversed,
                "shortfall": took.shortfall,
            },
        )
    )
