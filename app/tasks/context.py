"""One Flask app per worker process, built on first use; each task body runs in its app context.

The worker binds the app factory when it loads the Huey instance (`app.tasks.huey`, see app/tasks/__init__.py),
rather than this module importing `app`: the web process imports task modules to enqueue tasks (the admin saving a
tier ladder), and `app` importing them back would be an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

_factory: list[Callable[[], Flask]] = []


def bind_app_factory(factory: Callable[[], Flask]) -> None:
    """Name the function that builds the worker's app (the composition root's create_app)."""
    _factory[:] = [factory]


@cache
def worker_app() -> Flask:
    if not _factory:
        raise RuntimeError("no app factory bound: the worker loads its Huey instance as `app.tasks.huey`")
    return _factory[0]()


@contextmanager
def app_context() -> Iterator[None]:
    with worker_app().app_context():
        yield
