"""Backtest: a draft rule set replayed over the shop's stored events, against the live set. Reads only.

The candidate set is the shop's active rules with the drafts replacing same-named rules (or added); the baseline is
the active rules as they are. Both replay the same stored events (event_queue, not dead) in time order, each with its
own simulated history: event counts and order totals from before the range plus the replayed events, and firings
and budget used from the range start (limits and budgets restart there). As live, an order runs the rules at the
event the shop's `orders_earn_on` names (order_earning.rule_event_type), so it earns once whatever was recorded.
Customers' tags, tier and referral are today's. Tier movements are reported for shops whose tiers are based on points
earned.
"""

from __future__ import annotations

import bisect
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Numeric, case, func, select
from sqlalchemy.orm import Session

from app.loyalty import tiers
from app.loyalty.base.order_earning import rule_event_type
from app.loyalty.ledger.liability import points_value
from app.loyalty.rulebook.history import period_start, stored_events, stored_in_range
from app.loyalty.rulebook.simulation import compile_drafts
from app.loyalty.rulebook.store import active_rules
from app.models import CustomerLoyaltyProfile, Shop, TierDefinition, event_history
from app.rules import POINT_ACTIONS, CompiledRule, CustomerFacts, Evaluation, Facts, RuleSet, evaluate
from app.rules.values import to_decimal

PROGRESS_EVERY = 5_000
TOP_CUSTOMERS = 20
Progress = Callable[[int, int], None]


@dataclass
class Tally:
    """How often a rule fired in a replay and the points it issued."""

    firings: int = 0
    points: int = 0


@dataclass
class BacktestResult:
    """What the candidate set would have issued over the range, and the change against the live set."""

    events: int
    points: int
    baseline_points: int
    customers_affected: int
    customers_earning: int
    liability_change: Decimal
    currency: str
    by_rule: dict[str, Tally] = field(default_factory=dict)
    baseline_by_rule: dict[str, Tally] = field(default_factory=dict)
    tier_movements: list[dict[str, Any]] = field(default_factory=list)
    # Points by week (the Monday that starts it, shop time): [with the drafts, with the live rules].
    by_week: dict[date, list[int]] = field(default_factory=dict)
    # The customers whose points change most, largest change first: customer_id, points, baseline_points.
    top_customers: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def points_change(self) -> int:
        """Candidate points minus baseline points."""
        return self.points - self.baseline_points


class _Replay:
    """One rule set's simulated history and totals over the replay."""

    def __init__(
        self,
        rules: RuleSet,
        counts: dict[tuple[str, str], int],
        times: dict[tuple[str, str], list[datetime]],
        timezone: str,
    ) -> None:
        self.rules, self.timezone = rules, timezone
        self.counts = defaultdict(int, counts)
        self.times = defaultdict(list, {key: list(value) for key, value in times.items()})
        self.firings: dict[tuple[str, int | None], list[datetime]] = defaultdict(list)
        self.issued: dict[int | None, int] = defaultdict(int)
        self.by_rule: dict[str, Tally] = defaultdict(Tally)
        self.customer_points: dict[str, int] = defaultdict(int)
        self.weekly: dict[date, int] = defaultdict(int)
        self.total = 0

    def run(self, facts: Facts, customer_id: str | None, week: date) -> Evaluation:
        evaluation = evaluate(self.rules, replace(facts, history=_View(self, customer_id, facts.occurred_at)))
        for result in evaluation.results:
            if result.fired:
                self.by_rule[result.name].firings += 1
                if customer_id is not None:
                    self.firings[(customer_id, result.rule_id)].append(facts.occurred_at)
        for decision in evaluation.decisions:
            if decision.points:
                self.issued[decision.rule_id] += decision.points
                self.by_rule[decision.rule_name].points += decision.points
                self.total += decision.points
                self.weekly[week] += decision.points
                if customer_id is not None and decision.type in POINT_ACTIONS:
                    self.customer_points[customer_id] += decision.points
        return evaluation


@dataclass
class _View:
    """History as one replay knows it, for one customer at one moment."""

    replay: _Replay
    customer_id: str | None
    as_of: datetime

    def count_events(self, event_type: str, within_days: int | None) -> int:
        key = (self.customer_id or "", event_type)
        if within_days is None:
            return self.replay.counts[key]
        times = self.replay.times[key]
        return bisect.bisect_right(times, self.as_of) - bisect.bisect_right(
            times, self.as_of - timedelta(days=within_days)
        )

    def rule_firings(self, rule_id: int | None, period: str) -> int:
        times = self.replay.firings.get((self.customer_id or "", rule_id), [])
        start = period_start(period, self.as_of, self.replay.timezone)
        return len(times) if start is None else len(times) - bisect.bisect_left(times, start)

    def rule_points_issued(self, rule_id: int | None) -> int:
        return self.replay.issued[rule_id]


def backtest(
    session: Session,
    *,
    shop: Shop,
    drafts: Iterable[dict[str, Any]],
    start: datetime,
    end: datetime,
    progress: Progress | None = None,
    progress_every: int = PROGRESS_EVERY,
) -> BacktestResult:
    """Replay the stored events in [start, end) through the candidate and the live rule sets; write nothing.
    `progress(done, total)` is called every `progress_every` events and at the end."""
    started = time.perf_counter()
    live = active_rules(session, shop)
    candidates = compile_drafts(session, shop.id, drafts)
    replaced = {rule.name for rule in candidates}
    candidate_set = RuleSet([*candidates, *(rule for rule in live if rule.name not in replaced)])
    window = _longest_window([*candidate_set, *live])
    counts, times, orders = _prior_history(session, shop.id, start, window)
    profiles = _profiles(session, shop.id)
    replays = [_Replay(candidate_set, counts, times, shop.timezone), _Replay(live, counts, times, shop.timezone)]
    total = session.execute(select(func.count()).where(*stored_in_range(shop.id, start, end))).scalar_one()
    events = 0
    zone = ZoneInfo(shop.timezone)
    query = stored_events(shop.id, start, end).execution_options(yield_per=2000)
    for event_id, event_type, customer_id, payload, occurred_at in session.execute(query):
        for replay in replays:
            replay.counts[(customer_id or "", event_type)] += 1
            replay.times[(customer_id or "", event_type)].append(occurred_at)
        customer = None
        if customer_id is not None:
            count, spend = orders.get(customer_id, (0, Decimal(0)))
            if event_type == "order_created":
                count, spend = count + 1, spend + (to_decimal(payload.get("total_price")) or Decimal(0))
                orders[customer_id] = (count, spend)
            base = profiles.get(customer_id) or CustomerFacts(customer_id=customer_id)
            customer = replace(base, orders_count=count, lifetime_spend=spend)
        # As live: the shop's earning order event runs the rules as an order placed, its other order events (an
        # orders/create of a shop that earns on payment) are recorded only.
        rule_type = rule_event_type(shop.orders_earn_on, event_type)
        if rule_type is not None:
            facts = Facts(str(event_id), rule_type, occurred_at, shop.timezone, payload, customer)
            local_day = occurred_at.astimezone(zone).date()
            week = local_day - timedelta(days=local_day.weekday())
            for replay in replays:
                replay.run(facts, customer_id, week)
        events += 1
        if progress is not None and events % progress_every == 0:
            progress(events, total)
    if progress is not None and (events == 0 or events % progress_every):
        progress(events, total)
    candidate, baseline = replays
    customers = set(candidate.customer_points) | set(baseline.customer_points)
    deltas = {c: candidate.customer_points[c] - baseline.customer_points[c] for c in customers}
    return BacktestResult(
        events=events,
        points=candidate.total,
        baseline_points=baseline.total,
        customers_affected=sum(1 for delta in deltas.values() if delta),
        customers_earning=sum(1 for points in candidate.customer_points.values() if points),
        liability_change=points_value(candidate.total - baseline.total, Decimal(shop.redemption_points_per_unit)),
        currency=shop.currency,
        by_rule=dict(candidate.by_rule),
        baseline_by_rule=dict(baseline.by_rule),
        tier_movements=_tier_movements(session, shop, deltas),
        by_week={
            week: [candidate.weekly.get(week, 0), baseline.weekly.get(week, 0)]
            for week in sorted(set(candidate.weekly) | set(baseline.weekly))
        },
        top_customers=[
            {
                "customer_id": customer,
                "points": candidate.customer_points[customer],
                "baseline_points": baseline.customer_points[customer],
            }
            for customer, delta in sorted(deltas.items(), key=lambda item: (-abs(item[1]), item[0]))[:TOP_CUSTOMERS]
            if delta
        ],
        seconds=time.perf_counter() - started,
    )


def _longest_window(rules: Iterable[CompiledRule]) -> int:
    """The largest `within_days` of any frequency condition (0 when none)."""

    def walk(node: dict[str, Any] | None) -> int:
        if node is None:
            return 0
        if "conditions" in node:
            return max((walk(child) for child in node["conditions"]), default=0)
        return int(node.get("within_days") or 0) if node.get("type") == "frequency" else 0

    return max((walk(rule.rule.conditions) for rule in rules), default=0)


def _prior_history(
    session: Session, shop_id: int, start: datetime, window_days: int
) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], list[datetime]], dict[str, tuple[int, Decimal]]]:
    """Event counts per (customer, type) before `start`, their times within the longest window, and each
    customer's order count and spend before `start`."""
    before = [
        event_history.c.shop_id == shop_id,
        event_history.c.occurred_at < start,
        event_history.c.status != "dead",
        event_history.c.customer_id.is_not(None),
    ]
    counts = {
        (customer, kind): int(n)
        for customer, kind, n in session.execute(
            select(event_history.c.customer_id, event_history.c.event_type, func.count())
            .where(*before)
            .group_by(event_history.c.customer_id, event_history.c.event_type)
        )
    }
    times: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    if window_days:
        for customer, kind, when in session.execute(
            select(event_history.c.customer_id, event_history.c.event_type, event_history.c.occurred_at)
            .where(*before, event_history.c.occurred_at >= start - timedelta(days=window_days))
            .order_by(event_history.c.occurred_at)
        ):
            times[(customer, kind)].append(when)
    total = event_history.c.payload["total_price"].astext
    amount = case((total.regexp_match(r"^\d+(\.\d+)?$"), total.cast(Numeric)), else_=0)
    orders = {
        customer: (int(n), Decimal(spend or 0))
        for customer, n, spend in session.execute(
            select(event_history.c.customer_id, func.count(), func.sum(amount))
            .where(*before, event_history.c.event_type == "order_created")
            .group_by(event_history.c.customer_id)
        )
    }
    return counts, dict(times), orders


def _profiles(session: Session, shop_id: int) -> dict[str, CustomerFacts]:
    """Today's tags, tier and referral of every customer of the shop (counts are filled in during the replay)."""
    rows = session.execute(
        select(
            CustomerLoyaltyProfile.customer_id,
            CustomerLoyaltyProfile.tags,
            TierDefinition.name,
            TierDefinition.earn_multiplier,
            CustomerLoyaltyProfile.referred_by_profile_id,
        )
        .outerjoin(TierDefinition, TierDefinition.id == CustomerLoyaltyProfile.current_tier_id)
        .where(CustomerLoyaltyProfile.shop_id == shop_id)
    )
    return {
        customer: CustomerFacts(
            customer_id=customer,
            tags=frozenset(str(tag) for tag in tags or ()),
            tier=tier,
            tier_multiplier=Decimal(multiplier) if multiplier is not None else Decimal(1),
            referred=referrer is not None,
        )
        for customer, tags, tier, multiplier, referrer in rows
    }


def _tier_movements(session: Session, shop: Shop, deltas: dict[str, int]) -> list[dict[str, Any]]:
    """Customers whose qualified tier would differ with the point change (tiers based on points earned only)."""
    changed = {customer: delta for customer, delta in deltas.items() if delta}
    if shop.tier_basis != "points_earned" or not changed:
        return []
    ladder = tiers.ladder(session, shop_id=shop.id)
    earned = dict(
        session.execute(
            select(CustomerLoyaltyProfile.customer_id, CustomerLoyaltyProfile.lifetime_earned).where(
                CustomerLoyaltyProfile.shop_id == shop.id, CustomerLoyaltyProfile.customer_id.in_(list(changed))
            )
        ).all()
    )
    movements = []
    for customer, delta in sorted(changed.items()):
        now_value = Decimal(earned.get(customer, 0))
        before = tiers.qualified_tier(ladder, now_value)
        after = tiers.qualified_tier(ladder, max(now_value + delta, Decimal(0)))
        if (before and before.id) != (after and after.id):
            movements.append(
                {
                    "customer_id": customer,
                    "from": before.name if before else None,
                    "to": after.name if after else None,
                    "points_change": delta,
                }
            )
    return movements
