"""The health of each part: database, Redis, stream consumers and Huey workers."""

from __future__ import annotations

from typing import Any

import redis
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.events import stream
from app.tasks.heartbeat import WORKER_HEARTBEAT


def check_database(session: Session) -> dict[str, Any]:
    try:
        revision = session.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()
        return {"status": "ok", "migration": revision}
    except Exception as exc:  # noqa: BLE001 - report any failure, never raise from a health check
        session.rollback()
        return {"status": "down", "error": f"{type(exc).__name__}: {exc}"[:300]}


def check_redis(client: redis.Redis) -> dict[str, Any]:
    try:
        client.ping()
        return {"status": "ok", "version": client.info("server").get("redis_version")}
    except redis.RedisError as exc:
        return {"status": "down", "error": str(exc)[:300]}


def check_stream(client: redis.Redis, namespace: str) -> dict[str, Any]:
    try:
        alive = [key.decode().rsplit(":", 1)[-1] for key in client.scan_iter(match=f"{namespace}:consumers:*")]
        info = stream.group_info(client, stream.StreamKeys.for_namespace(namespace))
    except redis.RedisError as exc:
        return {"status": "down", "error": str(exc)[:300]}
    return {"status": "ok" if alive else "down", "consumers_alive": len(alive), **info}


def check_worker(client: redis.Redis, namespace: str) -> dict[str, Any]:
    try:
        beats = list(client.scan_iter(match=f"{namespace}:{WORKER_HEARTBEAT}:*"))
    except redis.RedisError as exc:
        return {"status": "down", "error": str(exc)[:300]}
    return {"status": "ok" if beats else "down", "workers_alive": len(beats)}
