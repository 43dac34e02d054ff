"""The event types the rule builder suggests for a rule."""

from __future__ import annotations

from app.shopify.topics import TOPIC_EVENT_TYPES

# Suggestions for a rule's event types: Shopify's order and customer topics as the app names them, and the app's own
# events (app.loyalty.base.app_events); lifecycle and compliance topics never reach the rules.
KNOWN_EVENT_TYPES = (
    *(
        event
        for topic, event in TOPIC_EVENT_TYPES.items()
        if topic.split("/")[0] in ("orders", "refunds", "customers") and not event.endswith("_requested")
    ),
    "referral_converted",
    "reward_redeemed",
    "tier_changed",
    "points_expired",
)
