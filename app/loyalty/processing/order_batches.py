"""Order events applied set-based: the common case of a batch (an order of a customer whose shop's rules only award
points) in a few multi-row statements per batch instead of several round trips per event.

The events are cut into waves: the first event of each customer, then the second of each, and so on, so a wave
holds one event per customer and each wave sees what the earlier ones wrote (events of one customer apply in stream
order against the state the earlier ones produced). Per wave:
1. insert the orders, one statement; the ones that were new count in their customer's orders and spend;
2. evaluate the shop's cached rule set per event in memory, against the locked profile as this batch holds it and
   history asked of the database in one statement per wave (order counts) or per event (rarer questions);
3. post the credits: which idempotency keys are already used (one query), then ledger entries, lots, pending credits,
   each order's points_earned, rule executions, the tier upgrades the new totals reach and their tier_changed
   events, and every changed profile, each one multi-row statement.

The profiles were locked FOR UPDATE by the batch before anything here runs, and this runs first in the batch's
transaction, so the copies held here are the rows as they are: they are written back whole. The same invariants as
process_event hold: one key credits once (L3), balance = sum of entries, lots sum to the positive balance, the first
order is the one whose order count is one (L11). A shop with a budgeted rule never comes here (`rules_batchable`):
the waves change the order in which events reach the rules, which a budget shared by all customers would see.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, func, select, tuple_
from sqlalchemy.orm import Session

from app.loyalty import rulebook, tiers
from app.loyalty.base import order_earning
from app.loyalty.base.app_events import AppEvent, record_app_events
from app.loyalty.base.bulk import insert_rows, pairs_table, update_rows
from app.loyalty.base.inbound import ORDER_PLACED, InboundEvent
from app.loyalty.base.order_amounts import OrderAmounts, order_name
from app.loyalty.base.outcome import Outcome
from app.loyalty.ledger.entries import (
    Cause,
    entry_row,
    extend_open_lots,
    holds,
    keys_used,
    lot_expiry,
    lot_row,
    pending_row,
)
from app.loyalty.processing import customer_facts
from app.loyalty.rulebook.executions import execution_rows, write_executions
from app.loyalty.rulebook.facts import event_facts, rule_credit_key
from app.loyalty.rulebook.history import DatabaseHistory
from app.loyalty.tiers.membership import effective_tier, tier_changed_event, tier_of, upgrade_floor, upgrade_target
from app.loyalty.tiers.periods import current_window, measures, period_end
from app.models import (
    CustomerLoyaltyProfile,
    Order,
    PendingCredit,
    PointsLot,
    PointsTransaction,
    Shop,
)
from app.rules import POINT_ACTIONS, RuleSet, evaluate

# Rule actions this path applies: points on the ledger (multiply only scales them). A shop with any other action
# (rewards, tags, webhooks, referral points) has its events applied one by one.
BATCHED_ACTIONS = POINT_ACTIONS | {"multiply"}
# Profile columns this path changes and writes back, besides the contact columns the events name.
_WRITTEN = (
    "orders_count",
    "total_spent",
    "points_balance",
    "points_pending",
    "lifetime_earned",
    "last_activity_at",
    "current_tier_id",
    "earned_tier_id",
    "tier_achieved_at",
    "tier_review_at",
)


class KeyTakenConcurrently(RuntimeError):
    """An idempotency key this batch found unused was used by another transaction before this one wrote it."""


def rules_batchable(rules: RuleSet) -> bool:
    """Whether every action of the shop's active rules is one this path applies, and no rule has a budget: the waves
    apply events out of stream order (a customer's second order after the others' first), so which events got the
    last of a budget would differ from applying them one by one."""
    return all(rule.budget is None and all(plan.type in BATCHED_ACTIONS for plan in rule.actions) for rule in rules)


@dataclass
class OrderItem:
    """One order event of a customer, ready to apply: its profile (locked, held by the batch) and its amounts."""

    shop: Shop
    event: InboundEvent
    outcome: Outcome
    profile: CustomerLoyaltyProfile
    amounts: OrderAmounts
    # The event type the rules see this order event as (order_earning.rule_event_type); None: recorded only.
    rule_event_type: str | None
    # The contact fields this event changes, as found when its wave applies it.
    contact: dict[str, Any] = field(default_factory=dict)

    @property
    def order_id(self) -> str:
        return str(self.event.event_data["id"])


@dataclass
class _Credit:
    item: OrderItem
    points: int
    key: str
    cause: Cause
    reason: str


@dataclass
class _WaveHistory:
    """DatabaseHistory for one event of a wave: lifetime order counts come from one query for the whole wave (the
    wave's orders are already inserted, one per customer); the rest is asked of the database as DatabaseHistory
    does."""

    database: DatabaseHistory
    wave: _Wave

    def count_events(self, event_type: str, within_days: int | None) -> int:
        if event_type == ORDER_PLACED and within_days is None:
            return self.wave.order_count(self.database.profile_id)
        return self.database.count_events(event_type, within_days)

    def rule_firings(self, rule_id: int | None, period: str) -> int:
        return self.database.rule_firings(rule_id, period)

    def rule_points_issued(self, rule_id: int | None) -> int:
        return self.database.rule_points_issued(rule_id)


class _Wave:
    def __init__(self, session: Session, items: list[OrderItem]) -> None:
        self.session, self.items = session, items
        self._order_counts: dict[int, int] | None = None

    def order_count(self, profile_id: int) -> int:
        if self._order_counts is None:
            # The pairs reach the orders through their (shop id, profile id) index.
            wanted = pairs_table(
                [(item.shop.id, item.profile.id) for item in self.items],
                (BigInteger(), BigInteger()),
                ("shop_id", "profile_id"),
            )
            self._order_counts = dict(
                self.session.execute(
                    select(Order.profile_id, func.count())
                    .where(tuple_(Order.shop_id, Order.profile_id).in_(select(wanted.c.shop_id, wanted.c.profile_id)))
                    .group_by(Order.profile_id)
                ).all()
            )
        return self._order_counts.get(profile_id, 0)


def apply_orders(session: Session, items: list[OrderItem], *, now: datetime) -> None:
    """Apply the order events, customer by customer in the order given (see the module docstring).

    The contact fields an order's customer changes are kept on the held profile, which is then written back whole
    with those columns.
    """
    if not items:
        return
    used: set[tuple[int, str]] = set()
    seen: dict[tuple[int, int], int] = {}
    waves: list[list[OrderItem]] = []
    for item in items:
        position = seen.get((item.shop.id, item.profile.id), 0)
        seen[(item.shop.id, item.profile.id)] = position + 1
        if position == len(waves):
            waves.append([])
        waves[position].append(item)
    for wave in waves:
        _apply_wave(session, _Wave(session, wave), now=now, used=used)


def _apply_wave(
    session: Session,
    wave: _Wave,
    *,
    now: datetime,
    used: set[tuple[int, str]],
) -> None:
    _record_orders(session, wave.items, now=now)
    credits: list[_Credit] = []
    executions: list[dict[str, Any]] = []
    for item in wave.items:
        if item.rule_event_type is None:
            item.outcome.note = order_earning.recorded_only_note(item.shop.orders_earn_on, item.order_id)
            continue
        rules = rulebook.active_rules(session, item.shop)
        if not rules:
            continue
        source = ("order", item.order_id)
        # The rules see the shop's earning event as an order placed (order_earning.rule_event_type).
        earning = replace(item.event, event_type=item.rule_event_type)
        facts = event_facts(
            session,
            shop=item.shop,
            profile=item.profile,
            event=earning,
            history=lambda database: _WaveHistory(database, wave),
        )
        evaluation = evaluate(rules, facts)
        item.outcome.rules_elapsed_ns = evaluation.elapsed_ns
        for decision in evaluation.decisions:
            item.outcome.decisions.append(
                {"rule": decision.rule_name, "action": decision.type, "points": decision.points}
            )
            if decision.type in POINT_ACTIONS and decision.points:
                credits.append(
                    _Credit(
                        item,
                        decision.points,
                        rule_credit_key(decision.rule_id, decision.action_index, source),
                        Cause(
                            "event",
                            event_id=item.event.event_id,
                            rule_id=decision.rule_id,
                            rule_version_id=decision.version_id,
                        ),
                        decision.reason or decision.rule_name,
                    )
                )
        rows, _ = execution_rows(
            shop_id=item.shop.id,
            event_id=item.event.event_id,
            profile_id=item.profile.id,
            evaluation=evaluation,
            now=now,
        )
        executions += rows
    _post_credits(session, credits, now=now, used=used)
    write_executions(session, executions, {})  # no rule here has a budget to count (rules_batchable)
    # As process_event: an order event that runs no rules is recorded only, and moves no tier.
    _upgrade_tiers(session, [item for item in wave.items if item.rule_event_type is not None], now=now)
    _write_profiles(session, wave.items, now=now)


def _record_orders(session: Session, items: list[OrderItem], *, now: datetime) -> None:
    """Insert the wave's orders; a new one counts in its customer's orders and spend (the first event naming an order
    in this wave, if two customers' events name the same order)."""
    rows = [
        {
            "shop_id": item.shop.id,
            "profile_id": item.profile.id,
            "order_id": item.order_id,
            "name": order_name(item.event.event_data),
            "currency": item.amounts.currency,
            "total": item.amounts.total,
            "subtotal": item.amounts.subtotal,
            "discount_codes": [],  # an order with codes takes the one-by-one path (rewards.mark_used)
            "placed_at": item.event.timestamp,
            "created_at": now,
        }
        for item in items
    ]
    inserted = set(
        insert_rows(session, Order.__table__, rows, conflict=("shop_id", "order_id"), returning=("shop_id", "order_id"))
    )
    for item in items:
        key = (item.shop.id, item.order_id)
        profile = item.profile
        item.contact = customer_facts.profile_changes(profile, item.event.event_data.get("customer") or {})
        if key in inserted:
            inserted.discard(key)
            profile.orders_count += 1
            profile.total_spent = Decimal(profile.total_spent) + item.amounts.total
            profile.last_activity_at = now
        customer_facts.remember(profile, item.contact)


def _post_credits(session: Session, credits: list[_Credit], *, now: datetime, used: set[tuple[int, str]]) -> None:
    """ledger.credit for each credit (an order's points: held for the return window, or posted with a lot), in
    statements shared by all of them, of the rows ledger.credit writes (entries.pending_row, entry_row, lot_row)."""
    if not credits:
        return
    used |= keys_used(session, {(credit.item.shop.id, credit.key) for credit in credits})
    entries: list[dict[str, Any]] = []
    lots: dict[tuple[int, str], dict[str, Any]] = {}
    pending: list[dict[str, Any]] = []
    earned: dict[tuple[int, str, int], int] = defaultdict(int)
    inactive: dict[int, tuple[Shop, set[int]]] = {}
    for credit in credits:
        shop, profile, outcome = credit.item.shop, credit.item.profile, credit.item.outcome
        if (shop.id, credit.key) in used:
            continue  # credited before (a re-delivery, a backfill of the same order): L3
        used.add((shop.id, credit.key))
        profile.last_activity_at = max(profile.last_activity_at or now, now)  # an earn is activity
        if shop.points_expiry_policy == "inactivity" and shop.points_expiry_days:
            inactive.setdefault(shop.id, (shop, set()))[1].add(profile.id)
        row: dict[str, Any] = {
            "profile_id": profile.id,
            "kind": "earn",
            "points": credit.points,
            "idempotency_key": credit.key,
            "cause": credit.cause,
            "now": now,
            "reason": credit.reason,
            "source": ("order", credit.item.order_id),
        }
        if holds(shop, hold_for_return_window=True):
            pending.append(pending_row(shop=shop, **row))
            profile.points_pending += credit.points
            outcome.points_pending += credit.points
        else:
            entries.append(entry_row(shop_id=shop.id, **row))
            lots[(shop.id, credit.key)] = {
                "shop_id": shop.id,
                "profile_id": profile.id,
                "points": credit.points,
                "balance_before": profile.points_balance,
                "now": now,
                "expires_at": lot_expiry(shop, credited_at=now, last_activity_at=profile.last_activity_at),
            }
            profile.points_balance += credit.points
            profile.lifetime_earned += credit.points
            outcome.points_credited += credit.points
        earned[(shop.id, credit.item.order_id, profile.id)] += credit.points
    for shop, profile_ids in inactive.values():
        extend_open_lots(session, shop=shop, profile_ids=sorted(profile_ids), now=now)
    _insert_all(session, PendingCredit, pending)
    posted = _insert_all(session, PointsTransaction, entries)
    insert_rows(session, PointsLot.__table__, [lot_row(entry_id=posted[key], **lot) for key, lot in lots.items()])
    update_rows(
        session,
        Order.__table__,
        [{"shop_id": s, "order_id": o, "profile_id": p, "points_earned": n} for (s, o, p), n in earned.items()],
        match=("shop_id", "order_id"),
        add=frozenset({"points_earned"}),
        also="t.profile_id = v.profile_id OR t.profile_id IS NULL",
        read_only=frozenset({"profile_id"}),
    )


def _insert_all(session: Session, table: Any, rows: list[dict[str, Any]]) -> dict[tuple[int, str], int]:
    """Insert rows keyed by (shop id, idempotency key); {key: id}. A key another transaction used since keys_used
    looked fails the batch, which is then retried in smaller parts where that key is seen as used."""
    if not rows:
        return {}
    written = {
        (shop_id, key): row_id
        for row_id, shop_id, key in insert_rows(
            session,
            table.__table__,
            rows,
            conflict=("shop_id", "idempotency_key"),
            returning=("id", "shop_id", "idempotency_key"),
        )
    }
    if len(written) != len(rows):
        raise KeyTakenConcurrently(f"{len(rows) - len(written)} idempotency keys were used concurrently")
    return written


def _upgrade_tiers(session: Session, items: list[OrderItem], *, now: datetime) -> None:
    """tiers.evaluate_upgrade for the wave's customers (the same decisions, `upgrade_target` and `effective_tier`):
    one measure query per shop, one pair of statements for all the tier_changed events."""
    events: list[AppEvent] = []
    by_shop: dict[int, list[OrderItem]] = defaultdict(list)
    for item in items:
        by_shop[item.shop.id].append(item)
    for shop_items in by_shop.values():
        shop = shop_items[0].shop
        ladder = tiers.ladder(session, shop_id=shop.id)
        if not ladder:
            continue
        values = measures(
            session,
            shop=shop,
            profiles={
                item.profile.id: (Decimal(item.profile.total_spent), item.profile.orders_count) for item in shop_items
            },
            start=current_window(shop, now),
        )
        for item in shop_items:
            profile = item.profile
            upgrade = upgrade_target(ladder, profile.earned_tier_id, values[profile.id])
            if upgrade is None:
                continue
            _earned, target = upgrade
            profile.earned_tier_id, profile.tier_achieved_at = target.id, now
            profile.tier_review_at = period_end(shop, now)
            applies = effective_tier(target, upgrade_floor(profile, ladder)) or target
            if applies.id == profile.current_tier_id:
                continue  # a higher tier set by hand still applies: the earned tier moved, nothing the member sees
            current = tier_of(ladder, profile.current_tier_id)
            _change, event = tier_changed_event(
                shop=shop,
                profile_id=profile.id,
                customer_id=profile.customer_id,
                previous=current,
                target=applies,
                reason=f"{item.rule_event_type} {item.order_id}",
                value=values[profile.id],
                now=now,
            )
            profile.current_tier_id = applies.id
            events.append(event)
    record_app_events(session, events)


def _write_profiles(session: Session, items: list[OrderItem], *, now: datetime) -> None:
    """Write the wave's profiles back as this batch holds them (it holds their locks), one statement."""
    columns = list(_WRITTEN) + sorted({column for item in items for column in item.contact} - set(_WRITTEN))
    update_rows(
        session,
        CustomerLoyaltyProfile.__table__,
        [
            {"id": item.profile.id, "updated_at": now, **{column: getattr(item.profile, column) for column in columns}}
            for item in items
        ],
        match=("id",),
    )
