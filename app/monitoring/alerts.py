"""The seed's alert thresholds, evaluated by the app itself (deploy/prometheus/alerts.yml has them for Prometheus).

An alert has episodes: it fires when its threshold is crossed and clears when the figure recovers. The state lives
in one Redis hash, so every process agrees; HSETNX and HDEL each succeed for exactly one caller, so however many
workers evaluate at once, the operator hears once when an episode starts and once when it ends, not every minute.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Threshold:
    name: str
    summary: str
    read: Callable[[dict[str, Any]], float | None]
    limit: float


# `figures` is {"system": system_metrics(...), "streams": stream_info.totals(...), "drift": drift.latest(...)}.
THRESHOLDS = (
    Threshold(
        "high_error_rate",
        "more than 5% of recent events failed at least once",
        lambda f: f["system"]["events"]["error_rate"],
        0.05,
    ),
    Threshold(
        "slow_processing",
        "95th percentile from webhook to ledger above 1 s",
        lambda f: f["system"]["events"]["latency_p95_s"],
        1.0,
    ),
    Threshold("stream_lag", "more than 1000 events wait for the stream consumers", lambda f: f["streams"]["lag"], 1000),
    Threshold(
        "webhook_failures",
        "more than 10% of merchants' webhook deliveries failed",
        lambda f: _failure_rate(f["system"]["outbound_webhooks"]),
        0.10,
    ),
    Threshold(
        "ledger_drift",
        "a stored balance differs from the sum of its ledger entries (invariant L1)",
        lambda f: (f.get("drift") or {}).get("profiles"),
        0,
    ),
)
ALERT_NAMES = tuple(threshold.name for threshold in THRESHOLDS)


def _failure_rate(deliveries: dict[str, Any]) -> float | None:
    rate = deliveries["success_rate"]
    return None if rate is None else 1 - rate


def alerts_key(namespace: str) -> str:
    return f"{namespace}:alerts"


def firing(figures: dict[str, Any]) -> dict[str, float]:
    """The alerts whose figure is above its limit now, with the figure."""
    values = {threshold.name: threshold.read(figures) for threshold in THRESHOLDS}
    return {
        threshold.name: float(values[threshold.name])
        for threshold in THRESHOLDS
        if values[threshold.name] is not None and values[threshold.name] > threshold.limit
    }


def active_alerts(client: redis.Redis, namespace: str) -> dict[str, dict[str, Any] | None]:
    """Every alert name with its open episode ({"since", "value", "summary"}) or None."""
    stored = {name.decode(): json.loads(value) for name, value in client.hgetall(alerts_key(namespace)).items()}
    return {name: stored.get(name) for name in ALERT_NAMES}


def update_episodes(
    client: redis.Redis,
    namespace: str,
    now_firing: dict[str, float],
    *,
    now: datetime,
    notify: Callable[[dict[str, Any]], None],
) -> list[dict[str, Any]]:
    """Open an episode for each newly firing alert and close the episode of each recovered one; notify each change
    exactly once. Returns the notices sent."""
    key = alerts_key(namespace)
    summaries = {threshold.name: threshold.summary for threshold in THRESHOLDS}
    notices: list[dict[str, Any]] = []
    for name in ALERT_NAMES:
        if name in now_firing:
            episode = {"since": now.isoformat(), "value": now_firing[name], "summary": summaries[name]}
            if client.hsetnx(key, name, json.dumps(episode)):
                notices.append({"alert": name, "state": "firing", **episode})
        elif client.hdel(key, name):
            notices.append({"alert": name, "state": "resolved", "at": now.isoformat(), "summary": summaries[name]})
    for notice in notices:
        log.warning("alert %s %s: %s", notice["alert"], notice["state"], notice["summary"])
        notify(notice)
    return notices


def operator_notifier(url: str | None, *, timeout_s: float = 5.0) -> Callable[[dict[str, Any]], None]:
    """POST each notice as JSON (with a Slack-style `text`) to the operator's URL; nothing when it is unset.

    A failed notification is logged, never raised: the episode stays recorded and shows in the admin banner.
    """
    import httpx

    def notify(notice: dict[str, Any]) -> None:
        if not url:
            return
        body = {"text": f"loyalty alert {notice['alert']} {notice['state']}: {notice['summary']}", **notice}
        try:
            httpx.post(url, json=body, timeout=timeout_s).raise_for_status()
        except httpx.HTTPError as exc:
            log.error("could not notify the operator of alert %s: %s", notice["alert"], exc)

    return notify
