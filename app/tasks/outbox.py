"""Huey tasks that drain the outbox (app/tasks/deliveries.py, which loads the handler of each outward kind) and
confirm redemptions."""

from __future__ import annotations

from datetime import datetime, timezone
from functools import cache

from huey import crontab
from sqlalchemy.orm import sessionmaker

from app.tasks import discount_codes
from app.tasks.context import app_context, worker_app
from app.tasks.deliveries import Outward, drain
from app.tasks.queue import huey


@cache
def outward() -> Outward:
    """The worker's handler context: its own sessions, the app's Admin API client and settings."""
    from app.extensions import db
    from app.shopify.context import admin_api

    app = worker_app()
    with app.app_context():
        return Outward(
            sessions=sessionmaker(db.engine, expire_on_commit=False),
            api=admin_api(app),
            settings=app.config["SETTINGS"],
            clock=lambda: datetime.now(timezone.utc),
        )


@huey.periodic_task(crontab(minute="*"))
def deliver_due_outbox() -> None:
    """Every minute: whatever is due for every installed shop (rows re-read from PostgreSQL; safe to run twice)."""
    with app_context():
        drain(outward())


# Ahead of backtests and sweeps in the queue: a shopper is waiting at checkout for the code.
@huey.task(priority=10)
def deliver_outbox(shop_id: int) -> None:
    """At once, for one shop: enqueued (app/tasks/wake.py) after a commit that staged work a shopper is waiting for
    (a redemption)."""
    with app_context():
        drain(outward(), shop_id=shop_id)


@huey.periodic_task(crontab(minute="*"))
def confirm_redemptions() -> None:
    """Every minute: redemptions Shopify never confirmed in time fail and give their points back."""
    with app_context():
        discount_codes.confirm_overdue(outward())
