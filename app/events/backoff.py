"""The pause before a long-running loop (the consumer, the relay) tries Redis or PostgreSQL again after a failure."""

from __future__ import annotations

# The first pause, doubled after each failure in a row up to MAX_PAUSE_S.
FIRST_PAUSE_S = 0.1
# Longest pause between attempts to reach Redis or PostgreSQL again.
MAX_PAUSE_S = 10.0


class Backoff:
    """Pauses that grow with each failure in a row, and start over after a success."""

    def __init__(self) -> None:
        self.pause = 0.0

    def failed(self) -> float:
        """The pause before the next attempt: FIRST_PAUSE_S after one failure, doubling up to MAX_PAUSE_S."""
        self.pause = min(MAX_PAUSE_S, max(FIRST_PAUSE_S, self.pause * 2))
        return self.pause

    def succeeded(self) -> None:
        self.pause = 0.0
