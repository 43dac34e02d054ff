"""One unit of work for every adapter: commit the transaction, or roll it back and re-raise.

App events (tier_changed, reward_redeemed, …) are staged as inbox rows inside the domain's transaction, so they exist
exactly when that transaction commits; the relay (app/events/relay.py) then puts them on the stream like any other
inbox row. Nothing here talks to Redis: a transaction that committed has nothing left to lose.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session


@contextmanager
def unit_of_work(session: Session) -> Iterator[Session]:
    """Commit what the block did (roll back and re-raise on an exception)."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
