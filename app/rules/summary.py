"""Rules in words: what a shopper does to earn, generated from the stored rule definitions (the rule language of
DESIGN.md), so "ways to earn" is never written a second time by hand. Pure: a definition in, a sentence out.

Only actions that give the customer points make a way to earn (`points`, `points_per_currency`); a rule with only a
`multiply`, `tag_customer` or `webhook` action is not something a shopper can act on, and is left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

# What the shopper does, per event type; an event type not listed reads as its own name.
EVENT_PHRASES = {
    "order_created": "Place an order",
    "order_paid": "Pay for an order",
    "customer_created": "Create an account",
    "referral_converted": "Refer a friend who orders",
}
CONDITION_PHRASES = {
    "order_total": "order total",
    "order_subtotal": "order subtotal",
    "customer_order_count": "orders placed",
    "customer_lifetime_spend": "total spent",
}
COMPARISONS = {">=": "at least", ">": "over", "<=": "at most", "<": "under", "==": "exactly"}


@dataclass(frozen=True)
class EarnWay:
    title: str
    description: str
    # A fixed award, when the rule gives one (None for points per amount spent).
    points: int | None
    # Points per unit of currency spent, when the rule gives them on every order (no conditions): what lets a
    # checkout tell a guest what this order would earn.
    points_per_unit: Decimal | None = None


def _number(value: Any) -> str:
    number = Decimal(str(value))
    return f"{number:,.2f}" if number != number.to_integral_value() else f"{number:,.0f}"


def _condition_phrases(group: dict[str, Any] | None, currency: str) -> list[str]:
    """The leaves of an `and` group that a shopper understands; `or`/`not` groups are summed up as conditions."""
    if not group:
        return []
    if group.get("operator") not in (None, "and"):
        return ["conditions apply"]
    phrases: list[str] = []
    for leaf in group.get("conditions", []):
        kind = leaf.get("type")
        if "conditions" in leaf:
            phrases.extend(_condition_phrases(leaf, currency))
        elif kind == "frequency" and leaf.get("value") == 1 and leaf.get("operator", "==") == "==":
            phrases.append("on your first one")
        elif kind in CONDITION_PHRASES and leaf.get("operator", "==") in COMPARISONS:
            money = kind in ("order_total", "order_subtotal", "customer_lifetime_spend")
            amount = f"{_number(leaf['value'])}{' ' + currency if money else ''}"
            phrases.append(f"{CONDITION_PHRASES[kind]} {COMPARISONS[leaf.get('operator', '==')]} {amount}")
        elif kind == "day_of_week":
            phrases.append("on " + ", ".join(str(day).capitalize() for day in leaf.get("value", [])))
        else:
            phrases.append("conditions apply")
    return list(dict.fromkeys(phrases))


def _award(action: dict[str, Any], points_name: str, currency: str) -> tuple[str, int | None] | None:
    if action.get("type") == "points":
        return f"{int(action['amount']):,} {points_name}", int(action["amount"])
    if action.get("type") == "points_per_currency":
        cap = f" (up to {int(action['max_points']):,})" if action.get("max_points") else ""
        return f"{_number(action['rate'])} {points_name} per 1 {currency} spent{cap}", None
    return None


def describe_rule(definition: dict[str, Any], *, points_name: str, currency: str) -> EarnWay | None:
    """One way to earn from one rule definition, or None when the rule gives the customer no points."""
    awards = [award for action in definition.get("actions", []) if (award := _award(action, points_name, currency))]
    if not awards:
        return None
    events = definition.get("event_types") or ["order_created"]
    title = " or ".join(EVENT_PHRASES.get(event, event.replace("_", " ").capitalize()) for event in events)
    conditions = _condition_phrases(definition.get("conditions"), currency)
    fixed = [points for _, points in awards if points is not None]
    description = "Earn " + " and ".join(text for text, _ in awards)
    if conditions:
        description += " — " + "; ".join(conditions)
    rates = [Decimal(str(a["rate"])) for a in definition.get("actions", []) if a.get("type") == "points_per_currency"]
    return EarnWay(
        title=title,
        description=description,
        points=sum(fixed) if len(fixed) == len(awards) else None,
        points_per_unit=sum(rates, Decimal(0)) if rates and not definition.get("conditions") else None,
    )


def ways_to_earn(definitions: list[dict[str, Any]], *, points_name: str, currency: str) -> list[EarnWay]:
    """Every way to earn of the given (active) rules, in the order given."""
    ways = (describe_rule(d, points_name=points_name, currency=currency) for d in definitions)
    return [way for way in ways if way is not None]
