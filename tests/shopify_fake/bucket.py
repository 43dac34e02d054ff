"""The leaky bucket that rate-limits Admin GraphQL per app and shop, by calculated query cost.

Shopify's documented rule: before a query runs the bucket must hold its requested cost, which is taken; after it
runs the difference between requested and actual cost is refunded; the bucket refills continuously at the restore
rate up to its maximum. Current docs give the Standard plan 100 points/second; the bucket size is not stated there,
so both are settings, and clients must read them from `extensions.cost.throttleStatus` rather than assume them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

DEFAULT_MAXIMUM = 2000.0
DEFAULT_RESTORE_RATE = 100.0


class LeakyBucket:
    def __init__(
        self,
        maximum: float = DEFAULT_MAXIMUM,
        restore_rate: float = DEFAULT_RESTORE_RATE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.maximum = float(maximum)
        self.restore_rate = float(restore_rate)
        self._clock = clock
        self._available = self.maximum
        self._updated = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._available = min(self.maximum, self._available + (now - self._updated) * self.restore_rate)
        self._updated = now

    def take(self, cost: int) -> bool:
        """Takes `cost` points if the bucket holds them; False (and nothing taken) when it does not."""
        with self._lock:
            self._refill()
            if cost > self._available:
                return False
            self._available -= cost
            return True

    def refund(self, points: int) -> None:
        """Gives back points charged up front but not spent (requested minus actual cost)."""
        with self._lock:
            self._refill()
            self._available = min(self.maximum, self._available + points)

    def drain(self) -> None:
        """Empties the bucket, as a burst of other requests would."""
        with self._lock:
            self._refill()
            self._available = 0.0

    def status(self) -> dict[str, Any]:
        """The `throttleStatus` block: floats, as Shopify sends them."""
        with self._lock:
            self._refill()
            return {
                "maximumAvailable": self.maximum,
                "currentlyAvailable": float(int(self._available)),
                "restoreRate": self.restore_rate,
            }
