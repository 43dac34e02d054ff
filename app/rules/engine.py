"""Evaluate a rule set against one event's facts: facts in, decisions out."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from time import perf_counter_ns
from types import MappingProxyType

from app.rules.compiled_rule import CompiledRule
from app.rules.event_context import EventContext
from app.rules.facts import Facts
from app.rules.results import (
    BUDGET_EXHAUSTED,
    GUEST_LIMITED,
    LIMIT_REACHED,
    NOT_MET,
    OUTSIDE,
    POINT_ACTIONS,
    STOPPED,
    Decision,
    RuleResult,
)
from app.rules.rule_set import RuleSet
from app.rules.trace import TraceNode
from app.rules.vocabulary import MAX_AWARD

ACTIVE_ONLY = frozenset({"active"})
ONE = Decimal(1)


@dataclass(frozen=True)
class Evaluation:
    """The decisions for one event and a result per rule considered, in evaluation order."""

    decisions: list[Decision]
    results: list[RuleResult]
    elapsed_ns: int = 0
    context: EventContext | None = field(default=None, repr=False, compare=False)  # the facts, as evaluated
    rules: tuple[CompiledRule, ...] = field(default=(), repr=False, compare=False)  # in the order of `results`

    def explain(self, index: int) -> tuple[TraceNode, ...]:
        """Return the condition trace of results[index], computed now from the same facts (empty: no conditions).

        It reuses the evaluation's derived facts, so History is not asked again for what the rules already read.
        """
        rule = self.rules[index]
        if self.results[index].trace or rule.explain is None or self.context is None:
            return self.results[index].trace
        return (rule.explain(self.context),)

    @property
    def points_total(self) -> int:
        """Points this event earns the customer (advocate points go to someone else and are not counted)."""
        return sum(d.points or 0 for d in self.decisions if d.type in POINT_ACTIONS)


def evaluate(
    rules: Sequence[CompiledRule], facts: Facts, *, trace: bool = False, statuses: Collection[str] = ACTIVE_ONLY
) -> Evaluation:
    """Return the decisions the rules make for these facts, with a result (and, if asked, a trace) per rule.

    Only rules whose status is in `statuses` fire (dry runs pass drafts explicitly). Each rule is judged in this
    order, the first failure being its skipped_reason: status, event type, schedule, conditions, a fired
    higher-priority rule with stop_further_rules (rules of equal priority still run), per-customer limit, budget.
    Pass a RuleSet (built once per rule-set revision) for speed; any other sequence is sorted on each call.
    """
    started = perf_counter_ns()
    ctx = EventContext(facts)
    ruleset = rules if isinstance(rules, RuleSet) else RuleSet(rules, generate=False)
    plan = ruleset.plan(facts.event_type, statuses)
    results = plan.template.copy()
    blocked = {position for position, window in plan.scheduled if not window(ctx)} if plan.scheduled else ()
    traces: dict[int, tuple[TraceNode, ...]] = {}
    if trace:
        held = []
        for position, rule in plan.applicable:
            nodes = traces[position] = (rule.explain(ctx),) if rule.explain is not None else ()
            if position in blocked or (nodes and not nodes[0].held):
                reason = OUTSIDE if position in blocked else NOT_MET
                results[position] = RuleResult(rule.rule_id, rule.version_id, rule.name, False, reason, nodes)
            else:
                held.append(position)
    else:
        for position in blocked:
            results[position] = ruleset[position].results[OUTSIDE]
        held = plan.held(ctx)
    fired: list[tuple[CompiledRule, int | None]] = []
    stop_below: int | None = None
    for position in held:
        if position in blocked:
            continue
        rule = ruleset[position]
        remaining = None
        if stop_below is not None and rule.priority < stop_below:
            reason: str | None = STOPPED
        elif rule.guarded:
            reason, remaining = _guard(rule, ctx)
        else:
            reason = None
        results[position] = (
            RuleResult(rule.rule_id, rule.version_id, rule.name, reason is None, reason, traces[position])
            if trace
            else rule.results[reason]
        )
        if reason is None:
            fired.append((rule, remaining))
            if rule.stops_further_rules and stop_below is None:
                stop_below = rule.priority
    decisions = _decide(fired, ctx) if fired else []
    return Evaluation(decisions, results, perf_counter_ns() - started, ctx, ruleset)


def _guard(rule: CompiledRule, ctx: EventContext) -> tuple[str | None, int | None]:
    """Apply the rule's limits: (why it does not fire or None, the budget remaining when it has one)."""
    if rule.per_customer is not None:
        if ctx.customer is None:
            return GUEST_LIMITED, None
        if ctx.facts.history.rule_firings(rule.rule_id, rule.period) >= rule.per_customer:
            return LIMIT_REACHED, None
    if rule.budget is None:
        return None, None
    remaining = rule.budget - ctx.facts.history.rule_points_issued(rule.rule_id)
    return (BUDGET_EXHAUSTED, None) if remaining <= 0 else (None, remaining)


def _decide(fired: list[tuple[CompiledRule, int | None]], ctx: EventContext) -> list[Decision]:
    """Turn fired rules into decisions: multiply factors from the other fired rules, then rounding, then budget."""
    tier = ctx.customer.tier_multiplier if ctx.customer is not None else ONE
    multiplying = [rule for rule, _ in fired if rule.factors]
    shared = tier  # the multiplier of every rule that has no multiply action itself
    for rule in multiplying:
        for factor in rule.factors:
            shared *= factor
    decisions: list[Decision] = []
    for rule, remaining in fired:
        multiplier = shared
        if rule.factors:
            multiplier = tier
            for other in multiplying:
                if other is not rule:
                    for factor in other.factors:
                        multiplier *= factor
        unit = multiplier == ONE and remaining is None
        for plan, static in rule.planned:
            if static is not None and (plan.base is None or unit):
                decisions.append(static)
                continue
            base = plan.amount if plan.amount is not None else plan.base(ctx)
            if base is None:
                continue
            amount, params = base * multiplier, plan.params
            if amount > MAX_AWARD:  # compared before rounding: quantize fails past Decimal's 28 digits
                points, params = MAX_AWARD, MappingProxyType({**params, "award_capped": True})
            else:
                points = int(amount.quantize(ONE, rounding=plan.rounding))
            if remaining is not None:
                if points > remaining:
                    points, params = remaining, MappingProxyType({**params, "budget_capped": True})
                remaining -= max(points, 0)
            if points > 0:
                decisions.append(
                    Decision(
                        rule.rule_id, rule.version_id, rule.name, plan.index, plan.type, points, plan.reason, params
                    )
                )
    return decisions
