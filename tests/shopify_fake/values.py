"""Admin API value formats shared by the resolvers: money, DateTime, connections and gids."""

from __future__ import annotations

import base64
import re
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from graphql import GraphQLError

CUSTOMER_GID = re.compile(r"^gid://shopify/Customer/[0-9]+$")
GID = re.compile(r"^gid://shopify/([A-Za-z]+)/([0-9]+)$")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    """Shopify's DateTime format: UTC, whole seconds, with a Z."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_iso(text: str) -> datetime:
    """Parses an ISO 8601 DateTime; one without an offset is taken as UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def decimal_string(value: Any) -> str:
    """A Decimal as the Admin API prints it: plain digits, at least one decimal place ("5.0", "10.25")."""
    text = format(Decimal(str(value)).normalize(), "f")
    return text if "." in text else f"{text}.0"


def money(amount: Any, currency: str) -> dict[str, Any]:
    return {"amount": decimal_string(amount), "currencyCode": currency}


def money_bag(amount: Any, currency: str) -> dict[str, Any]:
    return {"shopMoney": money(amount, currency), "presentmentMoney": money(amount, currency)}


def parse_decimal(value: Any) -> str:
    """Coerces a Decimal input (string or number) or refuses it the way a scalar does: a GraphQL error."""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise GraphQLError(f"invalid Decimal: {value!r}") from None
    if not number.is_finite():
        raise GraphQLError(f"invalid Decimal: {value!r}")
    return decimal_string(number)


def parse_datetime(value: Any) -> str:
    """Coerces an ISO 8601 DateTime input; refuses anything else as Shopify's DateTime scalar does."""
    try:
        return iso(from_iso(str(value)))
    except ValueError:
        raise GraphQLError(f"invalid DateTime: {value!r} (ISO 8601 expected)") from None


def parse_url(value: Any) -> str:
    if not isinstance(value, str) or not re.match(r"^https?://[^\s/]+", value):
        raise GraphQLError(f"invalid URL: {value!r}")
    return value


def parse_unsigned_int64(value: Any) -> int:
    text = str(value)
    if not text.isdigit() or int(text) >= 2**64:
        raise GraphQLError(f"invalid UnsignedInt64: {value!r}")
    return int(text)


def gid_kind(gid: str) -> str | None:
    """The object type a global id names (`Customer` for gid://shopify/Customer/1), or None if malformed."""
    match = GID.match(gid)
    return match.group(1) if match else None


def gid_number(gid: str) -> str:
    return gid.rsplit("/", 1)[1]


def connection(items: list[dict[str, Any]], *, has_next_page: bool = False, offset: int = 0) -> dict[str, Any]:
    """A Relay connection over `items` (both `edges` and `nodes`), cursors opaque as Shopify's are."""
    edges = [
        {"cursor": base64.urlsafe_b64encode(f"cursor:{offset + index}".encode()).decode(), "node": item}
        for index, item in enumerate(items)
    ]
    return {
        "edges": edges,
        "nodes": items,
        "pageInfo": {
            "hasNextPage": has_next_page,
            "hasPreviousPage": offset > 0,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }


def cursor_offset(cursor: str | None) -> int:
    """The position after `cursor`, or 0 for no cursor; a cursor the fake did not issue is a GraphQL error."""
    if cursor is None:
        return 0
    try:
        return int(base64.urlsafe_b64decode(cursor.encode()).decode().removeprefix("cursor:")) + 1
    except ValueError:
        raise GraphQLError(f"Invalid cursor: {cursor!r}") from None
