"""What a rule awards a shopper, read from its definition (the rule language of docs/rules.md): the storefront's "ways
to earn" come from the shop's active rules this way, never written by hand. The sentence that explains a rule comes
from the plain-language summary (`app.rules.summary.summarize`); this module only says which rules give points, how
many, and at what rate. Pure: a definition in, values out.

Only actions that give the customer points make a way to earn (`points`, `points_per_currency`); a rule with only a
`multiply`, `tag_customer` or `webhook` action is not something a shopper can act on, and is left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from app.rules.results import POINT_ACTIONS

# What the shopper does, per event type; an event type not listed reads as its own name.
EVENT_PHRASES = {
    "order_created": "Place an order",
    "order_paid": "Pay for an order",
    "customer_created": "Create an account",
    "referral_converted": "Refer a friend who orders",
}


@dataclass(frozen=True)
class EarnWay:
    title: str
    # A fixed award, when the rule gives only fixed awards (None for points per amount spent).
    points: int | None
    # Points per unit of currency spent, when the rule gives them on every order (no conditions): what lets a
    # checkout tell a guest what this order would earn.
    points_per_unit: Decimal | None
    # The rule as stored, for the builder's sentence.
    definition: dict[str, Any]
    currency: str


def earn_way(definition: dict[str, Any], *, currency: str) -> EarnWay | None:
    """The way to earn of one rule definition, or None when the rule gives the customer no points."""
    actions = [a for a in definition.get("actions", []) if a.get("type") in POINT_ACTIONS]
    if not actions:
        return None
    events = definition.get("event_types") or ["order_created"]
    title = " or ".join(EVENT_PHRASES.get(event, event.replace("_", " ").capitalize()) for event in events)
    fixed = [int(a["amount"]) for a in actions if a["type"] == "points"]
    rates = [Decimal(str(a["rate"])) for a in actions if a["type"] == "points_per_currency"]
    return EarnWay(
        title=title,
        points=sum(fixed) if not rates else None,
        points_per_unit=sum(rates, Decimal(0)) if rates and not definition.get("conditions") else None,
        definition=definition,
        currency=currency,
    )


def ways_to_earn(definitions: list[dict[str, Any]], *, currency: str) -> list[EarnWay]:
    """Every way to earn of the given (active) rules, in the order given."""
    ways = (earn_way(d, currency=currency) for d in definitions)
    return [way for way in ways if way is not None]
