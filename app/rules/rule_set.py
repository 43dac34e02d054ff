"""A shop's compiled rules in evaluation order, with one generated function per event type for the hot path."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

from app.rules.compiled_rule import CompiledRule
from app.rules.condition_codegen import compile_held
from app.rules.results import NOT_MET, OTHER_EVENT, RuleResult
from app.rules.schedule_window import Window


@dataclass(frozen=True)
class Plan:
    """How one rule set meets one event type: results to start from, and which rules can fire."""

    template: list[RuleResult]  # every rule's result if nothing holds, in rule order
    applicable: tuple[tuple[int, CompiledRule], ...]  # (position, rule) of rules that may fire for the event type
    scheduled: tuple[tuple[int, Window], ...]  # (position, window) of applicable rules with a schedule
    held: Callable[[Any], list[int]]  # positions of applicable rules whose conditions hold, in order


class RuleSet(tuple):
    """Compiled rules in evaluation order: priority high to low, then name (so ties are deterministic).

    Build it once per rule-set revision: the first event of each type compiles the set's conditions into one
    generated function. `generate=False` (used for ad hoc lists) calls each rule's own check instead.
    """

    def __new__(cls, rules: Iterable[CompiledRule], *, generate: bool = True) -> RuleSet:
        ruleset = super().__new__(cls, sorted(rules, key=lambda rule: rule.sort_key))
        ruleset._generate = generate
        ruleset._plans = {}
        return ruleset

    def plan(self, event_type: str, statuses: Collection[str]) -> Plan:
        """Return (and cache) the plan for this event type and set of statuses that may fire."""
        key = (event_type, statuses if isinstance(statuses, frozenset) else frozenset(statuses))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._build_plan(*key)
        return plan

    def _build_plan(self, event_type: str, statuses: frozenset[str]) -> Plan:
        template: list[RuleResult] = []
        applicable: list[tuple[int, CompiledRule]] = []
        for position, rule in enumerate(self):
            if rule.status not in statuses:
                template.append(rule.results[f"rule is {rule.status}"])
            elif event_type not in rule.event_types:
                template.append(rule.results[OTHER_EVENT])
            else:
                template.append(rule.results[NOT_MET])
                applicable.append((position, rule))
        scheduled = tuple((position, rule.window) for position, rule in applicable if rule.window is not None)
        if self._generate:
            held = compile_held([(position, rule.rule.conditions) for position, rule in applicable])
        else:
            held = _held_by_checks(tuple(applicable))
        return Plan(template, tuple(applicable), scheduled, held)


def _held_by_checks(applicable: tuple[tuple[int, CompiledRule], ...]) -> Callable[[Any], list[int]]:
    def held(ctx: Any) -> list[int]:
        return [position for position, rule in applicable if rule.check is None or rule.check(ctx)]

    return held
