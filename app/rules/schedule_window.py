"""A rule's schedule compiled to one predicate on the event time.

`starts_at` is inclusive, a date-time `ends_at` exclusive (the instant the rule stops). Date-only bounds compare the
shop-local calendar date, so `"ends_at": "2024-12-31"` includes all of that day. A date-time without an offset is
shop-local wall time; one with an offset is an instant.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from app.rules.event_context import EventContext
from app.rules.values import parse_when

Window = Callable[[EventContext], bool]


def compile_schedule(schedule: dict[str, str]) -> Window | None:
    """Return a predicate that holds while the rule is scheduled, or None when it has no schedule."""
    tests = []
    if "starts_at" in schedule:
        tests.append(_bound(schedule["starts_at"], starting=True))
    if "ends_at" in schedule:
        tests.append(_bound(schedule["ends_at"], starting=False))
    if not tests:
        return None
    if len(tests) == 1:
        return tests[0]
    first, second = tests
    return lambda ctx: first(ctx) and second(ctx)


def _bound(text: str, *, starting: bool) -> Window:
    bound = parse_when(text)
    if not isinstance(bound, dt.datetime):
        if starting:
            return lambda ctx: ctx.local_date >= bound
        return lambda ctx: ctx.local_date <= bound
    if bound.tzinfo is None:
        if starting:
            return lambda ctx: ctx.local_naive >= bound
        return lambda ctx: ctx.local_naive < bound
    if starting:
        return lambda ctx: ctx.facts.occurred_at >= bound
    return lambda ctx: ctx.facts.occurred_at < bound
