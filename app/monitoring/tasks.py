"""The read side of Huey task monitoring: periodic tasks with their last run, the queue, failed tasks, a retry.

Reads what the worker records (app.tasks.monitoring) and Huey's queue through Huey's own storage class on the app's
Redis connection: no Huey instance, so the web process never loads the task modules.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import redis
from huey.storage import PriorityRedisStorage

from app.tasks.records import failed_key, last_runs_key, periodic_key, queue_name


class UnknownFailedTask(LookupError):
    """No kept failure has this task id (already retried, or trimmed from the list)."""


class UnreadableFailedTask(ValueError):
    """The kept failure's message is not Huey's base64 message: it cannot be enqueued, so it stays listed."""


def queue_storage(client: redis.Redis, namespace: str) -> PriorityRedisStorage:
    """The worker's queue, as Huey's storage class sees it."""
    return PriorityRedisStorage(queue_name(namespace), connection_pool=client.connection_pool)


def task_overview(client: redis.Redis, namespace: str) -> dict[str, Any]:
    """Periodic tasks with their last run, every other task that ran, queue depth and kept failures."""
    runs = {name.decode(): json.loads(value) for name, value in client.hgetall(last_runs_key(namespace)).items()}
    periodic_names = sorted(name.decode() for name in client.smembers(periodic_key(namespace)))
    storage = queue_storage(client, namespace)
    return {
        "queued": storage.queue_size(),
        "scheduled": storage.schedule_size(),
        "periodic": [{"task": name, "last_run": runs.get(name)} for name in periodic_names],
        "other_tasks": [
            {"task": name, "last_run": run} for name, run in sorted(runs.items()) if name not in periodic_names
        ],
        "failed": failed_tasks(client, namespace),
    }


def failed_tasks(client: redis.Redis, namespace: str) -> list[dict[str, Any]]:
    """Kept failures, newest first, without the serialized message."""
    entries = [json.loads(raw) for raw in client.lrange(failed_key(namespace), 0, -1)]
    return [{key: value for key, value in entry.items() if key != "message"} for entry in entries]


def retry_failed_task(client: redis.Redis, namespace: str, task_id: str) -> str:
    """Enqueue the failed task again, exactly as it failed, and drop it from the list; its name.

    Raises UnknownFailedTask when no kept failure has this id (a second click finds it gone: no double enqueue,
    since LREM removes the entry only once).
    """
    for raw in client.lrange(failed_key(namespace), 0, -1):
        entry = json.loads(raw)
        if entry["id"] != task_id:
            continue
        # Read before the entry leaves the list: a message that cannot be enqueued must not be dropped with it.
        try:
            message = base64.b64decode(entry.get("message") or "", validate=True)
        except (binascii.Error, TypeError) as exc:
            raise UnreadableFailedTask(
                f"failed task {task_id!r} cannot be retried: its kept message is unreadable"
            ) from exc
        if not message:
            raise UnreadableFailedTask(f"failed task {task_id!r} cannot be retried: it kept no message")
        if client.lrem(failed_key(namespace), 1, raw) != 1:
            break  # another click took it first
        queue_storage(client, namespace).enqueue(message)
        return str(entry["task"])
    raise UnknownFailedTask(f"no failed task {task_id!r} is kept: it was retried already or is too old")
