"""The operational alerts a merchant is shown as a banner on every admin page (app.monitoring.alerts keeps them).

Only alerts that change what the merchant sees are shown, in the merchant's words: slow processing and a stream
backlog both mean points, tiers and rewards appear late. The rest are the operator's to act on and would only alarm
a merchant with something they cannot change: the error rate and ledger drift are app-wide figures (a shop's own
failed events are on its Operations page), and the webhook failure rate spans every merchant (a shop's own
endpoints show their status and deliveries on the Webhooks page).
"""

from __future__ import annotations

import logging

import redis

from app.extensions import redis_store
from app.monitoring.alerts import active_alerts

log = logging.getLogger(__name__)

# Alert name -> what it means for the merchant.
MERCHANT_MESSAGES = {
    "slow_processing": "Orders are taking longer than usual to turn into points. Nothing is lost: points, tiers and "
    "rewards catch up on their own.",
    "stream_lag": "A backlog of store events is waiting to be processed. Points, tiers and rewards will appear late "
    "until it clears; nothing is lost.",
}


def merchant_alerts() -> list[str]:
    """The messages of the open alerts a merchant should know about; none when Redis cannot be read (the page
    still renders: the operator hears of Redis from the health check, not the merchant)."""
    try:
        episodes = active_alerts(redis_store.client, redis_store.namespace)
    except redis.RedisError:
        log.warning("admin alert banner: could not read the alerts from Redis", exc_info=True)
        return []
    return [message for name, message in MERCHANT_MESSAGES.items() if episodes.get(name)]
