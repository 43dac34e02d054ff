"""GET /monitoring/health: JSON with the state of each part; 503 when the database or Redis is down."""

from __future__ import annotations

from flask import Blueprint, jsonify
from werkzeug.wrappers import Response

from app.extensions import db, redis_store
from app.monitoring.health import check_database, check_redis, check_stream, check_worker

bp = Blueprint("monitoring", __name__, url_prefix="/monitoring")


@bp.get("/health")
def health() -> tuple[Response, int]:
    client, namespace = redis_store.client, redis_store.namespace
    components = {
        "database": check_database(db.session),
        "redis": check_redis(client),
        "stream_consumer": check_stream(client, namespace),
        "worker": check_worker(client, namespace),
    }
    essential_up = components["database"]["status"] == "ok" and components["redis"]["status"] == "ok"
    everything_up = all(part["status"] == "ok" for part in components.values())
    status = "ok" if everything_up else ("degraded" if essential_up else "down")
    return jsonify(status=status, components=components), 200 if essential_up else 503
