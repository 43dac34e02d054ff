"""Periodic sweeps over PostgreSQL state; each is idempotent and takes an advisory lock so overlaps are harmless."""

from __future__ import annotations

import os
import socket
from datetime import datetime, timezone

from huey import crontab
from sqlalchemy import select, text

from app.tasks import huey
from app.tasks.context import app_context
from app.tasks.heartbeat import HEARTBEAT_TTL_S, WORKER_HEARTBEAT


def _beat() -> None:
    from app.extensions import redis_store

    with app_context():
        key = redis_store.key(WORKER_HEARTBEAT, f"{socket.gethostname()}-{os.getpid()}")
        redis_store.client.set(key, datetime.now(timezone.utc).isoformat(), ex=HEARTBEAT_TTL_S)


@huey.on_startup()
def announce_worker() -> None:
    _beat()


@huey.periodic_task(crontab(minute="*"))
def worker_heartbeat() -> None:
    """Tell /monitoring/health this worker is alive (periodic tasks run at most once a minute)."""
    _beat()


@huey.periodic_task(crontab(minute="*/5"), retries=2, retry_delay=30)
def release_and_expire_points() -> None:
    """Release pending points whose return window passed and expire due lots, shop by shop."""
    from app.extensions import db
    from app.loyalty import expiry, pending
    from app.models import Shop

    with app_context():
        now = datetime.now(timezone.utc)
        shop_ids = db.session.execute(select(Shop.id).where(Shop.uninstalled_at.is_(None))).scalars().all()
        db.session.rollback()  # end the read so each shop gets its own transaction below
        for shop_id in shop_ids:
            with db.session.begin():
                # Transaction-scoped: released at commit, and never orphaned by a killed worker.
                if not db.session.execute(
                    text("SELECT pg_try_advisory_xact_lock(hashtext('points-sweep'), :shop)"), {"shop": shop_id}
                ).scalar_one():
                    continue
                pending.release_due(db.session, shop_id=shop_id, now=now)
                expiry.expire_due(db.session, shop_id=shop_id, now=now)
