"""Faults a test can inject into the fake: for one operation, or for the next N requests whatever they are.

A fault's `target` is an Admin GraphQL root field (`discountCodeBasicCreate`) or operation name (`CreateReward`),
`"oauth"` for the token endpoint, or None for any request. Each fault affects its next `times` matching requests.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Literal

FaultKind = Literal["status", "throttled", "timeout_after_write", "user_errors", "internal_error", "malformed"]
OAUTH = "oauth"
REFUSAL_STATUSES = frozenset({402, 403, 423})


@dataclass
class Fault:
    kind: FaultKind
    target: str | None
    times: int
    status: int = 503
    retry_after: str | None = None
    # timeout_after_write: "close" drops the connection at once; "stall" holds it for stall_seconds, then drops it.
    mode: Literal["close", "stall"] = "close"
    stall_seconds: float = 30.0
    user_errors: list[dict[str, Any]] = field(default_factory=list)
    # internal_error, malformed: the request is carried out before the error is answered.
    after_write: bool = False
    # malformed: the HTTP 200 body, which is not a GraphQL answer.
    body: bytes = b""

    def matches(self, names: set[str]) -> bool:
        return self.target is None or self.target in names


class Faults:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        # Set on reset and shutdown so a stalled connection is released at once.
        self.release = threading.Event()

    def _add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def server_error(
        self, target: str | None = None, *, status: int = 503, times: int = 1, retry_after: str | None = None
    ) -> Fault:
        """Answers `status` (5xx) with a JSON error body, and `Retry-After` when given."""
        return self._add(Fault("status", target, times, status=status, retry_after=retry_after))

    def refused(self, target: str | None = None, *, status: int, times: int = 1) -> Fault:
        """Answers a status with which Shopify refuses a call before doing anything (its response codes page): 402
        Payment Required (the shop is frozen), 403 Forbidden (a missing access scope, or a shop Shopify forbids),
        423 Locked (the shop is locked); the body is `{"errors": <reason phrase>}` and nothing is written."""
        if status not in REFUSAL_STATUSES:
            raise ValueError(f"refused() answers one of {sorted(REFUSAL_STATUSES)}, not {status}")
        return self._add(Fault("status", target, times, status=status))

    def rate_limited(self, target: str | None = None, *, times: int = 1, retry_after: str = "1") -> Fault:
        """Answers HTTP 429 with `Retry-After` (whole seconds: Shopify's Python client parses it with int())."""
        return self._add(Fault("status", target, times, status=429, retry_after=retry_after))

    def throttled(self, target: str | None = None, *, times: int = 1) -> Fault:
        """Answers Shopify's THROTTLED GraphQL error (HTTP 200) whatever the bucket holds."""
        return self._add(Fault("throttled", target, times))

    def timeout_after_write(
        self,
        target: str | None = None,
        *,
        times: int = 1,
        mode: Literal["close", "stall"] = "close",
        stall_seconds: float = 30.0,
    ) -> Fault:
        """Performs the mutation, then closes the connection without answering (after stalling, in "stall" mode)."""
        return self._add(Fault("timeout_after_write", target, times, mode=mode, stall_seconds=stall_seconds))

    def internal_error(self, target: str | None = None, *, times: int = 1, after_write: bool = False) -> Fault:
        """Answers HTTP 200 with Shopify's INTERNAL_SERVER_ERROR GraphQL error, which Shopify returns instead of a 500
        in most circumstances; with `after_write`, the request is carried out first (its answer is lost)."""
        return self._add(Fault("internal_error", target, times, after_write=after_write))

    def malformed(
        self, target: str | None = None, *, times: int = 1, after_write: bool = False, body: bytes = b"<html>"
    ) -> Fault:
        """Answers HTTP 200 with `body`, which is not a GraphQL answer (a proxy's page, a cut-off JSON document);
        with `after_write`, the request is carried out first."""
        return self._add(Fault("malformed", target, times, after_write=after_write, body=body))

    def user_errors(self, target: str, errors: list[dict[str, Any]], *, times: int = 1) -> Fault:
        """Answers the mutation's payload with these userErrors and writes nothing."""
        return self._add(Fault("user_errors", target, times, user_errors=errors))

    def take(self, kinds: set[FaultKind], names: set[str]) -> Fault | None:
        """The first pending fault of one of `kinds` matching `names`, counted as used once."""
        with self._lock:
            for fault in self._faults:
                if fault.kind in kinds and fault.times > 0 and fault.matches(names):
                    fault.times -= 1
                    return fault
        return None

    def clear(self) -> None:
        """Drops every pending fault and releases stalled connections."""
        with self._lock:
            self._faults.clear()
        self.release.set()
        self.release = threading.Event()
