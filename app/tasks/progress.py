"""How far a long task got, for the admin's progress bars: a small JSON value in Redis per shop and job.

Kept apart from the Huey instance (like heartbeat.py) so the web process reads it without loading Huey. Progress
is a note, never a record: it expires after a day, and losing it only hides the bar.
"""

from __future__ import annotations

import json
from typing import Any

from app.extensions import redis_store

TIER_RECALCULATION = "tier-recalculation"
TTL_S = 24 * 3600


def _key(shop_id: int, job: str) -> str:
    return redis_store.key("progress", job, str(shop_id))


def start(shop_id: int, job: str, *, total: int) -> None:
    """A job was enqueued that will examine `total` items."""
    _write(shop_id, job, {"done": 0, "total": total, "finished": False})


def advance(shop_id: int, job: str, done: int) -> None:
    current = read(shop_id, job) or {"total": done}
    _write(shop_id, job, {"done": done, "total": max(int(current["total"]), done), "finished": False})


def finish(shop_id: int, job: str) -> None:
    current = read(shop_id, job) or {"total": 0}
    _write(shop_id, job, {"done": current["total"], "total": current["total"], "finished": True})


def read(shop_id: int, job: str) -> dict[str, Any] | None:
    raw = redis_store.client.get(_key(shop_id, job))
    return json.loads(raw) if raw else None


def _write(shop_id: int, job: str, value: dict[str, Any]) -> None:
    redis_store.client.set(_key(shop_id, job), json.dumps(value), ex=TTL_S)
