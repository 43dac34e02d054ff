"""What the worker tells operators about its tasks (the seed's Flower): last run per task, failures kept for a retry.

Huey's pre/post-execute hooks run in the worker around every task. Each run updates Prometheus counters and, in the
Huey's own Redis, one hash field per task name (its last run) and, for a run that failed with no retry left, an
entry in a capped list holding the serialized task, so `/monitoring/tasks` can list it and enqueue it again.
"""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime, timezone
from typing import Any

from huey.api import PeriodicTask, Task

from app.monitoring.metrics import record_task, start_process_exporter
from app.tasks.queue import huey

FAILED_KEPT = 200
_started: dict[str, float] = {}


def last_runs_key(queue_name: str) -> str:
    return f"{queue_name}:last-runs"


def failed_key(queue_name: str) -> str:
    return f"{queue_name}:failed"


@huey.on_startup()
def _serve_metrics() -> None:
    """In a container of its own the worker serves its metrics on LOYALTY_METRICS_PORT (see app.monitoring.metrics)."""
    start_process_exporter()


@huey.pre_execute()
def _note_start(task: Task) -> None:
    _started[task.id] = time.monotonic()


@huey.post_execute()
def _note_outcome(task: Task, _value: Any, exc: BaseException | None) -> None:
    seconds = time.monotonic() - _started.pop(task.id, time.monotonic())
    final = not task.retries
    outcome = "complete" if exc is None else ("error" if final else "retrying")
    record_task(task.name, outcome, seconds)
    at = datetime.now(timezone.utc).isoformat()
    run = {"at": at, "outcome": outcome, "duration_s": round(seconds, 3), "periodic": isinstance(task, PeriodicTask)}
    if exc is not None:
        run["error"] = f"{type(exc).__name__}: {exc}"[:500]
    conn = huey.storage.conn
    conn.hset(last_runs_key(huey.name), task.name, json.dumps(run))
    if exc is not None and final:
        failed = {
            "id": task.id,
            "task": task.name,
            "at": at,
            "error": run["error"],
            # Huey's own message, so a retry enqueues exactly what failed (arguments are ids, never secrets).
            "message": base64.b64encode(huey.serialize_task(task)).decode(),
        }
        pipe = conn.pipeline()
        pipe.lpush(failed_key(huey.name), json.dumps(failed))
        pipe.ltrim(failed_key(huey.name), 0, FAILED_KEPT - 1)
        pipe.execute()
