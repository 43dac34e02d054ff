"""GET /monitoring/health (open), and behind the monitoring token: stream-info, system-metrics, metrics, tasks."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, jsonify, render_template, request
from werkzeug.wrappers import Response

from app.extensions import db, redis_store
from app.monitoring.access import monitoring_access_required
from app.monitoring.alerts import active_alerts
from app.monitoring.gauges import LiveStateCollector, live_state
from app.monitoring.health import check_database, check_redis, check_stream, check_worker
from app.monitoring.metrics import exposition
from app.monitoring.stream_info import stream_info, totals
from app.monitoring.system_metrics import pool_use, system_metrics
from app.monitoring.tasks import UnknownFailedTask, UnreadableFailedTask, retry_failed_task, task_overview
from app.rules.values import is_ascii_digits

bp = Blueprint("monitoring", __name__, url_prefix="/monitoring")

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MIN_WINDOW_S, MAX_WINDOW_S = 60, 86_400


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


@bp.get("/stream-info")
@monitoring_access_required
def stream_info_view() -> Response:
    report = stream_info(redis_store.client, redis_store.namespace)
    return jsonify(totals=totals(report), **report)


@bp.get("/system-metrics")
@monitoring_access_required
def system_metrics_view() -> tuple[Response, int] | Response:
    raw = request.args.get("window", "300")
    if not is_ascii_digits(raw) or not MIN_WINDOW_S <= int(raw) <= MAX_WINDOW_S:
        message = f"window must be a number of seconds from {MIN_WINDOW_S} to {MAX_WINDOW_S}; got {raw!r}"
        return jsonify(error="bad_request", message=message), 400
    now = datetime.now(timezone.utc)
    try:
        figures = system_metrics(db.session, now=now, window_s=int(raw))
    finally:
        db.session.rollback()
    return jsonify(
        **figures,
        tasks=task_overview(redis_store.client, redis_store.namespace),
        database_pool=pool_use(db.engine),
        alerts=active_alerts(redis_store.client, redis_store.namespace),
    )


@bp.get("/metrics")
@monitoring_access_required
def metrics() -> Response:
    def read_state() -> dict[str, Any]:
        return live_state(
            client=redis_store.client,
            namespace=redis_store.namespace,
            session=db.session,
            engine=db.engine,
        )

    return Response(exposition(LiveStateCollector(read_state)), content_type=PROMETHEUS_CONTENT_TYPE)


@bp.get("/tasks")
@monitoring_access_required
def tasks() -> Response | str:
    overview = task_overview(redis_store.client, redis_store.namespace)
    if request.accept_mimetypes.best == "application/json":
        return jsonify(overview)
    # The retry buttons repeat the operator's own Authorization header (htmx cannot read it from the page load).
    authorization = request.headers.get("Authorization")
    return render_template("monitoring/tasks.html", overview=overview, authorization=authorization)


@bp.post("/tasks/failed/<task_id>/retry")
@monitoring_access_required
def retry_task(task_id: str) -> tuple[Response, int]:
    try:
        name = retry_failed_task(redis_store.client, redis_store.namespace, task_id)
    except UnknownFailedTask as exc:
        return jsonify(error="not_found", message=str(exc)), 404
    except UnreadableFailedTask as exc:
        return jsonify(error="unreadable", message=str(exc)), 422
    return jsonify(retried=task_id, task=name), 202
