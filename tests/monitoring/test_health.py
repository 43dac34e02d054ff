"""GET /monitoring/health reports each part; 503 only when the database or Redis is down."""

from __future__ import annotations

from app.events.consumer import heartbeat_key
from app.tasks.heartbeat import WORKER_HEARTBEAT
from tests.helpers import migration_head


def test_without_consumer_or_worker_the_app_is_degraded(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/monitoring/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "degraded"
    assert body["components"]["database"] == {"status": "ok", "migration": migration_head()}
    assert body["components"]["redis"]["status"] == "ok"
    assert body["components"]["stream_consumer"]["status"] == "down"
    assert body["components"]["worker"]["status"] == "down"


def test_with_a_live_consumer_and_worker_all_is_ok(client, redis_client, redis_namespace) -> None:  # type: ignore[no-untyped-def]
    redis_client.set(heartbeat_key(redis_namespace, "c1"), "now", ex=30)
    redis_client.set(f"{redis_namespace}:{WORKER_HEARTBEAT}:w1", "now", ex=30)
    body = client.get("/monitoring/health").get_json()
    assert body["status"] == "ok"
    assert body["components"]["stream_consumer"]["consumers_alive"] == 1
    assert body["components"]["worker"]["workers_alive"] == 1


def test_redis_down_is_503(app, client) -> None:  # type: ignore[no-untyped-def]
    import redis

    from app.extensions import redis_store

    healthy = redis_store._client
    redis_store._client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    try:
        response = client.get("/monitoring/health")
    finally:
        redis_store._client = healthy
    assert response.status_code == 503
    assert response.get_json()["components"]["redis"]["status"] == "down"
