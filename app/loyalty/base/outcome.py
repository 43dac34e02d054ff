"""What processing one event did, and the signal that an event must wait and be retried."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.loyalty.base.errors import LoyaltyError


class RetryLater(LoyaltyError):
    """The event cannot be applied yet (e.g. a refund that arrived before its order); the consumer retries it."""


class Unprocessable(LoyaltyError):
    """The event can never be applied as it stands (a field no retry will change, named in the message); the
    consumer dead-letters it at once instead of after its retries."""


@dataclass
class Outcome:
    """What one event did; stored on the dedupe row and returned to the consumer for logs and metrics."""

    event_id: str
    event_type: str
    duplicate: bool = False
    points_credited: int = 0
    points_pending: int = 0
    decisions: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = None
    # How long the rule engine took on this event (None: the shop has no active rule); for the rule timing metric.
    rules_elapsed_ns: int | None = None
    # Set when the event must wait for another (a refund read before its order): nothing of it was written, not
    # even its dedupe row, and the consumer leaves it pending for a later try while its batch-mates commit.
    waiting: RetryLater | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "points_credited": self.points_credited,
            "points_pending": self.points_pending,
            "decisions": self.decisions,
            "note": self.note,
        }
