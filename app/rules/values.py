"""Readers for the values rules and payloads carry: money, ISO dates, clock times, Shopify ids, tags and codes."""

from __future__ import annotations

import datetime as dt
import re
import sys
from decimal import Decimal, InvalidOperation
from typing import Any

# A UTF-16 surrogate left alone in a str: JSON's "\ud800" escape without its pair (json.loads joins a pair into one
# character, so any surrogate a parsed str still holds is alone).
LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


def is_ascii_digits(text: str) -> bool:
    """True for a non-empty run of the digits 0-9 that `int()` takes: the check before `int()` of text someone sent.

    `str.isdigit()` alone also takes a superscript two, which `int()` then refuses (a 500 where a 400 was meant), and
    other scripts' digits, which `int()` reads as numbers nobody typed here. `int()` also refuses a run longer than
    sys.get_int_max_str_digits() (4,300 digits; the limit keeps it from spending quadratic time on one).
    """
    limit = sys.get_int_max_str_digits()
    return text.isascii() and text.isdigit() and (limit == 0 or len(text) <= limit)


def text_fault(text: str) -> str | None:
    """What makes a string from JSON unfit to keep or show, or None when it is fine.

    PostgreSQL's text and jsonb hold no NUL character, and a lone surrogate is not a character at all: UTF-8 cannot
    encode it, so neither the database nor a page can take it. Neither is anything a person types.
    """
    if "\x00" in text:
        return "must not contain a NUL character (\\u0000)"
    if LONE_SURROGATE.search(text):
        return "must not contain a lone surrogate (\\ud800 to \\udfff without its pair): it is not a character"
    return None


def to_decimal(value: Any) -> Decimal | None:
    """Return a finite Decimal for a number or numeric string ("150.00"), else None (booleans are not numbers)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        return Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            return None
    else:
        return None
    return result if result.is_finite() else None


def is_number(value: Any) -> bool:
    """Return True for a JSON number that is finite (booleans are not numbers)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and to_decimal(value) is not None


def normalize_id(value: Any) -> str | None:
    """Return a Shopify id as text: ints as digits, gid://shopify/Product/123 as 123, other text trimmed."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("gid://"):
            text = text.rsplit("/", 1)[-1]
        return text or None
    return None


def folded(text: str) -> str:
    """Return text trimmed and lower-case, as tags, tier names and discount codes compare."""
    return text.strip().lower()


def parse_when(text: str) -> dt.date | dt.datetime | None:
    """Return a date for "2024-12-24", a datetime (naive or aware) for a date-time, None when not ISO 8601."""
    if not isinstance(text, str):
        return None
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return None


def parse_clock(text: Any) -> int | None:
    """Return minutes after midnight for "HH:MM" (00:00 to 23:59), else None."""
    if not isinstance(text, str) or len(text) != 5 or text[2] != ":":
        return None
    hours, minutes = text[:2], text[3:]
    if not (is_ascii_digits(hours) and is_ascii_digits(minutes)):
        return None
    if int(hours) > 23 or int(minutes) > 59:
        return None
    return int(hours) * 60 + int(minutes)
