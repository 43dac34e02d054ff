"""Structured logs: one JSON object per line in production, readable lines in development, with the request id,
event id, shop and outcome wherever they are known, so an order can be followed from webhook to ledger.

Context travels in a contextvar: the web binds the request id per request, and the stream consumer or a task binds
`event_id`, `shop` and `outcome` with `log_context(...)`. Flask-free, so those processes can use it. Token-shaped
strings are masked in every message: logs are read by more people than the database.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Any

CONTEXT_FIELDS = ("request_id", "event_id", "shop", "outcome")
# Libraries that say at INFO what only matters when debugging them (alembic lists its plugins on every command).
QUIET_LIBRARIES = ("alembic.runtime.plugins", "httpx", "httpcore")
_context: ContextVar[dict[str, str]] = ContextVar("loyalty_log_context", default={})  # noqa: B039 - never mutated

# Shopify access/refresh tokens and shared secrets, bearer credentials, and secret-looking query parameters.
_SECRETS = re.compile(
    r"(shp(?:at|ca|ss|pa|rt)_[A-Za-z0-9]+)|(Bearer\s+[A-Za-z0-9._~+/=-]+)"
    r"|((?:access_token|refresh_token|secret|password|hmac|signature)=)[^&\s]+",
    re.IGNORECASE,
)


def mask_secrets(text: str) -> str:
    """The text with tokens, bearer credentials and secret parameters replaced by a marker."""

    def replace(match: re.Match[str]) -> str:
        return f"{match.group(3)}[masked]" if match.group(3) else "[masked]"

    return _SECRETS.sub(replace, text)


@contextmanager
def log_context(**fields: str | int | None) -> Iterator[None]:
    """Add fields (request_id, event_id, shop, outcome) to every log record made inside the block."""
    merged = {**_context.get(), **{key: str(value) for key, value in fields.items() if value is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


def bind(**fields: str | int | None) -> None:
    """Add fields for the rest of the current context (a request: Flask runs each in its own context copy)."""
    _context.set({**_context.get(), **{key: str(value) for key, value in fields.items() if value is not None}})


def clear() -> None:
    """Forget every bound field (a worker thread about to serve the next request)."""
    _context.set({})


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": mask_secrets(record.getMessage()),
        }
        for key in CONTEXT_FIELDS:
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = mask_secrets(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        context = " ".join(f"{key}={getattr(record, key)}" for key in CONTEXT_FIELDS if hasattr(record, key))
        line = mask_secrets(super().format(record))
        return f"{line} [{context}]" if context else line


def configure_logging(log_format: str, *, stream: Any = None) -> logging.Handler:
    """Send every logger's INFO and above to stderr in the chosen format; once per process (later calls reuse it)."""
    root = logging.getLogger()
    for handler in root.handlers:
        if getattr(handler, "loyalty", False):
            return handler
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.loyalty = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    for chatty in QUIET_LIBRARIES:
        logging.getLogger(chatty).setLevel(logging.WARNING)
    return handler
