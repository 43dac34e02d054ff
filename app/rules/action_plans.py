"""Compile validated action JSON into plans: what each action awards or does, and how its points are rounded."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from types import MappingProxyType
from typing import Any

from app.rules.event_context import EventContext
from app.rules.values import to_decimal

ROUNDING_MODES = {"floor": ROUND_FLOOR, "round": ROUND_HALF_UP, "ceil": ROUND_CEILING}

Base = Callable[[EventContext], Decimal | None]


@dataclass(frozen=True, slots=True)
class ActionPlan:
    """One compiled action. Point actions have `base` (points before multipliers, None = nothing to award)."""

    index: int
    type: str
    reason: str | None
    params: Mapping[str, Any]
    base: Base | None = None
    rounding: str = ROUND_FLOOR
    factor: Decimal | None = None
    fixed: int | None = None  # a `points` amount, used as is when the multiplier is 1 and no budget caps it
    amount: Decimal | None = None  # the same amount as a Decimal, to multiply

    @property
    def earns_points(self) -> bool:
        """True for actions that award points (and so take the tier multiplier and multiply factors)."""
        return self.base is not None


def compile_actions(actions: tuple[dict[str, Any], ...], rule_name: str) -> tuple[ActionPlan, ...]:
    """Return one plan per action, in the rule's order."""
    return tuple(_compile_action(index, action, rule_name) for index, action in enumerate(actions))


def _compile_action(index: int, action: dict[str, Any], rule_name: str) -> ActionPlan:
    kind = action["type"]
    params = MappingProxyType({key: value for key, value in action.items() if key not in ("type", "amount", "reason")})
    reason = action.get("reason")
    if kind == "points":
        amount = Decimal(action["amount"])
        return ActionPlan(
            index, kind, reason or rule_name, params, base=lambda ctx: amount, fixed=action["amount"], amount=amount
        )
    if kind == "points_per_currency":
        return ActionPlan(
            index,
            kind,
            reason or rule_name,
            params,
            base=_per_currency(action),
            rounding=ROUNDING_MODES[action["rounding"]],
        )
    if kind == "referral_advocate_points":
        amount = Decimal(action["amount"])
        return ActionPlan(
            index,
            kind,
            reason or f"Referral: {rule_name}",
            params,
            base=lambda ctx: amount if ctx.customer is not None and ctx.customer.referred else None,
        )
    if kind == "multiply":
        return ActionPlan(index, kind, reason, params, factor=to_decimal(action["factor"]))
    return ActionPlan(index, kind, reason, params)


def _per_currency(action: dict[str, Any]) -> Base:
    rate = to_decimal(action["rate"])
    cap = Decimal(action["max_points"]) if "max_points" in action else None
    basis = "order_subtotal" if action["basis"] == "subtotal" else "order_total"

    def base(ctx: EventContext) -> Decimal | None:
        amount = getattr(ctx, basis)
        if amount is None:
            return None
        points = amount * rate
        return points if cap is None or points <= cap else cap

    return base
