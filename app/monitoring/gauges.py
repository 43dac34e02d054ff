"""Gauges read at scrape time from Redis and PostgreSQL: stream lag, pending, dead letters, outbox and Huey depth.

They describe shared state, not one process's work, so the web process computes them when Prometheus scrapes
instead of each process keeping its own copy (which multiprocess mode would then have to add up or pick from).
Labels: the stream partition and outbox kind, both fixed by the code (a handful of values).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from app.monitoring.stream_info import stream_info


class LiveStateCollector:
    """A prometheus_client collector over `read_state()` (a dict as built by `live_state`)."""

    def __init__(self, read_state: Callable[[], dict[str, Any]]) -> None:
        self.read_state = read_state

    def collect(self) -> Iterator[Metric]:
        state = self.read_state()
        yield from _stream_gauges(state["streams"])
        depth = GaugeMetricFamily("loyalty_outbox_depth", "Pending outbox rows by kind.", labels=["kind"])
        age = GaugeMetricFamily(
            "loyalty_outbox_oldest_age_seconds", "Age of the oldest pending outbox row by kind.", labels=["kind"]
        )
        for row in state["outbox"]:
            depth.add_metric([row["kind"]], row["depth"])
            age.add_metric([row["kind"]], row["oldest_age_s"])
        yield depth
        yield age
        yield GaugeMetricFamily("loyalty_huey_queue_depth", "Tasks waiting in the Huey queue.", value=state["queued"])
        yield GaugeMetricFamily(
            "loyalty_huey_scheduled", "Tasks scheduled for later (retries, delays).", value=state["scheduled"]
        )
        yield GaugeMetricFamily(
            "loyalty_db_pool_checked_out",
            "Database connections in use in the web process.",
            value=state["pool"]["checked_out"],
        )
        alerts = GaugeMetricFamily("loyalty_alert_active", "1 while the app's own alert is active.", labels=["alert"])
        for name, active in state["alerts"].items():
            alerts.add_metric([name], 1 if active else 0)
        yield alerts


def _stream_gauges(report: dict[str, Any]) -> Iterator[Metric]:
    length = GaugeMetricFamily("loyalty_stream_length", "Entries in the stream partition.", labels=["stream"])
    lag = GaugeMetricFamily(
        "loyalty_stream_lag", "Entries not yet delivered to the consumer group.", labels=["stream", "group"]
    )
    pending = GaugeMetricFamily(
        "loyalty_stream_pending", "Entries delivered but not acknowledged.", labels=["stream", "group"]
    )
    oldest = GaugeMetricFamily(
        "loyalty_stream_oldest_pending_age_seconds",
        "Age of the oldest unacknowledged entry.",
        labels=["stream", "group"],
    )
    dead = GaugeMetricFamily("loyalty_dead_letters", "Entries in the dead-letter stream.", labels=["stream"])
    for partition in report["partitions"]:
        length.add_metric([partition["stream"]], partition["length"])
        for group in partition["groups"]:
            labels = [partition["stream"], group["name"]]
            lag.add_metric(labels, group["lag"] or 0)
            pending.add_metric(labels, group["pending"])
            oldest.add_metric(labels, group["oldest_pending"]["age_s"] if group["oldest_pending"] else 0)
    for stream in report["dead_letters"]:
        dead.add_metric([stream["stream"]], stream["length"])
    yield from (length, lag, pending, oldest, dead)


def live_state(*, client: Any, namespace: str, session: Any, engine: Any) -> dict[str, Any]:
    """Everything the gauges show, read now."""
    from app.monitoring.alerts import active_alerts
    from app.monitoring.system_metrics import outbox_depth, pool_use
    from app.monitoring.tasks import queue_storage

    now = datetime.now(timezone.utc)
    storage = queue_storage(client, namespace)
    try:
        outbox = outbox_depth(session, now)
    finally:
        session.rollback()
    return {
        "streams": stream_info(client, namespace),
        "outbox": outbox,
        "queued": storage.queue_size(),
        "scheduled": storage.schedule_size(),
        "pool": pool_use(engine),
        "alerts": active_alerts(client, namespace),
    }
