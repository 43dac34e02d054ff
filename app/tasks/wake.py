"""Ask the worker to deliver a shop's outbox now, for a shopper waiting on it (a redeemed code to apply).

Only a nudge: the row is already committed, and the worker's every-minute drain (`deliver_due_outbox`) delivers it
if this enqueue is lost, so a Redis failure here is logged and the request that staged the work still succeeds.
"""

from __future__ import annotations

import logging

import redis

log = logging.getLogger(__name__)


def wake_outbox(shop_id: int) -> None:
    from app.tasks.outbox import deliver_outbox

    try:
        deliver_outbox(shop_id)
    except redis.RedisError as exc:
        log.warning(
            "could not ask the worker to deliver shop %s's outbox now (the minute drain will): %s", shop_id, exc
        )
