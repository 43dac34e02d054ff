"""Unbound singletons, each bound to an app by init_app (the app-factory pattern)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import psycopg
import redis
from flask_sqlalchemy import SQLAlchemy
from psycopg_pool import ConnectionPool, PoolTimeout
from sqlalchemy.engine import make_url

from app.models import Base

if TYPE_CHECKING:
    from flask import Flask

# Models stay on a plain DeclarativeBase so app.loyalty never imports Flask; Flask-SQLAlchemy adopts their metadata.
db = SQLAlchemy(metadata=Base.metadata)


class RedisHolder:
    """The app's Redis client and key namespace, bound at start-up."""

    def __init__(self) -> None:
        self._client: redis.Redis | None = None
        self.namespace = "loyalty"

    def init_app(self, app: Flask) -> None:
        settings = app.config["SETTINGS"]
        self._client = redis.Redis.from_url(
            app.config["REDIS_URL"], socket_timeout=10, socket_connect_timeout=5, health_check_interval=30
        )
        self.namespace = settings.redis_namespace
        app.extensions["loyalty_redis"] = self

    @property
    def client(self) -> redis.Redis:
        if self._client is None:
            raise RuntimeError("Redis is not bound: call create_app() first")
        return self._client

    def key(self, *parts: str) -> str:
        """A namespaced key, e.g. key("events") -> "loyalty:events"."""
        return ":".join((self.namespace, *parts))


redis_store = RedisHolder()

T = TypeVar("T")


class InboxUnavailable(Exception):
    """The inbox could not be written (PostgreSQL down, or every pooled connection busy past the timeout)."""


class InboxPool:
    """psycopg's pool of autocommit connections for POST /webhooks: its one INSERT skips SQLAlchemy's per-statement
    work and the ping round trip the engine's pool makes on every checkout (a dead connection is retried instead).

    Opened on first use, in the process that uses it: gunicorn forks its workers after importing the app, and a pool's
    connections and threads must not cross a fork.
    """

    # A gunicorn worker runs a few threads (Procfile: 4); more connections would only wait on the GIL.
    MAX_SIZE = 8
    # Shopify waits 5 s for an answer: a request that cannot get a connection well before that answers 503.
    TIMEOUT_S = 3.0

    def __init__(self) -> None:
        self._connect_args: dict[str, object] = {}
        self._pool: ConnectionPool | None = None
        self._lock = threading.Lock()

    def init_app(self, app: Flask) -> None:
        url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
        _args, connect_args = url.get_dialect()().create_connect_args(url)
        self.close()
        self._connect_args = {**connect_args, **app.config["SETTINGS"].database_connect_args, "autocommit": True}
        app.extensions["loyalty_inbox_pool"] = self

    def run(self, work: Callable[[psycopg.Connection], T]) -> T:
        """Run `work` on a pooled connection. A connection that died since its last use (a database restart) is
        thrown away by the pool and `work` runs once more on a fresh one: it is one idempotent INSERT."""
        try:
            return self._run_once(work)
        except PoolTimeout as exc:  # waiting longer would miss Shopify's deadline anyway
            raise InboxUnavailable(str(exc)) from exc
        except psycopg.OperationalError:
            try:
                return self._run_once(work)
            except psycopg.OperationalError as exc:
                raise InboxUnavailable(str(exc)) from exc

    def _run_once(self, work: Callable[[psycopg.Connection], T]) -> T:
        with self._opened().connection(timeout=self.TIMEOUT_S) as connection:
            return work(connection)

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None

    def _opened(self) -> ConnectionPool:
        pool = self._pool
        if pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = ConnectionPool(
                        kwargs=self._connect_args, min_size=1, max_size=self.MAX_SIZE, open=True, name="inbox"
                    )
                pool = self._pool
        return pool


inbox_pool = InboxPool()
