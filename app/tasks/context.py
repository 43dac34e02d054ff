"""One Flask app per worker process, built on first use; every task body runs in its app context.

The context is pushed by a Huey hook around each task, not by the task modules: the web imports a task module to
enqueue it, and a task module that imported the app factory would close an import cycle (the factory imports the
web). `app_context()` stays for task bodies that open their context themselves.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any

from app.tasks.queue import huey

if TYPE_CHECKING:
    from flask import Flask

_pushed = threading.local()  # the contexts this worker thread pushed, innermost last


@cache
def worker_app() -> Flask:
    from app import create_app

    return create_app()


@contextmanager
def app_context() -> Iterator[None]:
    with worker_app().app_context():
        yield


@huey.pre_execute()
def enter_app_context(task: Any) -> None:
    """Push the worker app's context before a task runs."""
    context = worker_app().app_context()
    context.push()
    _pushed.contexts = [*getattr(_pushed, "contexts", []), context]


@huey.post_execute()
def leave_app_context(task: Any, task_value: Any, exception: Exception | None) -> None:
    """Pop it once the task has run (or raised)."""
    contexts = getattr(_pushed, "contexts", [])
    if contexts:
        contexts.pop().pop()
