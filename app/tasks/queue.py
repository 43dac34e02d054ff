"""The Huey instance, built on first access rather than at import.

The web process imports `app.tasks.heartbeat` for the health page, and that must not connect to (or, in development,
start) Redis; only a module that really enqueues or runs tasks touches `queue.huey`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.config import load_settings
from app.paths import PROJECT_ROOT
from app.tasks.records import queue_name

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
    return PriorityRedisHuey(queue_name(settings.redis_namespace), url=url, results=False)


def __getattr__(name: str) -> Any:
    if name != "huey":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    instance = _build()
    globals()["huey"] = instance
    return instance
