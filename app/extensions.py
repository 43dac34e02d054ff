"""Unbound singletons, each bound to an app by init_app (the app-factory pattern)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import redis
from flask_sqlalchemy import SQLAlchemy

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
