"""A rule version compiled once: its conditions, schedule and actions ready to run, and what it can precompute."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from app.rules.action_plans import ActionPlan, compile_actions
from app.rules.condition_codegen import Check, compile_check
from app.rules.results import (
    BUDGET_EXHAUSTED,
    GUEST_LIMITED,
    LIMIT_REACHED,
    NOT_MET,
    OTHER_EVENT,
    OUTSIDE,
    STOPPED,
    Decision,
    RuleResult,
)
from app.rules.rule_validation import Rule
from app.rules.schedule_window import Window, compile_schedule
from app.rules.trace import Trace, compile_trace


@dataclass(frozen=True, eq=False)
class CompiledRule:
    """A rule version compiled to functions; build with compile_rule, never per event."""

    rule: Rule
    rule_id: int | None
    version_id: int | None
    version: int | None
    check: Check | None
    explain: Trace | None
    window: Window | None
    actions: tuple[ActionPlan, ...]
    event_types: frozenset[str]
    per_customer: int | None
    period: str
    budget: int | None
    # Copied out of `rule` and precomputed so the per-event loop reads plain attributes only.
    name: str = field(init=False)
    status: str = field(init=False)
    priority: int = field(init=False)
    stops_further_rules: bool = field(init=False)
    guarded: bool = field(init=False)
    factors: tuple[Decimal, ...] = field(init=False)  # this rule's own multiply factors
    # (plan, its decision when nothing varies: non-point actions, or fixed points at multiplier 1 with no budget)
    planned: tuple[tuple[ActionPlan, Decision | None], ...] = field(init=False)
    sort_key: tuple[int, str, int] = field(init=False)
    results: dict[str | None, RuleResult] = field(init=False)

    def __post_init__(self) -> None:
        rule = self.rule
        values = {
            "name": rule.name,
            "status": rule.status,
            "priority": rule.priority,
            "stops_further_rules": rule.stop_further_rules,
            "guarded": self.per_customer is not None or self.budget is not None,
            "factors": tuple(plan.factor for plan in self.actions if plan.factor is not None),
            "planned": tuple((plan, self._static_decision(plan)) for plan in self.actions),
            "sort_key": (-rule.priority, rule.name, self.rule_id or 0),
        }
        for key, value in values.items():
            object.__setattr__(self, key, value)
        reasons = (
            None,
            NOT_MET,
            STOPPED,
            OUTSIDE,
            OTHER_EVENT,
            LIMIT_REACHED,
            BUDGET_EXHAUSTED,
            GUEST_LIMITED,
            f"rule is {rule.status}",
        )
        object.__setattr__(
            self,
            "results",
            {
                reason: RuleResult(self.rule_id, self.version_id, rule.name, reason is None, reason)
                for reason in reasons
            },
        )

    def _static_decision(self, plan: ActionPlan) -> Decision | None:
        if plan.base is not None and plan.fixed is None:
            return None
        points = plan.fixed if plan.base is not None else None
        return Decision(
            self.rule_id, self.version_id, self.rule.name, plan.index, plan.type, points, plan.reason, plan.params
        )


def compile_rule(
    rule: Rule, *, rule_id: int | None = None, version_id: int | None = None, version: int | None = None
) -> CompiledRule:
    """Return the rule compiled to plain functions; no JSON is walked again when it is evaluated."""
    check = explain = None
    if rule.conditions is not None:
        explain = compile_trace(rule.conditions, "/conditions")
        check = compile_check(rule.conditions)
    limits = rule.limits
    return CompiledRule(
        rule=rule,
        rule_id=rule_id,
        version_id=version_id,
        version=version,
        check=check,
        explain=explain,
        window=compile_schedule(rule.schedule),
        actions=compile_actions(rule.actions, rule.name),
        event_types=frozenset(rule.event_types),
        per_customer=limits.get("per_customer"),
        period=limits.get("per_customer_period", "lifetime"),
        budget=limits.get("budget_points"),
    )
