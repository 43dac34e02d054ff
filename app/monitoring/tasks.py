"""The read side of Huey task monitoring: periodic tasks with their last run, the queue, failed tasks, a retry."""

from __future__ import annotations

import base64
import json
from typing import Any

from huey.api import Huey

from app.tasks.monitoring import failed_key, last_runs_key


class UnknownFailedTask(LookupError):
    """No kept failure has this task id (already retried, or trimmed from the list)."""


def task_overview(huey: Huey) -> dict[str, Any]:
    """Periodic tasks with their schedule's last run, every other task that ran, queue depth and kept failures."""
    conn = huey.storage.conn
    runs = {name.decode(): json.loads(value) for name, value in conn.hgetall(last_runs_key(huey.name)).items()}
    periodic_names = sorted(task.__name__ for task in huey._registry._periodic_tasks)  # a Task run's name
    periodic = [{"task": name, "last_run": runs.get(name)} for name in periodic_names]
    others = [{"task": name, "last_run": run} for name, run in sorted(runs.items()) if name not in periodic_names]
    return {
        "queued": huey.pending_count(),
        "scheduled": huey.scheduled_count(),
        "periodic": periodic,
        "other_tasks": others,
        "failed": failed_tasks(huey),
    }


def failed_tasks(huey: Huey) -> list[dict[str, Any]]:
    """Kept failures, newest first, without the serialized message."""
    entries = [json.loads(raw) for raw in huey.storage.conn.lrange(failed_key(huey.name), 0, -1)]
    return [{key: value for key, value in entry.items() if key != "message"} for entry in entries]


def retry_failed_task(huey: Huey, task_id: str) -> str:
    """Enqueue the failed task again, exactly as it failed, and drop it from the list; its name.

    Raises UnknownFailedTask when no kept failure has this id (a second click finds it gone: no double enqueue,
    since LREM removes the entry only once).
    """
    conn = huey.storage.conn
    for raw in conn.lrange(failed_key(huey.name), 0, -1):
        entry = json.loads(raw)
        if entry["id"] != task_id:
            continue
        if conn.lrem(failed_key(huey.name), 1, raw) != 1:
            break  # another click took it first
        huey.enqueue(huey.deserialize_task(base64.b64decode(entry["message"])))
        return str(entry["task"])
    raise UnknownFailedTask(f"no failed task {task_id!r} is kept: it was retried already or is too old")
