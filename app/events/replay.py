"""Replaying dead letters: their inbox rows become pending again and the relay puts their events back on the stream.

One place for the CLI (`flask --app app events replay`) and the admin's operations page. The rows change in the
caller's transaction, and once it commits the relay (app/events/relay.py) streams them like any new inbox row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.models import DeadLetter, EventQueue


@dataclass
class Replay:
    """Dead letters taken for replay (`replayed`) and those with no readable event (`unreadable`)."""

    replayed: list[int] = field(default_factory=list)
    unreadable: list[int] = field(default_factory=list)


def take_for_replay(
    session: Session, *, now: datetime, shop_id: int | None = None, ids: Sequence[int] | None = None
) -> Replay:
    """Mark dead letters not yet replayed as replayed and their inbox rows pending and not yet streamed: `ids` (all
    when None), of one shop when `shop_id` is given (an id of another shop is simply not found)."""
    query = select(DeadLetter).where(DeadLetter.replayed_at.is_(None)).order_by(DeadLetter.id).with_for_update()
    if shop_id is not None:
        query = query.where(DeadLetter.shop_id == shop_id)
    if ids is not None:
        query = query.where(DeadLetter.id.in_(ids))
    result = Replay()
    for letter in session.execute(query).scalars():
        if letter.event_id is None:
            result.unreadable.append(letter.id)
            continue
        session.execute(
            update(EventQueue)
            .where(EventQueue.event_id == letter.event_id)
            .values(status="pending", attempts=0, published_at=None)
        )
        letter.replayed_at = now
        result.replayed.append(letter.id)
    return result
