"""Compile rules once per version and evaluate a rule set against one event's facts: facts in, decisions out."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from time import perf_counter_ns
from types import MappingProxyType
from typing import Any, NamedTuple

from app.rules.actions import ActionPlan, compile_actions
from app.rules.codegen import compile_fast_check
from app.rules.conditions import Check, Trace, compile_condition
from app.rules.context import EventContext
from app.rules.explain import TraceNode
from app.rules.facts import Facts
from app.rules.ruleset import NOT_MET, OTHER_EVENT, RuleSet
from app.rules.schedule import Window, compile_schedule
from app.rules.validation import Rule

ACTIVE_ONLY = frozenset({"active"})
CUSTOMER_POINT_ACTIONS = frozenset({"points", "points_per_currency"})
ONE = Decimal(1)
STOPPED = "stopped by higher-priority rule"
OUTSIDE = "outside schedule"
LIMIT_REACHED = "limit reached"
BUDGET_EXHAUSTED = "budget exhausted"
GUEST_LIMITED = "guest order (the rule has a per-customer limit)"


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
        return sum(d.points or 0 for d in self.decisions if d.type in CUSTOMER_POINT_ACTIONS)


@dataclass(frozen=True, eq=False)
class CompiledRule:
    """A rule version compiled to closures; build with compile_rule, never per event."""

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
    """Return the rule compiled to plain closures; no JSON is walked again when it is evaluated."""
    check = explain = None
    if rule.conditions is not None:
        _, explain = compile_condition(rule.conditions, "/conditions")
        check = compile_fast_check(rule.conditions)
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
            points = int((base * multiplier).quantize(ONE, rounding=plan.rounding))
            params = plan.params
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
