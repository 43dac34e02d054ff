"""The customer's history as the rule engine asks for it, answered from PostgreSQL.

Counts follow processing order, under the customer's profile lock (L11): "the Nth event" means N-1 were applied
before this one. So of two orders of one customer exactly one is ever the first, whatever the delivery order or
timestamps. Orders count once each (the `orders` table, which the current order is already in), so a backfill of
the same order under another event id is not a second order; other event types count applied inbox events.

Looking back at stored events (retroactive runs, simulations) is `chronological` instead: only what happened up
to `as_of` counts, and the caller accounts for an event that is not stored. Which stored events a backtest or a
retroactive run replays is `stored_events`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from app.loyalty.base.inbound import ORDER_PLACED
from app.models import Order, Rule, RuleExecution, event_history


def stored_events(shop_id: int, start: datetime, end: datetime, *also: ColumnElement[bool]) -> Select[Any]:
    """The shop's stored events in [start, end) (and `also`) as backtests and retroactive runs replay them: never the
    dead-lettered ones, in time order."""
    return (
        select(
            event_history.c.event_id,
            event_history.c.event_type,
            event_history.c.customer_id,
            event_history.c.payload,
            event_history.c.occurred_at,
        )
        .where(*stored_in_range(shop_id, start, end), *also)
        .order_by(event_history.c.occurred_at, event_history.c.id)
    )


def stored_in_range(shop_id: int, start: datetime, end: datetime) -> list[ColumnElement[bool]]:
    """The conditions of `stored_events`, for counting them."""
    return [
        event_history.c.shop_id == shop_id,
        event_history.c.occurred_at >= start,
        event_history.c.occurred_at < end,
        event_history.c.status != "dead",
    ]


def period_start(period: str, moment: datetime, timezone: str) -> datetime | None:
    """Start of the current day/week (Monday)/month/year in the shop's time zone; None for lifetime."""
    if period == "lifetime":
        return None
    local = moment.astimezone(ZoneInfo(timezone))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return midnight
    if period == "week":
        return midnight - timedelta(days=midnight.weekday())
    if period == "month":
        return midnight.replace(day=1)
    if period == "year":
        return midnight.replace(month=1, day=1)
    raise ValueError(f"unknown period {period!r}")


@dataclass
class DatabaseHistory:
    """History of one customer of one shop as of one event."""

    session: Session
    shop_id: int
    customer_id: str
    profile_id: int
    as_of: datetime
    timezone: str
    # Live processing: the type of the event being applied, which counts as the latest of its kind.
    current_event_type: str | None = None
    chronological: bool = False

    def count_events(self, event_type: str, within_days: int | None) -> int:
        since = None if within_days is None else self.as_of - timedelta(days=within_days)
        if event_type == ORDER_PLACED:
            query = select(func.count()).where(Order.shop_id == self.shop_id, Order.profile_id == self.profile_id)
            if since is not None:
                query = query.where(Order.placed_at > since)
            if self.chronological:
                query = query.where(Order.placed_at <= self.as_of)
            return int(self.session.execute(query).scalar_one())
        query = select(func.count()).where(
            event_history.c.shop_id == self.shop_id,
            event_history.c.customer_id == self.customer_id,
            event_history.c.event_type == event_type,
            event_history.c.status == "processed",
        )
        if since is not None:
            query = query.where(event_history.c.occurred_at > since)
        if self.chronological:
            query = query.where(event_history.c.occurred_at <= self.as_of)
        applied = int(self.session.execute(query).scalar_one())
        return applied + (1 if event_type == self.current_event_type else 0)

    def rule_firings(self, rule_id: int | None, period: str) -> int:
        if rule_id is None:
            return 0
        query = select(func.count()).where(
            RuleExecution.shop_id == self.shop_id,
            RuleExecution.rule_id == rule_id,
            RuleExecution.profile_id == self.profile_id,
            RuleExecution.fired.is_(True),
        )
        start = period_start(period, self.as_of, self.timezone)
        if start is not None:
            query = query.where(RuleExecution.created_at >= start)
        return int(self.session.execute(query).scalar_one())

    def rule_points_issued(self, rule_id: int | None) -> int:
        if rule_id is None:
            return 0
        # Locked until commit: concurrent events of other customers wait here, so a budget cannot be overspent
        # (record_executions adds this event's points in the same transaction). Only budgeted rules ask.
        issued = self.session.execute(
            select(Rule.points_issued).where(Rule.shop_id == self.shop_id, Rule.id == rule_id).with_for_update()
        ).scalar_one_or_none()
        return int(issued or 0)
