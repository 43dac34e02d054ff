"""The one owner of `huey`: `huey_consumer app.tasks.huey` (the Procfile's `worker`) imports every task from here.

Huey is a trigger, never a system of record (reliability.md §3): tasks re-read their work from PostgreSQL and are
safe to run twice, so a task lost to a killed worker only waits for the next sweep.

`huey` is built on first access, not at import: the web process imports `app.tasks.heartbeat` for the health page,
and that must not connect to (or, in development, start) Redis.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from app import PROJECT_ROOT
from app.config import load_settings

if TYPE_CHECKING:
    from huey import PriorityRedisHuey

    huey: PriorityRedisHuey


def _build() -> PriorityRedisHuey:
    from huey import PriorityRedisHuey

    settings = load_settings()
    url = settings.redis_url
    if url is None:
        from app.embedded import ensure_redis

        url = ensure_redis(Path(settings.instance_path or PROJECT_ROOT / "instance"))
    return PriorityRedisHuey(f"{settings.redis_namespace}:tasks", url=url, results=False)


def __getattr__(name: str) -> Any:
    if name != "huey":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    instance = _build()
    globals()["huey"] = instance
    from app.tasks import sweeps  # noqa: F401  (registers the tasks with `huey`)

    return instance
