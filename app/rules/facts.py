"""What the engine is told about an event: the facts in, and the history it may ask about."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol


class History(Protocol):
    """The customer's past as the caller knows it; the engine never touches a database itself."""

    def count_events(self, event_type: str, within_days: int | None) -> int:
        """Return the customer's events of this type (this one included), within the last N days if given."""
        ...

    def rule_firings(self, rule_id: int | None, period: str) -> int:
        """Return how often the rule already fired for this customer in the current day/week/month/year/lifetime."""
        ...

    def rule_points_issued(self, rule_id: int | None) -> int:
        """Return the points the rule has issued so far, across all customers (its budget used)."""
        ...


@dataclass(frozen=True)
class StaticHistory:
    """An in-memory History for tests, dry runs and backtests.

    `events` are (event_type, occurred_at) pairs including the current event; `as_of` is the current event's time
    (the latest event time when omitted), so `within_days=D` counts events in (as_of - D days, as_of].
    """

    events: Sequence[tuple[str, dt.datetime]] = ()
    as_of: dt.datetime | None = None
    firings: Mapping[tuple[int | None, str], int] = field(default_factory=dict)
    points_issued: Mapping[int | None, int] = field(default_factory=dict)

    def count_events(self, event_type: str, within_days: int | None) -> int:
        """Return the number of stored events of this type, within `within_days` of `as_of` when given."""
        times = [when for kind, when in self.events if kind == event_type]
        if within_days is None or not times:
            return len(times)
        as_of = self.as_of or max(when for _, when in self.events)
        cutoff = as_of - dt.timedelta(days=within_days)
        return sum(1 for when in times if cutoff < when <= as_of)

    def rule_firings(self, rule_id: int | None, period: str) -> int:
        """Return the stored firing count for (rule_id, period), 0 when absent."""
        return self.firings.get((rule_id, period), 0)

    def rule_points_issued(self, rule_id: int | None) -> int:
        """Return the stored points issued for the rule, 0 when absent."""
        return self.points_issued.get(rule_id, 0)


@dataclass(frozen=True)
class CustomerFacts:
    """The customer behind the event, as of this event (counts and spend include it)."""

    customer_id: str
    tags: frozenset[str] = frozenset()
    tier: str | None = None
    tier_multiplier: Decimal = Decimal(1)
    orders_count: int = 0
    lifetime_spend: Decimal = Decimal(0)
    referred: bool = False


@dataclass(frozen=True)
class Facts:
    """One event as the engine sees it. `event_data` is Shopify's payload with money as strings ("150.00")."""

    event_id: str
    event_type: str
    occurred_at: dt.datetime
    timezone: str
    event_data: Mapping[str, Any]
    customer: CustomerFacts | None = None
    history: History = field(default_factory=StaticHistory)

    def __post_init__(self) -> None:
        if self.occurred_at.tzinfo is None or self.occurred_at.utcoffset() is None:
            raise ValueError(f"Facts.occurred_at must be timezone-aware, got {self.occurred_at.isoformat()}")
