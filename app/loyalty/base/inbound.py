"""The event as the domain sees it: the fixed envelope of DESIGN.md, as a typed value."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# The events processed as orders: each records the order once and keys its credits by the order id.
ORDER_EVENT_TYPES = frozenset({"order_created", "order_paid", "order_fulfilled", "order_updated"})
# The shop setting `orders_earn_on` (shops.orders_earn_on): which of an order's events earns its points.
ORDERS_EARN_ON = {"created": "order_created", "paid": "order_paid", "fulfilled": "order_fulfilled"}
# The one event type that history counts as a placed order (frequency and order-count conditions).
ORDER_PLACED = "order_created"


@dataclass(frozen=True)
class InboundEvent:
    event_id: uuid.UUID
    event_type: str
    shop_domain: str
    customer_id: str | None
    timestamp: datetime
    event_data: dict[str, Any] = field(default_factory=dict)
