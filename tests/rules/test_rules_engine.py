"""Rule-level semantics: the spec's example, nesting, priority and stop, status, schedule, limits, budgets, points."""

from __future__ import annotations

import ast
import datetime as dt
from decimal import Decimal

import pytest

from app.loyalty.rulebook.starter_rules import FIRST_ORDER_BONUS
from app.paths import PROJECT_ROOT
from app.rules import POINT_ACTIONS, Facts, RuleSet, StaticHistory, compile_rule, evaluate, parse_rule, render_trace
from app.rules.vocabulary import MAX_AWARD, MAX_FACTOR, MAX_RATE
from tests.rules.rule_helpers import NOON_UTC, UTC, customer, facts, rule_with, run


def second_order() -> Facts:
    earlier = NOON_UTC - dt.timedelta(days=10)
    return facts(history=StaticHistory(events=[("order_created", earlier), ("order_created", NOON_UTC)]))


def test_first_order_bonus_verbatim() -> None:
    evaluation = run(FIRST_ORDER_BONUS, facts())
    (decision,) = evaluation.decisions
    assert (
        decision.rule_id,
        decision.version_id,
        decision.rule_name,
        decision.action_index,
        decision.type,
        decision.points,
        decision.reason,
    ) == (1, 100, "First Order Bonus", 0, "points", 500, "First order bonus")
    assert evaluation.points_total == 500


def test_first_order_bonus_does_not_fire_on_second_order_or_small_order_and_says_why() -> None:
    for the_facts, failing in (
        (second_order(), "/conditions/conditions/1"),
        (facts({"total_price": "99.99"}), "/conditions/conditions/0"),
    ):
        evaluation = run(FIRST_ORDER_BONUS, the_facts, trace=True)
        assert evaluation.decisions == []
        (result,) = evaluation.results
        assert (result.fired, result.skipped_reason) == (False, "conditions not met")
        assert [child.pointer for child in result.trace[0].children if not child.held] == [failing]


def test_trace_records_the_fact_seen_and_renders() -> None:
    result = run(FIRST_ORDER_BONUS, second_order(), trace=True).results[0]
    assert result.trace[0].to_json() == {
        "pointer": "/conditions",
        "type": "group",
        "operator": "and",
        "held": False,
        "children": [
            {
                "pointer": "/conditions/conditions/0",
                "type": "order_total",
                "operator": ">=",
                "held": True,
                "expected": 100,
                "seen": "150.00",
            },
            {
                "pointer": "/conditions/conditions/1",
                "type": "frequency",
                "operator": "==",
                "held": False,
                "expected": 1,
                "seen": 2,
            },
        ],
    }
    assert render_trace(result.trace) == [
        "  ✗ and (/conditions)",
        '    ✓ order_total >= 100: saw "150.00" (/conditions/conditions/0)',
        "    ✗ frequency == 1: saw 2 (/conditions/conditions/1)",
    ]


def test_nested_or_and_not() -> None:
    rule = {
        "name": "Nested",
        "actions": [{"type": "points", "amount": 1}],
        "conditions": {
            "operator": "or",
            "conditions": [
                {
                    "operator": "and",
                    "conditions": [
                        {"type": "order_total", "operator": ">", "value": 1000},
                        {"operator": "not", "conditions": [{"type": "source_name", "value": "pos"}]},
                    ],
                },
                {
                    "operator": "not",
                    "conditions": [
                        {
                            "operator": "or",
                            "conditions": [
                                {"type": "customer_tag", "value": ["staff"]},
                                {"type": "order_total", "operator": "<", "value": 200},
                            ],
                        }
                    ],
                },
            ],
        },
    }
    assert not run(rule, facts()).decisions  # 150 < 200, so the second branch fails; 150 is not > 1000
    assert run(rule, facts({"total_price": "250.00"})).decisions
    assert not run(rule, facts({"total_price": "250.00"}, cust=customer(tags=frozenset({"Staff"})))).decisions
    assert run(
        rule, facts({"total_price": "1200.00", "source_name": "web"}, cust=customer(tags=frozenset({"staff"})))
    ).decisions
    assert not run(
        rule, facts({"total_price": "1200.00", "source_name": "pos"}, cust=customer(tags=frozenset({"staff"})))
    ).decisions


def test_rule_without_conditions_always_fires_for_its_event_types() -> None:
    rule = rule_with(event_types=["order_created", "orders_paid"])
    assert run(rule, facts()).points_total == 10
    assert run(rule, facts(event_type="orders_paid")).points_total == 10
    result = run(rule, facts(event_type="refund_created")).results[0]
    assert (result.fired, result.skipped_reason) == (False, "not for this event type")


def test_priority_orders_rules_and_stop_further_rules_stops_lower_priorities_only() -> None:
    rules = [
        rule_with(name="Low", priority=1),
        rule_with(name="High", priority=10, stop_further_rules=True),
        rule_with(name="Also high", priority=10),
        rule_with(name="Higher", priority=20),
    ]
    evaluation = run(rules, facts())
    assert [(r.name, r.fired, r.skipped_reason) for r in evaluation.results] == [
        ("Higher", True, None),
        ("Also high", True, None),
        ("High", True, None),
        ("Low", False, "stopped by higher-priority rule"),
    ]
    assert [d.rule_name for d in evaluation.decisions] == ["Higher", "Also high", "High"]


def test_stop_only_applies_when_the_stopping_rule_fires() -> None:
    rules = [
        rule_with(
            {"type": "order_total", "operator": ">", "value": 1000}, name="Big", priority=5, stop_further_rules=True
        ),
        rule_with(name="Base"),
    ]
    assert [d.rule_name for d in run(rules, facts()).decisions] == ["Base"]


@pytest.mark.parametrize("status", ["draft", "paused", "archived"])
def test_only_active_rules_fire_unless_a_dry_run_asks(status: str) -> None:
    rule = rule_with(status=status)
    result = run(rule, facts()).results[0]
    assert (result.fired, result.skipped_reason) == (False, f"rule is {status}")
    assert run(rule, facts(), statuses={"active", status}).points_total == 10


@pytest.mark.parametrize(
    ("schedule", "when", "fired"),
    [
        ({"starts_at": "2024-01-15"}, NOON_UTC, True),
        ({"starts_at": "2024-01-16"}, NOON_UTC, False),
        ({"ends_at": "2024-01-15"}, NOON_UTC, True),  # a date ends_at includes the whole local day
        ({"ends_at": "2024-01-15"}, dt.datetime(2024, 1, 16, 4, 59, tzinfo=UTC), True),  # 23:59 New York
        ({"ends_at": "2024-01-15"}, dt.datetime(2024, 1, 16, 5, 0, tzinfo=UTC), False),
        ({"starts_at": "2024-01-15T12:00"}, NOON_UTC, True),  # local wall time, starts_at inclusive
        ({"ends_at": "2024-01-15T12:00"}, NOON_UTC, False),  # a date-time ends_at is exclusive
        ({"starts_at": "2024-01-15T17:00:01Z"}, NOON_UTC, False),
    ],
)
def test_schedule(schedule: dict, when: dt.datetime, fired: bool) -> None:
    result = run(rule_with(schedule=schedule), facts(occurred_at=when)).results[0]
    assert result.fired is fired
    assert result.skipped_reason == (None if fired else "outside schedule")


def test_per_customer_limit_per_period() -> None:
    rule = rule_with(limits={"per_customer": 2, "per_customer_period": "month"})
    assert run(rule, facts(history=StaticHistory(firings={(1, "month"): 1}))).points_total == 10
    result = run(rule, facts(history=StaticHistory(firings={(1, "month"): 2, (1, "lifetime"): 0}))).results[0]
    assert (result.fired, result.skipped_reason) == (False, "limit reached")
    guest = run(rule, facts(guest=True)).results[0]
    assert guest.skipped_reason == "guest order (the rule has a per-customer limit)"


def test_limit_period_defaults_to_lifetime() -> None:
    rule = parse_rule(rule_with(limits={"per_customer": 1}))
    assert rule.limits == {"per_customer": 1, "per_customer_period": "lifetime"}
    assert not run(
        rule_with(limits={"per_customer": 1}), facts(history=StaticHistory(firings={(1, "lifetime"): 1}))
    ).decisions


def test_budget_caps_the_last_award_and_then_stops_the_rule() -> None:
    rule = rule_with(
        actions=[{"type": "points", "amount": 300}, {"type": "points", "amount": 300}], limits={"budget_points": 1000}
    )
    assert [d.points for d in run(rule, facts(history=StaticHistory(points_issued={1: 200}))).decisions] == [300, 300]
    capped = run(rule, facts(history=StaticHistory(points_issued={1: 600}))).decisions
    assert [(d.points, d.params.get("budget_capped")) for d in capped] == [(300, None), (100, True)]
    only_first = run(rule, facts(history=StaticHistory(points_issued={1: 800}))).decisions
    assert [d.points for d in only_first] == [200]
    result = run(rule, facts(history=StaticHistory(points_issued={1: 1000}))).results[0]
    assert (result.fired, result.skipped_reason) == (False, "budget exhausted")


def test_points_per_currency_rounding_basis_and_cap() -> None:
    order = {"total_price": "150.99", "subtotal_price": "99.50"}

    def points(**action: object) -> int:
        return run(rule_with(actions=[{"type": "points_per_currency", **action}]), facts(order)).points_total

    assert points(rate=1) == 99  # subtotal, floor
    assert points(rate=1, rounding="round") == 100  # half up
    assert points(rate=1, basis="total") == 150
    assert points(rate=1, basis="total", rounding="ceil") == 151
    assert points(rate=1.5, basis="total", max_points=200) == 200
    assert points(rate=0.001) == 0  # nothing to issue: no decision
    assert run(rule_with(actions=[{"type": "points_per_currency", "rate": 1}]), facts({})).decisions == []


def test_tier_multiplier_and_multiply_factors_apply_once_before_rounding() -> None:
    gold = customer(tier="Gold", tier_multiplier=Decimal("1.5"))
    rules = [
        rule_with(name="Base", actions=[{"type": "points_per_currency", "rate": 1, "basis": "total"}]),
        rule_with(name="Double weekend", actions=[{"type": "multiply", "factor": 2}]),
        rule_with(name="Triple VIP", actions=[{"type": "multiply", "factor": 1.5}]),
    ]
    evaluation = run(rules, facts({"total_price": "10.33"}, cust=gold))
    assert evaluation.points_total == 46  # floor(10.33 x 1.5 x 2 x 1.5) = floor(46.485)
    multiply = [d for d in evaluation.decisions if d.type == "multiply"]
    assert [(d.points, d.params["factor"]) for d in multiply] == [(None, 2), (None, 1.5)]


def test_an_award_past_what_one_ledger_entry_may_give_is_capped_there_and_says_so() -> None:
    """The largest order total at the largest rate, times a tier's and six rules' largest multipliers: 10^30 points
    unbounded, past the ledger's bigint, and past the 28 digits Decimal rounds in (a 500 in the dry run, a dead
    letter in processing). One award gives at most MAX_AWARD."""
    top = customer(tier="Top", tier_multiplier=Decimal(100))
    rules = [rule_with(name="Base", actions=[{"type": "points_per_currency", "rate": MAX_RATE, "basis": "total"}])]
    rules += [rule_with(name=f"Boost {n}", actions=[{"type": "multiply", "factor": MAX_FACTOR}]) for n in range(6)]
    (award,) = [d for d in run(rules, facts({"total_price": "999999999999.99"}, cust=top)).decisions if d.points]
    assert (award.points, award.params.get("award_capped")) == (MAX_AWARD, True)
    assert MAX_AWARD <= 2**63 - 1  # a ledger entry's points are a BIGINT
    uncapped = run(rules[:1], facts({"total_price": "10.00"}, cust=top)).decisions
    assert [(d.points, d.params.get("award_capped")) for d in uncapped] == [(10_000_000, None)]


def test_multiply_does_not_multiply_its_own_rules_points() -> None:
    rule = rule_with(actions=[{"type": "points", "amount": 10}, {"type": "multiply", "factor": 3}])
    assert run(rule, facts()).points_total == 10


def test_referral_advocate_points_only_when_referred_and_not_counted_for_the_buyer() -> None:
    rule = rule_with(actions=[{"type": "referral_advocate_points", "amount": 250}])
    referred = run(rule, facts(cust=customer(referred=True))).decisions
    assert [(d.type, d.points, d.reason) for d in referred] == [("referral_advocate_points", 250, "Referral: R")]
    assert run(rule, facts(cust=customer(referred=True))).points_total == 0
    assert run(rule, facts()).decisions == []


def test_non_point_actions_pass_their_keys_through() -> None:
    rule = rule_with(
        actions=[
            {"type": "issue_reward", "reward": "Free shipping"},
            {"type": "tag_customer", "add": ["vip"], "remove": ["new"]},
            {"type": "webhook", "url": "https://example.com/hook"},
        ]
    )
    decisions = run(rule, facts()).decisions
    assert [(d.type, d.points, dict(d.params)) for d in decisions] == [
        ("issue_reward", None, {"reward": "Free shipping"}),
        ("tag_customer", None, {"add": ["vip"], "remove": ["new"]}),
        ("webhook", None, {"url": "https://example.com/hook"}),
    ]


def test_guest_orders_still_evaluate_rules_that_do_not_need_a_customer() -> None:
    evaluation = run([FIRST_ORDER_BONUS, rule_with(name="Everyone")], facts(guest=True))
    assert [(r.name, r.fired) for r in evaluation.results] == [("Everyone", True), ("First Order Bonus", False)]


def test_ruleset_sorting_matches_plain_sequence() -> None:
    compiled = [
        compile_rule(parse_rule(rule_with(name=name, priority=priority)), rule_id=index)
        for index, (name, priority) in enumerate([("b", 1), ("a", 1), ("c", 5)])
    ]
    assert [r.name for r in RuleSet(compiled)] == ["c", "a", "b"]
    assert [r.name for r in evaluate(compiled, facts()).results] == ["c", "a", "b"]


def test_facts_require_an_aware_time_and_a_known_zone() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        facts(occurred_at=dt.datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="unknown shop time zone 'Mars/Base'"):
        run(rule_with({"type": "day_of_week", "value": ["mon"]}), facts(timezone="Mars/Base"))


def test_evaluation_can_explain_a_result_afterwards_from_the_same_facts() -> None:
    evaluation = run([FIRST_ORDER_BONUS, rule_with(name="No conditions")], second_order())
    assert evaluation.results[0].trace == ()  # evaluated without a trace, as the stream does
    (node,) = evaluation.explain(0)
    assert (node.held, [child.held for child in node.children]) == (False, [True, False])
    assert evaluation.explain(1) == ()


class CountingHistory(StaticHistory):
    """A StaticHistory that counts how often the engine asks it for event counts."""

    asked: list[tuple[str, int | None]]

    def count_events(self, event_type: str, within_days: int | None) -> int:
        self.asked.append((event_type, within_days))
        return super().count_events(event_type, within_days)


def test_history_is_asked_once_per_question_even_when_explaining_afterwards() -> None:
    history = CountingHistory(events=[("order_created", NOON_UTC)])
    object.__setattr__(history, "asked", [])
    twice = {**FIRST_ORDER_BONUS, "name": "Second copy"}
    evaluation = run([FIRST_ORDER_BONUS, twice], facts(history=history))
    asked_while_evaluating = len(history.asked)
    evaluation.explain(0)
    evaluation.explain(1)
    assert asked_while_evaluating == 2  # once per evaluation path in `run` (rule set, then plain list)
    assert len(history.asked) == 2  # explaining reuses what the evaluation read


def test_generated_code_refuses_a_tree_that_skipped_validation() -> None:
    """Rules are compiled from parse_rule's output; a hand-built tree with a foreign operator is never executed."""
    from app.rules.condition_codegen import compile_check

    injected = {
        "operator": "or __import__('os').system('true') or",
        "conditions": [
            {"type": "order_total", "operator": ">=", "value": 1},
            {"type": "order_total", "operator": ">=", "value": 2},
        ],
    }
    with pytest.raises(ValueError, match="unsupported group"):
        compile_check(injected)
    with pytest.raises(ValueError, match="unsupported operator"):
        compile_check({"type": "order_total", "operator": "is not", "value": 1})


def test_the_actions_that_give_the_customer_points_are_named_in_one_place() -> None:
    """Processing (one by one and set-based), backtests and the storefront's ways to earn all ask app.rules.
    POINT_ACTIONS: no other module of the app spells the set of point actions out."""
    wanted = {"points", "points_per_currency"}
    spelled = []
    for path in sorted((PROJECT_ROOT / "app").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Set | ast.Tuple | ast.List) and len(node.elts) == len(wanted):
                if {getattr(element, "value", None) for element in node.elts} == wanted:
                    spelled.append(str(path.relative_to(PROJECT_ROOT)))
    assert spelled == ["app/rules/results.py"]
    assert POINT_ACTIONS == frozenset(wanted)
