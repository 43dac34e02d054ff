"""Everything the fake received, so tests assert on Shopify's side of the conversation."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    shop: str | None
    # Admin GraphQL only: the operation's name, its root fields (aliases resolved) and its variables.
    operation_name: str | None = None
    root_fields: tuple[str, ...] = ()
    variables: dict[str, Any] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """A header by case-insensitive name, as HTTP treats them."""
        wanted = name.lower()
        return next((value for key, value in self.headers.items() if key.lower() == wanted), None)

    @property
    def is_graphql(self) -> bool:
        return self.path.endswith("/graphql.json")


class Recorder:
    def __init__(self) -> None:
        self._requests: list[ReceivedRequest] = []
        self._lock = threading.Lock()

    def record(self, request: ReceivedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    @property
    def requests(self) -> list[ReceivedRequest]:
        """Every request in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    def graphql(self, name: str | None = None, *, shop: str | None = None) -> list[ReceivedRequest]:
        """Admin GraphQL requests, optionally those naming `name` (root field or operation) for `shop`."""
        return [
            request
            for request in self.requests
            if request.is_graphql
            and (name is None or name == request.operation_name or name in request.root_fields)
            and (shop is None or request.shop == shop)
        ]

    def token_requests(self, *, shop: str | None = None) -> list[ReceivedRequest]:
        """Requests to the OAuth token endpoint."""
        return [
            request
            for request in self.requests
            if request.path == "/admin/oauth/access_token" and (shop is None or request.shop == shop)
        ]

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
