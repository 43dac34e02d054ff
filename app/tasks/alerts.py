"""Every minute: evaluate the alert thresholds and open or close alert episodes (app.monitoring.alerts); every hour:
the ledger drift check on a sample of shops (app.monitoring.drift), which feeds the `ledger_drift` alert."""

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
    from app.monitoring import drift
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
        latest_drift = drift.latest(redis_store.client, redis_store.namespace)
        notify = operator_notifier(current_app.config["SETTINGS"].operator_webhook_url)
        update_episodes(
            redis_store.client,
            redis_store.namespace,
            firing({"system": system, "streams": streams, "drift": latest_drift}),
            now=now,
            notify=notify,
        )


@huey.periodic_task(crontab(minute="17"))
@huey.lock_task("check-ledger-drift")
def check_ledger_drift() -> None:
    """Hourly: compare stored balances with their ledgers on a sample of shops; the next alert check reports it."""
    from app.extensions import db, redis_store
    from app.monitoring import drift

    with app_context():
        try:
            report = drift.check_sample(db.session, now=datetime.now(timezone.utc))
        finally:
            db.session.rollback()
        drift.record(redis_store.client, redis_store.namespace, report)
