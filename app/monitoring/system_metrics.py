"""Figures over a recent window, read from PostgreSQL (the system of record), so every process's work is counted.

Each figure reads the newest rows of its table by primary key (an index scan, however large the table), at most
SAMPLE_ROWS of them, and keeps those inside the window: the inbox, rule executions and the webhook delivery log have
no index on their timestamps, and a scan of the whole table on every request would grow with the shop base. When
the window holds more rows than the sample (busy hours), rates are taken over the span the sample covers, which the
answer reports as `span_s`. Depths and ages are as of now.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

SAMPLE_ROWS = 20_000

_EVENTS = text(
    """
    WITH recent AS (
        SELECT received_at, processed_at, status, attempts, last_error
        FROM event_queue ORDER BY id DESC LIMIT :sample
    )
    SELECT count(*) AS received,
           min(received_at) AS oldest,
           count(*) FILTER (WHERE status = 'processed') AS processed,
           count(*) FILTER (WHERE status = 'dead') AS dead,
           count(*) FILTER (WHERE attempts > 0 OR last_error IS NOT NULL) AS failed_at_least_once,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at - received_at))
               FILTER (WHERE processed_at IS NOT NULL) AS latency_p95_s
    FROM recent WHERE received_at >= :since
    """
)
_RULES = text(
    """
    WITH recent AS (SELECT duration_us, created_at FROM rule_executions ORDER BY id DESC LIMIT :sample)
    SELECT count(*) AS evaluations,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_us) AS p50,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_us) AS p95,
           percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_us) AS p99
    FROM recent WHERE created_at >= :since
    """
)
_DELIVERIES = text(
    """
    WITH recent AS (SELECT status, attempts, created_at FROM webhook_deliveries ORDER BY id DESC LIMIT :sample)
    SELECT count(*) FILTER (WHERE status = 'delivered') AS delivered,
           count(*) FILTER (WHERE status = 'failed') AS failed,
           count(*) FILTER (WHERE status = 'pending') AS pending,
           coalesce(sum(attempts), 0) AS attempts
    FROM recent WHERE created_at >= :since
    """
)
_OUTBOX = text(
    """
    SELECT kind, count(*) AS depth, min(created_at) AS oldest
    FROM outbox WHERE status = 'pending' GROUP BY kind ORDER BY kind
    """
)


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def outbox_depth(session: Session, now: datetime) -> list[dict[str, Any]]:
    """Pending outbox rows per kind, with the oldest one's age in seconds."""
    return [
        {"kind": row.kind, "depth": row.depth, "oldest_age_s": round((now - row.oldest).total_seconds(), 3)}
        for row in session.execute(_OUTBOX)
    ]


def system_metrics(session: Session, *, now: datetime, window_s: int) -> dict[str, Any]:
    """Event rate, rule timing percentiles, error shares, webhook success and outbox depth for the window."""
    bounds = {"since": now - timedelta(seconds=window_s), "sample": SAMPLE_ROWS}
    events = session.execute(_EVENTS, bounds).one()
    rules = session.execute(_RULES, bounds).one()
    deliveries = session.execute(_DELIVERIES, bounds).one()
    finished = deliveries.delivered + deliveries.failed
    # A full sample may not reach back to the window's start: the rate is over what it covers.
    span_s = window_s if events.received < SAMPLE_ROWS else max((now - events.oldest).total_seconds(), 1.0)
    return {
        "window_s": window_s,
        "events": {
            "received": events.received,
            "processed": events.processed,
            "per_second": round(events.processed / span_s, 3),
            "span_s": round(span_s, 3),
            "dead": events.dead,
            "error_rate": _share(events.failed_at_least_once, events.received),
            # From the webhook's acceptance to the commit of its effects.
            "latency_p95_s": None if events.latency_p95_s is None else round(float(events.latency_p95_s), 3),
        },
        "rule_execution_ms": {
            "evaluations": rules.evaluations,
            **{
                name: None if value is None else round(float(value) / 1000, 3)
                for name, value in (("p50", rules.p50), ("p95", rules.p95), ("p99", rules.p99))
            },
        },
        "outbound_webhooks": {
            "delivered": deliveries.delivered,
            "failed": deliveries.failed,
            "pending": deliveries.pending,
            "attempts": int(deliveries.attempts),
            "success_rate": _share(deliveries.delivered, finished) if finished else None,
        },
        "outbox": outbox_depth(session, now),
    }


def pool_use(engine: Any) -> dict[str, int]:
    """The database connection pool of this process: its size, connections in use and overflow."""
    pool = engine.pool
    return {"size": pool.size(), "checked_out": pool.checkedout(), "overflow": max(pool.overflow(), 0)}
