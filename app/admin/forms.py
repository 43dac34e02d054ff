"""Reading admin form fields and query arguments: a value that is not what the field takes becomes an error that
names the field (next to it in the form, or a 400 for a query argument), never a 500."""

from __future__ import annotations

import hashlib
import json
import re
from decimal import Decimal
from typing import Any

from flask import abort, request
from sqlalchemy import BigInteger, Integer, Numeric

from app.models.base import MAX_BIGINT, MAX_INTEGER
from app.rules.values import is_ascii_digits

MAX_POINTS = 10**9
# A decimal as a merchant types it: ASCII digits only (Decimal() also reads other scripts' digits, and exponents).
_DECIMAL = re.compile(r"(?P<sign>[-+]?)(?P<whole>[0-9]*)(?:\.(?P<fraction>[0-9]*))?")


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


def optional_whole(
    raw: str, field: str, errors: dict[str, str], *, minimum: int, maximum: int, required: bool = False
) -> int | None:
    """A whole-number field: None when blank (an error if `required`), else an int from `minimum` to `maximum` (pass
    what the service accepts, within what the column stores: `largest(column)`), or None with errors[field] saying
    what is wrong and what is allowed."""
    text = raw.strip()
    allowed = f"Enter a whole number from {minimum:,} to {maximum:,}{'' if required else ', or leave it blank'}"
    if not text:
        if required:
            errors[field] = allowed
        return None
    digits = text[1:] if text.startswith(("-", "+")) else text
    negative = text.startswith("-")
    if not is_ascii_digits(digits):
        errors[field] = f"“{_shown(text)}” is not a whole number. {allowed}"
        return None
    # More digits than the maximum has is out of range before int(), which refuses a run of over 4,300 digits.
    if len(digits.lstrip("0")) > len(str(max(maximum, -minimum))):
        errors[field] = f"{_shown(text)} is too {'small' if negative else 'large'}. {allowed}"
        return None
    value = -int(digits) if negative else int(digits)
    if not minimum <= value <= maximum:
        errors[field] = f"{value:,} is too {'small' if value < minimum else 'large'}. {allowed}"
        return None
    return value


def optional_decimal(
    raw: str,
    field: str,
    errors: dict[str, str],
    *,
    column: Any,
    minimum: Decimal,
    maximum: Decimal | None = None,
    required: bool = False,
) -> Decimal | None:
    """A decimal field for a numeric column: None when blank (an error if `required`), else a Decimal from `minimum`
    to `maximum` (the column's largest when not given) with no more decimal places than the column keeps. More places
    are refused rather than rounded: PostgreSQL would round 0.001 to 0.00 after the service had checked 0.001.
    Otherwise None with errors[field] saying what is wrong and what is allowed."""
    text = raw.strip()
    places = column.type.scale
    top = largest(column) if maximum is None else maximum
    allowed = f"Enter a number from {minimum:,} to {top:,} with at most {places} decimal places"
    allowed += "" if required else ", or leave it blank"
    if not text:
        if required:
            errors[field] = allowed
        return None
    parts = _DECIMAL.fullmatch(text)
    if parts is None or not (parts["whole"] or parts["fraction"]):
        errors[field] = f"“{_shown(text)}” is not a number. {allowed}"
        return None
    if len((parts["fraction"] or "").rstrip("0")) > places:
        errors[field] = f"{_shown(text)} has more than {places} decimal places. {allowed}"
        return None
    value = Decimal(text)
    if not minimum <= value <= top:
        errors[field] = f"{_shown(text)} is too {'small' if value < minimum else 'large'}. {allowed}"
        return None
    return value


def largest(column: Any) -> int | Decimal:
    """The largest value a table column stores: PostgreSQL's integer or bigint, or numeric(precision, scale)'s
    (999,999,999,999.99 for numeric(14, 2)); a form field checked against it never fails the insert."""
    kind = column.type
    if isinstance(kind, BigInteger):
        return MAX_BIGINT
    if isinstance(kind, Integer):
        return MAX_INTEGER
    if isinstance(kind, Numeric):
        return Decimal(10) ** (kind.precision - kind.scale) - Decimal(10) ** -kind.scale
    raise TypeError(f"{column} is not a number column")


def _shown(text: str) -> str:
    """What the merchant typed, as an error message quotes it (a long paste is cut)."""
    return text if len(text) <= 24 else f"{text[:24]}…"


def fingerprint(values: dict[str, object]) -> str:
    """A digest of a row as a form showed it: saving with a stale one means someone changed the row meanwhile."""
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:32]
