"""The builder's backtests, run by the worker: replay the shop's stored events through a draft, report progress as it
goes (the admin polls it), stop when the merchant cancels, keep the result. The work is `app.loyalty.rulebook`."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone

from huey import crontab

from app.tasks.context import app_context
from app.tasks.queue import huey

log = logging.getLogger(__name__)

# How often a run reports its progress (and notices a cancel): often enough for a smooth bar, rarely enough that the
# reports cost little next to the replay.
PROGRESS_EVERY = 1_000


@huey.task()
def run_backtest(run_id: str) -> None:
    """Run a queued backtest once (a second delivery finds it claimed and does nothing)."""
    from sqlalchemy.orm import Session

    from app.extensions import db
    from app.loyalty import rulebook
    from app.models import Shop

    with app_context():
        key = uuid.UUID(run_id)
        with db.session.begin():
            run = rulebook.claim_backtest(db.session, run_id=key, now=datetime.now(timezone.utc))
            if run is None:
                return
            shop_id, definition, start, end = run.shop_id, run.definition, run.starts_at, run.ends_at

        def progress(done: int, total: int) -> None:
            with Session(db.engine) as reporter, reporter.begin():
                rulebook.record_progress(reporter, run_id=key, done=done, total=total, now=datetime.now(timezone.utc))

        status, result, error = "done", None, None
        try:
            shop = db.session.get(Shop, shop_id)
            result = rulebook.backtest(
                db.session,
                shop=shop,
                drafts=[definition],
                start=start,
                end=end,
                progress=progress,
                progress_every=PROGRESS_EVERY,
            )
        except rulebook.BacktestCancelled:
            status = "cancelled"
        except Exception as exc:  # noqa: BLE001 - the merchant sees why the run failed instead of a bar that stops
            log.exception("backtest %s failed", run_id)
            status, error = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            db.session.rollback()  # the replay only read
        with db.session.begin():
            rulebook.finish_backtest(
                db.session, run_id=key, status=status, now=datetime.now(timezone.utc), result=result, error=error
            )


@huey.periodic_task(crontab(minute="*/5"))
def fail_stalled_backtests() -> None:
    """Every five minutes: runs whose worker died mid-replay are marked failed, so no progress bar waits forever."""
    from app.extensions import db
    from app.loyalty import rulebook

    with app_context():
        with db.session.begin():
            stalled = rulebook.fail_stalled_backtests(db.session, now=datetime.now(timezone.utc))
        if stalled:
            log.warning("marked %d stalled backtest(s) failed", stalled)
