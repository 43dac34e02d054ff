"""One unit of work for every adapter: commit the transaction, then publish the app events it staged.

App events (tier_changed, reward_redeemed, …) are staged as inbox rows inside the domain's transaction, so they exist
exactly when that transaction commits. Publishing them to the stream comes after the commit and may fail without
losing anything: an unpublished row waits in the inbox and the consumer's re-drive publishes it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from sqlalchemy.orm import Session

from app.events import inbox, stream

log = logging.getLogger(__name__)


@contextmanager
def unit_of_work(session: Session, client: redis.Redis, keys: stream.StreamKeys) -> Iterator[Session]:
    """Commit what the block did (roll back and re-raise on an exception), then publish what it staged."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    try:
        inbox.publish_staged(session, lambda staged: stream.publish(client, keys, staged))
    except redis.RedisError as exc:
        log.warning("staged app events stay in the inbox for re-drive: %s", exc)
