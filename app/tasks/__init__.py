"""The one owner of `huey`: `huey_consumer app.tasks.huey` (the Procfile's `worker`) imports every task from here.

Huey is a trigger, never a system of record (reliability.md §3): tasks re-read their work from PostgreSQL and are
safe to run twice, so a task lost to a killed worker only waits for the next sweep.
"""

from __future__ import annotations

from pathlib import Path

from huey import PriorityRedisHuey

from app import PROJECT_ROOT
from app.config import load_settings


def _redis_url() -> str:
    settings = load_settings()
    if settings.redis_url:
        return settings.redis_url
    from app.embedded import ensure_redis

    return ensure_redis(Path(settings.instance_path or PROJECT_ROOT / "instance"))


_settings = load_settings()
huey = PriorityRedisHuey(f"{_settings.redis_namespace}:tasks", url=_redis_url(), results=False)

from app.tasks import sweeps  # noqa: E402,F401  (registers the tasks with `huey`)
