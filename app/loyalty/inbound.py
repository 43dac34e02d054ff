"""The event as the domain sees it: the fixed envelope of DESIGN.md, as a typed value."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class InboundEvent:
    event_id: uuid.UUID
    event_type: str
    shop_domain: str
    customer_id: str | None
    timestamp: datetime
    event_data: dict[str, Any] = field(default_factory=dict)
