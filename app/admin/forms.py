"""Reading admin form fields and query arguments: a value that is not what the field takes becomes an error that
names the field (next to it in the form, or a 400 for a query argument), never a 500."""

from __future__ import annotations

from flask import abort, request

MAX_POINTS = 10**9


def optional_int(name: str) -> int | None:
    """A whole-number query argument (a keyset cursor, a page), or None when absent; anything else is a 400."""
    raw = request.args.get(name, "")
    if raw == "":
        return None
    if not raw.isdigit() or len(raw) > 18:
        abort(400, description=f"{name} must be a whole number, got {raw[:40]!r}")
    return int(raw)


def whole_number(
    raw: str, field: str, errors: dict[str, str], *, nonzero: bool = False, minimum: int | None = None
) -> int:
    """`raw` as an int, or 0 with errors[field] saying what is wrong."""
    text = raw.strip().replace(",", "")
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    if not digits.isdigit() or len(digits) > 10:
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
