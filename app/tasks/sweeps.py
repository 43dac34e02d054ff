"""Periodic and on-demand Huey tasks over PostgreSQL state; the work itself is `app.loyalty.processing.sweeps`."""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime, timedelta, timezone

from huey import crontab
from sqlalchemy import select

from app.tasks.context import app_context
from app.tasks.heartbeat import HEARTBEAT_TTL_S, WORKER_HEARTBEAT
from app.tasks.queue import huey

log = logging.getLogger(__name__)
# Inbox rows archive_inbox moves per transaction.
ARCHIVE_CHUNK = 5000


class SweepFailed(Exception):
    """Some shops' sweeps raised; every other shop was swept. Huey retries the task (sweeps are idempotent)."""

    def __init__(self, shop_ids: list[int]) -> None:
        super().__init__(f"the sweep failed for shop(s) {', '.join(map(str, shop_ids))}")
        self.shop_ids = shop_ids


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
def sweep_all_shops() -> None:
    """Everything due as of now, shop by shop, each in its own transaction."""
    from app.extensions import db
    from app.loyalty.processing.sweeps import sweep_shop
    from app.models import Shop

    with app_context():
        now = datetime.now(timezone.utc)
        shop_ids = db.session.execute(select(Shop.id).where(Shop.uninstalled_at.is_(None))).scalars().all()
        db.session.rollback()  # end the read so each shop gets its own transaction below
        failed: list[int] = []
        for shop_id in shop_ids:
            try:
                with db.session.begin():
                    sweep_shop(db.session, shop_id=shop_id, now=now)
            except Exception:  # noqa: BLE001 - one shop's failure must not hold back the shops after it
                log.exception("sweep of shop %s failed; the other shops are still swept", shop_id)
                failed.append(shop_id)
        if failed:
            raise SweepFailed(failed)


@huey.periodic_task(crontab(minute="17"), retries=2, retry_delay=60)
def archive_inbox() -> None:
    """Move processed inbox rows older than LOYALTY_INBOX_ARCHIVE_AFTER_DAYS to event_queue_archive, a chunk per
    transaction so no lock is held for long (app.events.inbox.archive_processed)."""
    from flask import current_app

    from app.events.inbox import archive_processed
    from app.extensions import db

    with app_context():
        days = current_app.config["SETTINGS"].inbox_archive_after_days
        cutoff = datetime.now(timezone.utc) - timedelta(days=days)
        moved = chunk = ARCHIVE_CHUNK
        total = 0
        while moved == chunk:
            with db.session.begin():
                moved = archive_processed(db.session, older_than=cutoff, limit=chunk)
            total += moved
        if total:
            log.info("archived %d inbox rows processed before %s", total, cutoff.isoformat())


@huey.task(retries=3, retry_delay=30, retry_backoff=2)
def recalculate_tiers(shop_id: int) -> None:
    """Recalculate every member's tier after the shop's ladder changed; for whoever saves a ladder to enqueue.

    Reports how far it got (app.tasks.progress) after each chunk, for the admin's progress bar."""
    from app.extensions import db
    from app.loyalty.processing.sweeps import recalculate_tiers as recalculate
    from app.tasks import progress

    with app_context():
        with db.session.begin():
            recalculate(
                db.session,
                shop_id=shop_id,
                now=datetime.now(timezone.utc),
                progress=lambda examined: progress.advance(shop_id, progress.TIER_RECALCULATION, examined),
            )
        progress.finish(shop_id, progress.TIER_RECALCULATION)
