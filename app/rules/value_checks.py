"""Primitive checks of the values in rule JSON: each records a located issue and says whether the value passed."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from app.rules.issues import RuleIssue, escape
from app.rules.values import is_number, parse_when

EVENT_TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
PATH_PATTERN = re.compile(r"^event_data(\.[^.\s]+)+$")
URL_PATTERN = re.compile(r"^https?://[^\s/?#]+[^\s]*$")
TEXT_PATTERNS = {"shipping_country": re.compile(r"^[A-Za-z]{2}$"), "currency": re.compile(r"^[A-Za-z]{3}$")}


def kind_name(value: Any) -> str:
    """Return the JSON kind of a value, for messages."""
    return {bool: "boolean", type(None): "null", dict: "object", list: "list", str: "string"}.get(type(value), "number")


class ValueChecks:
    """Collects issues; each check returns True when the value is acceptable."""

    def __init__(self) -> None:
        self.issues: list[RuleIssue] = []

    def fail(self, pointer: str, message: str) -> None:
        """Record an issue at the pointer."""
        self.issues.append(RuleIssue(pointer, message))

    def keys(self, node: dict, pointer: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> None:
        """Flag unknown keys and missing required ones."""
        for key in node:
            if key not in allowed:
                self.fail(f"{pointer}/{escape(key)}", f"unknown key; allowed: {', '.join(allowed)}")
        for key in required:
            if key not in node:
                self.fail(f"{pointer}/{escape(key)}", "is required")

    def integer(self, value: Any, pointer: str, minimum: int | None = None) -> bool:
        """Accept an integer (not a boolean), at least `minimum` when given."""
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(pointer, "must be an integer")
            return False
        if minimum is not None and value < minimum:
            self.fail(pointer, f"must be at least {minimum}")
            return False
        return True

    def number(self, value: Any, pointer: str, *, positive: bool = False, minimum: float | None = None) -> bool:
        """Accept a finite number (not a boolean), optionally positive or at least `minimum`."""
        if not is_number(value):
            self.fail(pointer, "must be a number")
            return False
        if positive and value <= 0:
            self.fail(pointer, "must be greater than 0")
            return False
        if minimum is not None and value < minimum:
            self.fail(pointer, f"must be at least {minimum:g}")
            return False
        return True

    def text(self, value: Any, pointer: str, pattern: re.Pattern[str] | None = None, hint: str = "") -> bool:
        """Accept a non-empty string, matching `pattern` when given (`hint` says what it should be)."""
        if not isinstance(value, str) or not value.strip():
            self.fail(pointer, "must be a non-empty string")
            return False
        if pattern is not None and not pattern.match(value):
            self.fail(pointer, f"must be {hint}")
            return False
        return True

    def choice(self, value: Any, pointer: str, options: tuple[str, ...]) -> bool:
        """Accept one of the options."""
        if value not in options or not isinstance(value, str):
            self.fail(pointer, f"must be one of: {', '.join(options)}")
            return False
        return True

    def boolean(self, value: Any, pointer: str) -> bool:
        """Accept true or false."""
        if not isinstance(value, bool):
            self.fail(pointer, "must be true or false")
            return False
        return True

    def when(self, value: Any, pointer: str) -> dt.date | None:
        """Accept an ISO 8601 date or date-time; return it parsed (None when refused)."""
        parsed = parse_when(value) if isinstance(value, str) else None
        if parsed is None:
            self.fail(pointer, "must be an ISO 8601 date or date-time (2024-12-24 or 2024-12-24T09:00:00-05:00)")
        return parsed


def comparable(low: Any, high: Any) -> bool:
    """Two bounds compare when neither or both carry a UTC offset (dates count as naive)."""
    return _has_offset(low) == _has_offset(high)


def _has_offset(value: Any) -> bool:
    return isinstance(value, dt.datetime) and value.tzinfo is not None


def as_datetime(value: dt.date) -> dt.datetime:
    """Return a date as midnight, a datetime as is."""
    return value if isinstance(value, dt.datetime) else dt.datetime.combine(value, dt.time())
