"""Primitive checks of the values in rule JSON: each records a located issue and says whether the value passed."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from app.rules.issues import RuleIssue, escape
from app.rules.values import is_number, parse_when, text_fault


def shown_number(number: float) -> str:
    """A bound as a message shows it: integers with thousands separators (1,000,000,000), others as they read."""
    return f"{number:,}" if isinstance(number, int) else f"{number:g}"


def text_issues(data: Any, pointer: str = "") -> list[RuleIssue]:
    """Every string in a JSON document, keys included, that cannot be stored or shown (a NUL, a lone surrogate),
    located by JSON pointer; a faulty key is reported at its object. Walks with its own stack, not recursion, so a
    document of any depth is read to the end."""
    issues: list[RuleIssue] = []
    stack: list[tuple[Any, str]] = [(data, pointer)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, str):
            fault = text_fault(node)
            if fault is not None:
                issues.append(RuleIssue(where, fault))
        elif isinstance(node, dict):
            for key, child in reversed(node.items()):
                fault = text_fault(key)
                if fault is None:
                    stack.append((child, f"{where}/{escape(key)}"))
                else:
                    issues.append(RuleIssue(where, f"a key {fault}"))
        elif isinstance(node, list):
            stack.extend((child, f"{where}/{index}") for index, child in reversed(list(enumerate(node))))
    return issues


def kind_name(value: Any) -> str:
    """Return the JSON kind of a value, for messages."""
    return {bool: "boolean", type(None): "null", dict: "object", list: "list", str: "string"}.get(type(value), "number")


class ValueChecks:
    """Collects issues; each check returns True when the value is acceptable.

    `stored`: the rule is a version already stored, not new input. A number past its bound but within the bound's
    `stored_maximum` is then accepted and noted in `past_bounds` (vocabulary, STORED_MAX_POINTS and ANY_SIZE).
    """

    def __init__(self, *, stored: bool = False) -> None:
        self.issues: list[RuleIssue] = []
        self.stored = stored
        self.past_bounds: list[RuleIssue] = []

    def fail(self, pointer: str, message: str) -> None:
        """Record an issue at the pointer."""
        self.issues.append(RuleIssue(pointer, message))

    def keys(self, node: dict, pointer: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> None:
        """Flag unknown keys and missing required ones."""
        for key in node:
            # A key that is no text is reported where it is (text_issues), not named by a pointer a page cannot show.
            if key not in allowed and text_fault(key) is None:
                self.fail(f"{pointer}/{escape(key)}", f"unknown key; allowed: {', '.join(allowed)}")
        for key in required:
            if key not in node:
                self.fail(f"{pointer}/{escape(key)}", "is required")

    def expect(self, accepted: bool, pointer: str, message: str) -> bool:
        """Record the message at the pointer unless the value was accepted; return whether it was."""
        if not accepted:
            self.fail(pointer, message)
        return accepted

    def integer(
        self, value: Any, pointer: str, minimum: int, maximum: int, *, stored_maximum: float | None = None
    ) -> bool:
        """Accept an integer (not a boolean) from `minimum` to `maximum`: every integer of the language has bounds
        (vocabulary), so none reaches a column or a ledger entry that cannot hold it."""
        is_integer = isinstance(value, int) and not isinstance(value, bool)
        return (
            self.expect(is_integer, pointer, "must be an integer")
            and self.at_least(value, pointer, minimum)
            and self.at_most(value, pointer, maximum, stored_maximum)
        )

    def number(
        self,
        value: Any,
        pointer: str,
        *,
        positive: bool = False,
        minimum: float | None = None,
        maximum: float | None = None,
        stored_maximum: float | None = None,
    ) -> bool:
        """Accept a finite number (not a boolean), optionally positive, at least `minimum` or at most `maximum`."""
        if not self.expect(is_number(value), pointer, "must be a number"):
            return False
        if positive and not self.expect(value > 0, pointer, "must be greater than 0"):
            return False
        return self.at_least(value, pointer, minimum) and self.at_most(value, pointer, maximum, stored_maximum)

    def at_least(self, value: float, pointer: str, minimum: float | None) -> bool:
        """Accept a number of at least `minimum` (any number when it is None)."""
        return minimum is None or self.expect(value >= minimum, pointer, f"must be at least {shown_number(minimum)}")

    def at_most(self, value: float, pointer: str, maximum: float | None, stored_maximum: float | None = None) -> bool:
        """Accept a number of at most `maximum` (any number when it is None); in a stored rule, one of at most
        `stored_maximum` too, noted in `past_bounds`."""
        if maximum is None or value <= maximum:
            return True
        message = f"must be at most {shown_number(maximum)}"
        if self.stored and stored_maximum is not None and value <= stored_maximum:
            self.past_bounds.append(RuleIssue(pointer, message))
            return True
        self.fail(pointer, message)
        return False

    def text(self, value: Any, pointer: str, pattern: re.Pattern[str] | None = None, hint: str = "") -> bool:
        """Accept a non-empty string, matching `pattern` when given (`hint` says what it should be)."""
        if not self.expect(isinstance(value, str) and bool(value.strip()), pointer, "must be a non-empty string"):
            return False
        return pattern is None or self.expect(bool(pattern.match(value)), pointer, f"must be {hint}")

    def choice(self, value: Any, pointer: str, options: tuple[str, ...]) -> bool:
        """Accept one of the options."""
        return self.expect(
            isinstance(value, str) and value in options, pointer, f"must be one of: {', '.join(options)}"
        )

    def boolean(self, value: Any, pointer: str) -> bool:
        """Accept true or false."""
        return self.expect(isinstance(value, bool), pointer, "must be true or false")

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
