"""Every minute: evaluate the seed's alert thresholds and open or close alert episodes (app.monitoring.alerts)."""

from __future__ import annotations

from datetime import datetime, timezone

from huey import crontab

from app.tasks.context import app_context
from app.tasks.queue import huey


@huey.periodic_task(crontab(minute="*"))
@huey.lock_task("check-alerts")
def check_alerts() -> None:
    """Open an episode for each threshold crossed, close recovered ones; the operator is told once per change."""
    from flask import current_app

    from app.extensions import db, redis_store
    from app.monitoring.alerts import firing, operator_notifier, update_episodes
    from app.monitoring.stream_info import stream_info, totals
    from app.monitoring.system_metrics import system_metrics

    with app_context():
        now = datetime.now(timezone.utc)
        try:
            system = system_metrics(db.session, now=now, window_s=300)
        finally:
            db.session.rollback()
        streams = totals(stream_info(redis_store.client, redis_store.namespace))
        notify = operator_notifier(current_app.config["SETTINGS"].operator_webhook_url)
        update_episodes(
            redis_store.client,
            redis_store.namespace,
            firing({"system": system, "streams": streams}),
            now=now,
            notify=notify,
        )
