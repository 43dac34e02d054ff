"""An order payload's money and currency, checked before anything is written, and its name: what the orders table
can hold.

Shopify sends money as decimal strings ("150.00"). A value that is present but is not a finite, non-negative amount
of at most MAX_AMOUNT (a comma decimal, "NaN", "1e309", a negative total) or a currency that is not a three-letter
code can never be applied, however often it is retried: it raises Unprocessable naming the field, and the consumer
dead-letters the event at once. An absent amount counts as 0, as it always has. Here in the base so that a dry run
(rulebook) refuses the orders processing would, with the same words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from app.loyalty.base.outcome import Unprocessable
from app.rules.values import to_decimal

# orders.total and orders.subtotal are NUMERIC(14, 2).
MAX_AMOUNT = Decimal("999999999999.99")
CENT = Decimal("0.01")
CURRENCY = re.compile(r"^[A-Z]{3}$")
# orders.name is VARCHAR(64). Shopify's names are "#1001" with the shop's prefix and suffix.
MAX_NAME_LENGTH = 64


@dataclass(frozen=True)
class OrderAmounts:
    total: Decimal
    subtotal: Decimal
    currency: str | None


def order_amounts(order: dict[str, Any]) -> OrderAmounts:
    """The order's total, subtotal (the total when absent) and currency, or Unprocessable naming the bad field."""
    total = _amount(order, "total_price") or Decimal(0)
    subtotal = _amount(order, "subtotal_price")
    return OrderAmounts(
        total=total, subtotal=total if subtotal is None else subtotal, currency=_currency(order.get("currency"))
    )


def order_name(order: dict[str, Any]) -> str | None:
    """The order's name as the admin shows it: a label, so one that is not text is left out and a longer one is cut
    (never a reason to refuse the order)."""
    name = order.get("name")
    return name[:MAX_NAME_LENGTH] if isinstance(name, str) and name else None


def _amount(order: dict[str, Any], field: str) -> Decimal | None:
    raw = order.get(field)
    if raw is None or raw == "":
        return None
    amount = to_decimal(raw)
    if amount is None:
        raise Unprocessable(f'{field} {str(raw)[:40]!r} is not an amount (a decimal number such as "150.00")')
    if amount < 0:
        raise Unprocessable(f"{field} {str(raw)[:40]!r} is negative")
    if amount > MAX_AMOUNT:
        raise Unprocessable(f"{field} {str(raw)[:40]!r} is larger than {MAX_AMOUNT}")
    return amount.quantize(CENT)


def _currency(raw: Any) -> str | None:
    if raw is None or raw == "":
        return None
    code = str(raw).strip().upper()
    if not CURRENCY.match(code):
        raise Unprocessable(f"currency {str(raw)[:40]!r} is not a three-letter ISO 4217 code")
    return code
