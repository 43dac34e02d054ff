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
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.loyalty import ledger
from app.loyalty.base.errors import InvalidInput
from app.loyalty.base.inbound import ORDER_EVENT_TYPES
from app.loyalty.base.order_earning import rule_event_type
from app.loyalty.ledger.profiles import lock_profile, lock_profile_by_id
from app.loyalty.ledger.retro_sources import RETRO_SOURCE, retro_source
from app.loyalty.rulebook.executions import record_executions
from app.loyalty.rulebook.facts import business_source, customer_facts, rule_credit_key
from app.loyalty.rulebook.history import DatabaseHistory, stored_events
from app.loyalty.rulebook.store import compiled_version, get_version
from app.models import AuditLog, PointsTransaction, Shop, event_history
from app.rules import Facts, evaluate

ALL_STATUSES = frozenset({"draft", "active", "paused", "archived"})


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
    crediting through the ledger once per event and action; record the firings and an audit entry."""
    if not actor or not actor.strip():
        raise InvalidInput("a retroactive run needs the admin who runs it")
    row, stored = get_version(session, shop_id=shop.id, name=name, version=version)
    rule = compiled_version(stored, row.id)
    batch_id = uuid.uuid4()
    totals = {"events": 0, "credits": 0, "points": 0, "duplicates": 0, "skipped": 0}
    # The recorded types the rule runs on as live processing sees them: an order at the shop's earning event only.
    recorded_types = sorted(
        event_type
        for event_type in {*rule.rule.event_types, *ORDER_EVENT_TYPES}
        if rule_event_type(shop.orders_earn_on, event_type) in rule.rule.event_types
    )
    events = session.execute(
        stored_events(
            shop.id,
            start,
            end,
            event_history.c.customer_id.is_not(None),
            event_history.c.event_type.in_(recorded_types),
        )
    ).all()
    for event_id, recorded_type, customer_id, payload, occurred_at in events:
        event_type = rule_event_type(shop.orders_earn_on, recorded_type)
        assert event_type is not None
        totals["events"] += 1
        profile = lock_profile(session, shop_id=shop.id, customer_id=customer_id, now=now)
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
        evaluation = evaluate([rule], facts, statuses=ALL_STATUSES)
        if not evaluation.decisions:
            continue
        source = business_source(event_type, str(event_id), customer_id, payload)
        for decision in evaluation.decisions:
            target = profile.id if decision.type != "referral_advocate_points" else profile.referred_by_profile_id
            if decision.points is None or target is None:
                totals["skipped"] += 1
                continue
            result = ledger.credit(
                session,
                shop=shop,
                profile_id=target,
                kind="earn" if target == profile.id else "referral",
                points=decision.points,
                idempotency_key=rule_credit_key(row.id, decision.action_index, source),
                cause=ledger.Cause(
                    "event", event_id=event_id, rule_id=row.id, rule_version_id=stored.id, actor=actor.strip()
                ),
                now=now,
                reason=f"{decision.reason or row.name} (retroactive)",
                source=retro_source(batch_id, source),
            )
            totals["duplicates" if result.duplicate else "credits"] += 1
            totals["points"] += 0 if result.duplicate else decision.points
        record_executions(
            session,
            shop_id=shop.id,
            event_id=event_id,
            profile_id=profile.id,
            evaluation=evaluation,
            now=now,
            sample_rate=0,
        )
    session.add(
        AuditLog(
            shop_id=shop.id,
            actor=actor.strip(),
            action="rule_retroactive_run",
            subject_type="rule",
            subject_id=str(row.id),
            created_at=now,
            details={
                "batch_id": str(batch_id),
                "version": stored.version,
                "from": start.isoformat(),
                "to": end.isoformat(),
                **totals,
            },
        )
    )
    session.flush()
    return RetroResult(
        batch_id, totals["events"], totals["credits"], totals["points"], totals["duplicates"], totals["skipped"]
    )


def reverse_retroactive_run(
    session: Session, *, shop: Shop, batch_id: uuid.UUID, actor: str, now: datetime
) -> RetroReversal:
    """Take back everything a retroactive batch credited, once (a second call finds nothing left to take)."""
    if not actor or not actor.strip():
        raise InvalidInput("reversing a retroactive run needs the admin who does it")
    sources = session.execute(
        select(PointsTransaction.profile_id, PointsTransaction.source_id)
        .where(
            PointsTransaction.shop_id == shop.id,
            PointsTransaction.source_type == RETRO_SOURCE,
            PointsTransaction.source_id.startswith(f"{batch_id}:", autoescape=True),
        )
        .distinct()
        .order_by(PointsTransaction.profile_id, PointsTransaction.source_id)
    ).all()
    profile_ids = sorted({profile_id for profile_id, _ in sources})
    claimed = taken = shortfall = 0
    for profile_id, source_id in sources:
        lock_profile_by_id(session, shop_id=shop.id, profile_id=profile_id)
        source = (RETRO_SOURCE, source_id)
        result = ledger.take_back_rest(
            session,
            shop=shop,
            profile_id=profile_id,
            source=source,
            request_key=f"rule_retro_reversal:{batch_id}:{profile_id}",
            cause=ledger.Cause("admin", actor=actor.strip()),
            now=now,
            reason=f"Retroactive run {batch_id} reversed",
        )
        claimed += result.claimed
        taken += result.points_reversed
        shortfall += result.shortfall
    session.add(
        AuditLog(
            shop_id=shop.id,
            actor=actor.strip(),
            action="rule_retroactive_reversal",
            subject_type="rule_retro_batch",
            subject_id=str(batch_id),
            created_at=now,
            details={"customers": len(profile_ids), "claimed": claimed, "reversed": taken, "shortfall": shortfall},
        )
    )
    session.flush()
    return RetroReversal(batch_id, len(profile_ids), claimed, taken, shortfall)
