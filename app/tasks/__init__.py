"""Huey tasks: `huey_consumer app.tasks.huey` (the Procfile's `worker`) gets the instance with every task registered.

Huey is a trigger, never a system of record (reliability.md §3): tasks re-read their work from PostgreSQL and are
safe to run twice, so a task lost to a killed worker only waits for the next sweep. The instance itself lives in
`app.tasks.queue` and is built on first access, so importing this package connects to nothing. Loading it here also
binds the worker's app factory (app/tasks/context.py).
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name != "huey":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from app import create_app
    from app.tasks import alerts, backtests, monitoring, outbound_webhooks, outbox, retroactive_runs, sweeps  # noqa: F401  (registers them)
    from app.tasks.context import bind_app_factory
    from app.tasks.queue import huey

    bind_app_factory(create_app)

    return huey
