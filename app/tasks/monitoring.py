"""What the worker tells operators about its tasks (the seed's Flower): last run per task, failures kept for a retry.

Huey's pre/post-execute hooks run in the worker around every task. Each run updates Prometheus counters and, in
Redis (keys in app.tasks.records), one hash field per task name (its last run) and, for a run that failed with no
retry left, an entry in a capped list holding Huey's serialized message, so `/monitoring/tasks` can list it and
enqueue it again. At start the worker also records which periodic tasks it runs.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from datetime import datetime, timezone
from typing import Any

from huey.api import PeriodicTask, Task

from app.config import load_settings
from app.monitoring.logs import configure_logging
from app.monitoring.metrics import record_task, start_process_exporter
from app.tasks.queue import huey
from app.tasks.records import failed_key, last_runs_key, periodic_key

FAILED_KEPT = 200
_started: dict[str, float] = {}
_settings = load_settings()
_namespace = _settings.redis_namespace


@huey.on_startup()
def announce_tasks() -> None:
    """Record the periodic tasks; log through the app's handler (JSON in production) instead of the consumer's own,
    so each line is written once; in a container of its own, serve metrics on LOYALTY_METRICS_PORT."""
    huey_logger = logging.getLogger("huey")
    for handler in [h for h in huey_logger.handlers if not getattr(h, "loyalty", False)]:
        huey_logger.removeHandler(handler)
    configure_logging(_settings.log_format)
    names = [task.__name__ for task in huey._registry._periodic_tasks]
    pipe = huey.storage.conn.pipeline()
    pipe.delete(periodic_key(_namespace))
    if names:
        pipe.sadd(periodic_key(_namespace), *names)
    pipe.execute()
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
    conn.hset(last_runs_key(_namespace), task.name, json.dumps(run))
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
        pipe.lpush(failed_key(_namespace), json.dumps(failed))
        pipe.ltrim(failed_key(_namespace), 0, FAILED_KEPT - 1)
        pipe.execute()
