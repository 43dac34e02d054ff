"""What evaluating rules reports: a Decision per action a fired rule takes, a RuleResult per rule and why not."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from app.rules.trace import TraceNode

# Why a rule did not fire (RuleResult.skipped_reason); a status other than active reads "rule is <status>".
NOT_MET = "conditions not met"
OTHER_EVENT = "not for this event type"
STOPPED = "stopped by higher-priority rule"
OUTSIDE = "outside schedule"
LIMIT_REACHED = "limit reached"
BUDGET_EXHAUSTED = "budget exhausted"
GUEST_LIMITED = "guest order (the rule has a per-customer limit)"

# The actions that give the customer points (a Decision's `type`); referral advocate points go to someone else.
POINT_ACTIONS = frozenset({"points", "points_per_currency"})


class Decision(NamedTuple):
    """One action a fired rule takes for this event; `points` is final (tier, multiply factors, rounding, budget).

    Immutable (a named tuple: cheap to build on the hot path, `_asdict()` for JSON).
    """

    rule_id: int | None
    version_id: int | None
    rule_name: str
    action_index: int
    type: str
    points: int | None
    reason: str | None
    params: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class RuleResult:
    """What happened to one rule for this event: fired, or why not; `trace` is filled when asked for."""

    rule_id: int | None
    version_id: int | None
    name: str
    fired: bool
    skipped_reason: str | None
    trace: tuple[TraceNode, ...] = ()
