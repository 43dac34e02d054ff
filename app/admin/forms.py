"""Reading admin form fields and query arguments: a value that is not what the field takes becomes an error that
names the field (next to it in the form, or a 400 for a query argument), never a 500."""

from __future__ import annotations

import hashlib
import json

from flask import abort, request

from app.rules.values import is_ascii_digits

MAX_POINTS = 10**9


def optional_int(name: str) -> int | None:
    """A whole-number query argument (a keyset cursor, a page), or None when absent; anything else is a 400."""
    raw = request.args.get(name, "")
    if raw == "":
        return None
    if not is_ascii_digits(raw) or len(raw) > 18:
        abort(400, description=f"{name} must be a whole number, got {raw[:40]!r}")
    return int(raw)


def whole_number(
    raw: str, field: str, errors: dict[str, str], *, nonzero: bool = False, minimum: int | None = None
) -> int:
    """`raw` as an int, or 0 with errors[field] saying what is wrong."""
    text = raw.strip().replace(",", "")
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    if not is_ascii_digits(digits) or len(digits) > 10:
        errors[field] = "Enter a whole number, for example 100 or -50" if nonzero else "Enter a whole number"
        return 0
    value = sign * int(digits)
    if nonzero and value == 0:
        errors[field] = "Enter a number other than 0"
    elif abs(value) > MAX_POINTS:
        errors[field] = f"Enter at most {MAX_POINTS:,}"
    elif minimum is not None and value < minimum:
        errors[field] = f"Enter {minimum} or more"
    return value


def field_of(message: str, fields: tuple[str, ...], default: str) -> str:
    """The form field a service's error message names first (`"value: …"`, `"max_steps must …"`), else `default`."""
    head = message.split(":", 1)[0].split(" ", 1)[0]
    return head if head in fields else default


def optional_whole(raw: str, field: str, errors: dict[str, str]) -> int | None:
    """An optional whole-number field: None when blank, else as whole_number (the service checks its range)."""
    if not raw.strip():
        return None
    text = raw.strip()
    if not is_ascii_digits(text.lstrip("-")) or len(text) > 10:
        errors[field] = "Enter a whole number, or leave it blank"
        return None
    return int(text)


def fingerprint(values: dict[str, object]) -> str:
    """A digest of a row as a form showed it: saving with a stale one means someone changed the row meanwhile."""
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:32]
