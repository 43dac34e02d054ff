"""Prometheus counters and histograms that each process (web, stream, worker) records as it works.

Flask-free, so the stream consumer and the Huey worker can import it. Every label has a bounded set of values:
event types come from the fixed topic map (anything else counts as "other"), outcomes, task names and outbox kinds
are defined in code, HTTP endpoints are the app's URL rules. Never a shop, customer or URL: a label per shop would
make one time series per merchant per metric, which grows with the customer base and is what Prometheus warns
against; per-shop figures belong in PostgreSQL queries (system-metrics), not in label values.

Across processes: with `PROMETHEUS_MULTIPROC_DIR` set (gunicorn's workers, or every process of a Procfile on one
host), prometheus_client writes these values to files there and `/monitoring/metrics` sums them. A process on
another machine or container (Kubernetes, compose) serves its own with `start_process_exporter` on
`LOYALTY_METRICS_PORT`, and Prometheus scrapes each (deploy/prometheus/prometheus.yml).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

from app.shopify.topics import TOPIC_EVENT_TYPES

# The process's own metrics; the scrape adds the live gauges (app.monitoring.gauges) to these.
REGISTRY = CollectorRegistry(auto_describe=True)
_exporter_lock = threading.Lock()

APP_EVENT_TYPES = frozenset({"referral_converted", "reward_redeemed", "points_expired", "tier_changed"})
KNOWN_EVENT_TYPES = frozenset(TOPIC_EVENT_TYPES.values()) | APP_EVENT_TYPES
EVENT_OUTCOMES = ("processed", "duplicate", "retry_later", "failed", "dead_lettered")
DELIVERY_OUTCOMES = ("delivered", "failed", "refused")
TASK_OUTCOMES = ("complete", "error", "retrying", "expired", "revoked")

# Seconds: rule evaluation is sub-millisecond to tens of ms; an event's age spans seconds to the retry horizon.
FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
AGE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

EVENTS = Counter(
    "loyalty_events_total",
    "Stream events handled, by event type and outcome.",
    ["event_type", "outcome"],
    registry=REGISTRY,
)
EVENT_PROCESSING = Histogram(
    "loyalty_event_processing_seconds",
    "Time to process one event (its whole transaction).",
    buckets=FAST_BUCKETS,
    registry=REGISTRY,
)
EVENT_AGE = Histogram(
    "loyalty_event_age_seconds",
    "From the event's occurrence to the commit of its effects.",
    buckets=AGE_BUCKETS,
    registry=REGISTRY,
)
RULE_EVALUATION = Histogram(
    "loyalty_rule_evaluation_seconds",
    "Time to evaluate a shop's active rules against one event.",
    buckets=FAST_BUCKETS,
    registry=REGISTRY,
)
WEBHOOK_DELIVERIES = Counter(
    "loyalty_outbound_webhook_deliveries_total",
    "Attempts to deliver merchants' outbound webhooks, by outcome.",
    ["outcome"],
    registry=REGISTRY,
)
WEBHOOK_LATENCY = Histogram(
    "loyalty_outbound_webhook_seconds",
    "Response time of merchants' endpoints.",
    buckets=HTTP_BUCKETS,
    registry=REGISTRY,
)
TASKS = Counter(
    "loyalty_tasks_total", "Huey task runs by task name and outcome.", ["task", "outcome"], registry=REGISTRY
)
TASK_DURATION = Histogram(
    "loyalty_task_seconds", "Duration of Huey task runs.", ["task"], buckets=HTTP_BUCKETS, registry=REGISTRY
)
HTTP_REQUESTS = Counter(
    "loyalty_http_requests_total",
    "HTTP requests by endpoint (URL rule), method and status class.",
    ["endpoint", "method", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "loyalty_http_request_seconds",
    "HTTP request duration by endpoint.",
    ["endpoint"],
    buckets=HTTP_BUCKETS,
    registry=REGISTRY,
)


def bounded_event_type(event_type: str) -> str:
    """The event type as a label value: one of the known types, else "other"."""
    return event_type if event_type in KNOWN_EVENT_TYPES else "other"


def record_event(event_type: str, outcome: str, *, seconds: float | None = None, age_s: float | None = None) -> None:
    """Count one handled stream event; with its processing time and age when it was processed."""
    if outcome not in EVENT_OUTCOMES:
        raise ValueError(f"event outcome must be one of {', '.join(EVENT_OUTCOMES)}; got {outcome!r}")
    EVENTS.labels(bounded_event_type(event_type), outcome).inc()
    if seconds is not None:
        EVENT_PROCESSING.observe(seconds)
    if age_s is not None:
        EVENT_AGE.observe(max(age_s, 0.0))


def record_rule_evaluation(seconds: float) -> None:
    """Observe one evaluation of a shop's rule set against an event."""
    RULE_EVALUATION.observe(seconds)


def record_webhook_delivery(outcome: str, seconds: float | None = None) -> None:
    """Count one outbound delivery attempt; `seconds` is the endpoint's response time when it answered."""
    if outcome not in DELIVERY_OUTCOMES:
        raise ValueError(f"delivery outcome must be one of {', '.join(DELIVERY_OUTCOMES)}; got {outcome!r}")
    WEBHOOK_DELIVERIES.labels(outcome).inc()
    if seconds is not None:
        WEBHOOK_LATENCY.observe(seconds)


def record_task(task: str, outcome: str, seconds: float | None = None) -> None:
    """Count one Huey task run (task names are the registered task functions: a bounded set)."""
    TASKS.labels(task, outcome).inc()
    if seconds is not None:
        TASK_DURATION.labels(task).observe(seconds)


def record_http_request(endpoint: str, method: str, status: int, seconds: float) -> None:
    """Count one HTTP request; `endpoint` is the matched URL rule (never the raw path) or "unmatched"."""
    HTTP_REQUESTS.labels(endpoint, method, f"{status // 100}xx").inc()
    HTTP_LATENCY.labels(endpoint).observe(seconds)


_exporter_port: int | None = None


def start_process_exporter() -> int | None:
    """Serve this process's metrics on LOYALTY_METRICS_PORT (stream and worker in containers); the port, or None.

    Once per process: Huey runs its start-up hooks in every worker thread.
    """
    global _exporter_port
    port = os.environ.get("LOYALTY_METRICS_PORT", "").strip()
    if not port or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return None  # unset, or the web process already reports this one through the shared directory
    with _exporter_lock:
        if _exporter_port is None:
            start_http_server(int(port), registry=REGISTRY)
            _exporter_port = int(port)
    return _exporter_port


class _Scrape:
    """The process metrics (or, in multiprocess mode, every process's, summed from the shared directory) plus extra
    collectors, as one thing for generate_latest to walk."""

    def __init__(self, *extra: Any) -> None:
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if directory:
            self.source: Any = CollectorRegistry()
            MultiProcessCollector(self.source, path=directory)
        else:
            self.source = REGISTRY
        self.extra = extra

    def collect(self) -> Iterator[Metric]:
        yield from self.source.collect()
        for collector in self.extra:
            yield from collector.collect()


def exposition(*extra: Any) -> bytes:
    """The Prometheus text exposition of the process (or all processes) metrics and the extra collectors."""
    return generate_latest(_Scrape(*extra))  # type: ignore[arg-type]
