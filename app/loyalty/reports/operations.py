"""The operations pages: the audit log, dead letters, the recent events and the GDPR data requests of one shop,
newest first."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditLog, DeadLetter, EventQueue, Outbox

PAGE_SIZE = 25
EVENT_STATUSES = ("pending", "processed", "dead")
# The outbox kind under which processing.lifecycle stages a customers/data_request export for the merchant.
DATA_REQUEST_KIND = "gdpr.data_request"


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditLog]
    next_after: int | None


@dataclass(frozen=True)
class DeadLetterPage:
    letters: list[DeadLetter]
    next_after: int | None


@dataclass(frozen=True)
class EventPage:
    events: list[EventQueue]
    next_after: int | None


def audit_page(
    session: Session, *, shop_id: int, actor: str = "", after: int | None = None, limit: int = PAGE_SIZE
) -> AuditPage:
    """The shop's audit log, optionally of one actor (`staff:1`, `system`)."""
    statement = select(AuditLog).where(AuditLog.shop_id == shop_id)
    if actor:
        statement = statement.where(AuditLog.actor == actor)
    if after is not None:
        statement = statement.where(AuditLog.id < after)
    rows = list(session.execute(statement.order_by(AuditLog.id.desc()).limit(limit + 1)).scalars())
    return AuditPage(entries=rows[:limit], next_after=rows[limit - 1].id if len(rows) > limit else None)


def dead_letter_page(
    session: Session,
    *,
    shop_id: int,
    include_replayed: bool = False,
    after: int | None = None,
    limit: int = PAGE_SIZE,
) -> DeadLetterPage:
    """The shop's dead letters; those already replayed only when asked."""
    statement = select(DeadLetter).where(DeadLetter.shop_id == shop_id)
    if not include_replayed:
        statement = statement.where(DeadLetter.replayed_at.is_(None))
    if after is not None:
        statement = statement.where(DeadLetter.id < after)
    rows = list(session.execute(statement.order_by(DeadLetter.id.desc()).limit(limit + 1)).scalars())
    return DeadLetterPage(letters=rows[:limit], next_after=rows[limit - 1].id if len(rows) > limit else None)


def event_page(
    session: Session, *, shop_id: int, status: str = "", after: int | None = None, limit: int = PAGE_SIZE
) -> EventPage:
    """The shop's inbox, newest first, optionally of one status."""
    statement = select(EventQueue).where(EventQueue.shop_id == shop_id)
    if status:
        statement = statement.where(EventQueue.status == status)
    if after is not None:
        statement = statement.where(EventQueue.id < after)
    rows = list(session.execute(statement.order_by(EventQueue.id.desc()).limit(limit + 1)).scalars())
    return EventPage(events=rows[:limit], next_after=rows[limit - 1].id if len(rows) > limit else None)


def data_requests(session: Session, *, shop_id: int, limit: int = PAGE_SIZE) -> list[Outbox]:
    """The customers/data_request exports staged for the merchant (processing.lifecycle), newest first."""
    statement = (
        select(Outbox)
        .where(Outbox.shop_id == shop_id, Outbox.kind == DATA_REQUEST_KIND)
        .order_by(Outbox.id.desc())
        .limit(limit)
    )
    return list(session.execute(statement).scalars())


def data_request(session: Session, *, shop_id: int, request_id: int) -> Outbox | None:
    """One staged data request of this shop (another shop's is None)."""
    statement = select(Outbox).where(
        Outbox.id == request_id, Outbox.shop_id == shop_id, Outbox.kind == DATA_REQUEST_KIND
    )
    return session.execute(statement).scalar_one_or_none()
