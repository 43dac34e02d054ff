"""Draining the outbox: the rows the domain staged in the transaction that caused them, delivered by kind.

A small registry: each outward kind has one handler (`@handles("discount_code.create")`). Another kind is added by
writing its handler module and naming it in HANDLER_MODULES; nothing else here changes. A row whose kind has
no handler is never claimed: it stays `pending`, visible and intact, until a handler exists. The rule action's signed
webhook (`rule.webhook`, RULE_WEBHOOK_KIND) and merchants' topic webhooks are handled in app/tasks/outbound_webhooks.py,
GDPR data-request exports (`gdpr.data_request`) in app/tasks/data_requests.py.

Each claim is a lease: the row's `next_attempt_at` moves past the lease and `attempts` grows, committed before any
call to Shopify, so a second worker skips it and a worker that dies mid-call leaves it due again later. Handlers
are idempotent (a re-run after a lost answer finds the earlier result first). A row is marked done only if its
payload is what was claimed: a row re-staged meanwhile (a customer's state changed again) stays pending and due.
An uninstalled shop's rows are not claimed at all: nothing is sent to Shopify for it.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.models import Outbox, Shop
from app.shopify.admin_api import AdminApi, RequestRefused, RetryLater, ShopUnavailable
from app.shopify.tokens import ShopNotConnected

log = logging.getLogger(__name__)

RULE_WEBHOOK_KIND = "rule.webhook"
# How long a claimed row is left alone: longer than any one delivery (the client's retries are bounded well below).
LEASE = timedelta(minutes=5)
# After this many attempts a row that keeps failing is marked failed with its last error, for an operator to see.
MAX_ATTEMPTS = 12
# While a shop has no usable token (it must exchange a new one on its next admin load), look again this much later.
NOT_CONNECTED_DELAY = timedelta(minutes=15)
# While Shopify refuses a shop as frozen (402) or locked (423), its rows of the kind that met the refusal wait this
# long between tries. The state lasts until the owner acts (often days), so such a try does not count toward
# MAX_ATTEMPTS: the rows go out within the hour after the shop is back.
SHOP_UNAVAILABLE_DELAY = timedelta(hours=1)


class DeliveryFailed(Exception):
    """Shopify answered, and the answer is final (refused input, missing scope): the row is marked failed."""


@dataclass(frozen=True)
class OutboxJob:
    id: int
    shop_id: int
    shop_domain: str
    kind: str
    payload: dict[str, Any]
    attempts: int  # including this one


@dataclass(frozen=True)
class Outward:
    """What a handler may use: its own transactions, the Admin API client, settings and the clock."""

    sessions: sessionmaker[Session]
    api: AdminApi
    settings: Settings
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)


Handler = Callable[[OutboxJob, Outward], None]
_HANDLERS: dict[str, Handler] = {}
# The modules whose handlers register themselves with @handles, imported before the first claim.
HANDLER_MODULES = (
    "app.tasks.discount_codes",
    "app.tasks.customer_sync",
    "app.tasks.outbound_webhooks",
    "app.tasks.data_requests",
)


def handles(kind: str) -> Callable[[Handler], Handler]:
    """Register the handler of one outbox kind (one owner per kind)."""

    def register(handler: Handler) -> Handler:
        if kind in _HANDLERS and _HANDLERS[kind] is not handler:
            raise ValueError(f"outbox kind {kind!r} already has a handler: {_HANDLERS[kind].__qualname__}")
        _HANDLERS[kind] = handler
        return handler

    return register


def registered_kinds() -> frozenset[str]:
    for module in HANDLER_MODULES:
        importlib.import_module(module)  # registers its kinds (a no-op once imported)
    return frozenset(_HANDLERS)


@dataclass
class DrainReport:
    done: int = 0
    retried: int = 0
    failed: int = 0
    waiting: int = 0  # for a frozen or locked shop
    errors: list[str] = field(default_factory=list)
    # (shop id, kind) -> (until, reason): Shopify refused the shop for this kind during this drain.
    unavailable: dict[tuple[int, str], tuple[datetime, str]] = field(default_factory=dict)


def drain(outward: Outward, *, shop_id: int | None = None, limit: int = 200) -> DrainReport:
    """Deliver every due row of a registered kind (of one shop, or all installed shops), each on its own."""
    report = DrainReport()
    for job in claim(outward.sessions, now=outward.clock(), shop_id=shop_id, limit=limit):
        held = report.unavailable.get((job.shop_id, job.kind))
        if held is None:
            deliver(outward, job, report)
        else:  # Shopify refused this shop a moment ago: no call, the row waits with the others
            _wait_for_shop(outward, job, *held, report)
    return report


def claim(
    sessions: sessionmaker[Session], *, now: datetime, shop_id: int | None = None, limit: int = 200
) -> list[OutboxJob]:
    """Lease up to `limit` due rows of registered kinds of installed shops (skipping rows other workers hold)."""
    kinds = registered_kinds()
    if not kinds:
        return []
    with sessions.begin() as session:
        query = (
            select(Outbox.id, Outbox.shop_id, Shop.domain, Outbox.kind, Outbox.payload, Outbox.attempts)
            .join(Shop, Shop.id == Outbox.shop_id)
            .where(
                Outbox.status == "pending",
                Outbox.next_attempt_at <= now,
                Outbox.kind.in_(kinds),
                Shop.installed_at.is_not(None),
                Shop.uninstalled_at.is_(None),
            )
            .order_by(Outbox.next_attempt_at, Outbox.id)
            .limit(limit)
            .with_for_update(of=Outbox, skip_locked=True)
        )
        if shop_id is not None:
            query = query.where(Outbox.shop_id == shop_id)
        rows = session.execute(query).all()
        if not rows:
            return []
        session.execute(
            update(Outbox)
            .where(Outbox.id.in_([row.id for row in rows]))
            .values(next_attempt_at=now + LEASE, attempts=Outbox.attempts + 1)
        )
    return [OutboxJob(row.id, row.shop_id, row.domain, row.kind, row.payload, row.attempts + 1) for row in rows]


def deliver(outward: Outward, job: OutboxJob, report: DrainReport) -> None:
    """Run the job's handler and record how it went on its row."""
    handler = _HANDLERS[job.kind]
    try:
        handler(job, outward)
    except ShopNotConnected as exc:
        _reschedule(outward, job, str(exc), NOT_CONNECTED_DELAY, report)
    except RetryLater as exc:
        _reschedule(outward, job, str(exc), _backoff(job.attempts, exc.retry_after), report)
    except ShopUnavailable as exc:
        until = outward.clock() + SHOP_UNAVAILABLE_DELAY
        minutes = int(SHOP_UNAVAILABLE_DELAY.total_seconds() // 60)
        reason = f"{exc}; waiting for the shop: tried again every {minutes} minutes, not counted as attempts"
        log.warning("outbox row %s (%s): %s", job.id, job.kind, reason)
        report.unavailable[(job.shop_id, job.kind)] = (until, reason)
        _wait_for_shop(outward, job, until, reason, report)
    except (DeliveryFailed, RequestRefused) as exc:
        # A definite refusal (Shopify's 400 or 403, a GraphQL error, a handler's own): retrying will not help.
        if isinstance(exc, RequestRefused):
            log.warning("outbox row %s (%s) refused: %s", job.id, job.kind, exc)
        _finish(outward, job, status="failed", error=str(exc))
        report.failed += 1
        report.errors.append(f"{job.kind} #{job.id}: {exc}")
    except Exception as exc:  # noqa: BLE001 - one row's bug must not stop the others; it is retried, then failed
        log.exception("outbox row %s (%s) raised", job.id, job.kind)
        _reschedule(outward, job, f"{type(exc).__name__}: {exc}", _backoff(job.attempts, 0), report)
    else:
        _finish(outward, job, status="done", error=None)
        report.done += 1


def _wait_for_shop(outward: Outward, job: OutboxJob, until: datetime, reason: str, report: DrainReport) -> None:
    """The row, and the shop's other pending rows of its kind due before `until`, wait until then with the reason:
    one call per shop and kind each time, not one per row. The claim's attempt is given back."""
    with outward.sessions.begin() as session:
        session.execute(
            update(Outbox)
            .where(Outbox.id == job.id, Outbox.status == "pending")
            .values(next_attempt_at=until, attempts=func.greatest(Outbox.attempts - 1, 0), last_error=reason[:2000])
        )
        session.execute(
            update(Outbox)
            .where(
                Outbox.shop_id == job.shop_id,
                Outbox.kind == job.kind,
                Outbox.status == "pending",
                Outbox.next_attempt_at < until,
                Outbox.id != job.id,
            )
            .values(next_attempt_at=until, last_error=reason[:2000])
        )
    report.waiting += 1
    report.errors.append(f"{job.kind} #{job.id}: {reason}")


def _backoff(attempts: int, at_least: float) -> timedelta:
    """30 s, 1, 2, 4 … minutes, at most an hour, and never sooner than Shopify asked."""
    seconds = min(30 * 2 ** max(attempts - 1, 0), 3600)
    return timedelta(seconds=max(seconds, at_least))


def _reschedule(outward: Outward, job: OutboxJob, error: str, delay: timedelta, report: DrainReport) -> None:
    if job.attempts >= MAX_ATTEMPTS:
        _finish(outward, job, status="failed", error=f"gave up after {job.attempts} attempts: {error}")
        report.failed += 1
        report.errors.append(f"{job.kind} #{job.id}: {error}")
        return
    with outward.sessions.begin() as session:
        session.execute(
            update(Outbox)
            .where(Outbox.id == job.id, Outbox.status == "pending")
            .values(next_attempt_at=outward.clock() + delay, last_error=error[:2000])
        )
    report.retried += 1
    report.errors.append(f"{job.kind} #{job.id}: {error}")


def _finish(outward: Outward, job: OutboxJob, *, status: str, error: str | None) -> None:
    """Mark the row done or failed, unless it was re-staged with a new payload since the claim (then: due now)."""
    now = outward.clock()
    with outward.sessions.begin() as session:
        finished = session.execute(
            update(Outbox)
            .where(Outbox.id == job.id, Outbox.status == "pending", Outbox.payload == job.payload)
            .values(status=status, done_at=now, last_error=error[:2000] if error else None)
            .returning(Outbox.id)
        ).first()
        if finished is None:
            session.execute(
                update(Outbox).where(Outbox.id == job.id, Outbox.status == "pending").values(next_attempt_at=now)
            )
