"""One Flask app per worker process, built on first use; each task body runs in its app context."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


@cache
def worker_app() -> Flask:
    from app import create_app

    return create_app()


@contextmanager
def app_context() -> Iterator[None]:
    with worker_app().app_context():
        yield
