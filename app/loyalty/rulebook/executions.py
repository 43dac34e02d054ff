"""rule_executions rows: each firing with its version, actions, points, trace and timing; sampled "why not"s."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.loyalty.base.bulk import insert_rows
from app.models import Rule as RuleRow
from app.models import RuleExecution
from app.rules import Evaluation

DEFAULT_SAMPLE_RATE = 0.02
# Results worth explaining when a rule did not fire ("why not?"); a rule for another event type is not.
EXPLAINED_REASONS = frozenset(
    {
        "conditions not met",
        "outside schedule",
        "stopped by higher-priority rule",
        "limit reached",
        "budget exhausted",
        "guest order (the rule has a per-customer limit)",
    }
)


def record_executions(
    session: Session,
    *,
    shop_id: int,
    event_id: uuid.UUID | str,
    profile_id: int | None,
    evaluation: Evaluation,
    now: datetime,
    sample_rate: float = DEFAULT_SAMPLE_RATE,
) -> int:
    """Write a rule_executions row per rule that fired (version, actions, points, trace, timing) and, for a
    deterministic `sample_rate` share of events, one per rule that did not, with the trace of why not; return the
    number of rows. Any event can also be explained again later with a dry run.

    A fired rule with a budget adds its points to rules.points_issued here, in the event's transaction; only
    budgeted rules are touched, so unbudgeted rules never serialize events on their row.
    """
    rows, budgeted = execution_rows(
        shop_id=shop_id,
        event_id=event_id,
        profile_id=profile_id,
        evaluation=evaluation,
        now=now,
        sample_rate=sample_rate,
    )
    write_executions(session, rows, budgeted)
    return len(rows)


def execution_rows(
    *,
    shop_id: int,
    event_id: uuid.UUID | str,
    profile_id: int | None,
    evaluation: Evaluation,
    now: datetime,
    sample_rate: float = DEFAULT_SAMPLE_RATE,
) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """The rule_executions rows of one evaluation (see record_executions), and the points each budgeted rule that
    fired issued ({rule id: points}), without writing anything: a batch writes many events' rows at once."""
    event_uuid = event_id if isinstance(event_id, uuid.UUID) else uuid.UUID(str(event_id))
    explain_misses = _sampled(event_uuid, sample_rate)
    duration_us = evaluation.elapsed_ns // 1000
    actions: dict[int, list[dict[str, Any]]] = {}
    for decision in evaluation.decisions:
        actions.setdefault(decision.rule_id, []).append(
            {
                "action_index": decision.action_index,
                "type": decision.type,
                "points": decision.points,
                "reason": decision.reason,
                "params": dict(decision.params),
            }
        )
    rows = []
    budgeted: dict[int, int] = {}
    for index, result in enumerate(evaluation.results):
        if result.rule_id is None or result.version_id is None:
            continue  # an unsaved draft (dry run): nothing to point at
        if not result.fired and (result.skipped_reason not in EXPLAINED_REASONS or not explain_misses):
            continue
        taken = actions.get(result.rule_id, [])
        points = sum(action["points"] or 0 for action in taken)
        trace = [node.to_json() for node in evaluation.explain(index)]
        rows.append(
            {
                "shop_id": shop_id,
                "rule_id": result.rule_id,
                "rule_version_id": result.version_id,
                "event_id": event_uuid,
                "profile_id": profile_id,
                "fired": result.fired,
                "points": points,
                "actions": taken,
                "trace": {"skipped_reason": result.skipped_reason, "conditions": trace},
                "duration_us": duration_us,
                "created_at": now,
            }
        )
        if result.fired and points and evaluation.rules[index].budget is not None:
            budgeted[result.rule_id] = budgeted.get(result.rule_id, 0) + points
    return rows, budgeted


def write_executions(session: Session, rows: list[dict[str, Any]], budgeted: dict[int, int]) -> None:
    """Insert execution rows (one statement for any number) and add budgeted rules' points to points_issued."""
    for rule_id, points in sorted(budgeted.items()):
        session.execute(
            update(RuleRow).where(RuleRow.id == rule_id).values(points_issued=RuleRow.points_issued + points)
        )
    insert_rows(session, RuleExecution.__table__, rows)


def _sampled(event_id: uuid.UUID, rate: float) -> bool:
    """Whether this event's misses are kept: per event, so a sampled event is explained whole, and deterministic,
    so a replayed event is sampled the same way."""
    if rate >= 1:
        return True
    digest = hashlib.blake2b(event_id.bytes, digest_size=4).digest()
    return int.from_bytes(digest, "big") < rate * 2**32
