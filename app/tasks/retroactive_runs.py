"""The retroactive runs of "Go live", run by the worker: a rule applied for real to a range of past events, a chunk per
transaction (each commits its credits with the run's cursor and totals, so the admin's progress bar moves and a run
that stops resumes where it stopped), and their undos the same way. The work is `app.loyalty.rulebook.retroactive`."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone

from huey import crontab

from app.tasks.context import app_context
from app.tasks.queue import huey

log = logging.getLogger(__name__)


@huey.task()
def run_retroactive(run_id: str) -> None:
    """Take a queued retroactive run, or an undo asked for, to its end; a second delivery, or a run another worker is
    on, does nothing."""
    from app.extensions import db
    from app.loyalty import rulebook

    with app_context():
        key, owner = uuid.UUID(run_id), uuid.uuid4()
        with db.session.begin():
            if not rulebook.claim_retroactive_run(db.session, run_id=key, owner=owner, now=_now()):
                return
        try:
            rulebook.finish_retroactive_run(db.session, run_id=key, owner=owner, clock=_now)
        except Exception:  # noqa: BLE001 - marked failed with why (the merchant sees it); the traceback goes to the log
            log.exception("retroactive run %s failed", run_id)


@huey.periodic_task(crontab(minute="*/5"))
def resume_stalled_retroactive_runs() -> None:
    """Every five minutes: a run whose worker stopped mid-run (a deploy, a kill), or whose task was lost, is handed to
    a worker again; it goes on after its last committed chunk, and its credits' keys keep any event from paying
    twice."""
    from app.extensions import db
    from app.loyalty import rulebook

    with app_context():
        with db.session.begin():
            stalled = rulebook.stalled_retroactive_runs(db.session, now=_now())
        for run_id in stalled:
            log.warning("resuming stalled retroactive run %s", run_id)
            run_retroactive(str(run_id))


def _now() -> datetime:
    return datetime.now(timezone.utc)
