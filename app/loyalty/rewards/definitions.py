"""Reward definitions: what points buy, validated, always looked up within one shop.

Kinds: `fixed_amount` (value = amount off), `percentage` (value = percent off, 0-100], `free_shipping`,
`free_product` (variant_id), `points_to_amount` (points_cost buys `value` off per step, 1..max_steps steps, less
than AMOUNT_LIMIT off in all: most_steps).
A reward of another shop is "unknown reward" (RewardNotFound, 404), never a hint that it exists. Names are unique
within a shop ignoring case, as tier names are: shoppers cannot tell "Free shipping" from "free shipping".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.loyalty.base.errors import InvalidInput, RewardNotFound
from app.models import RewardDefinition
from app.models.base import MAX_BIGINT
from app.models.rewards import REWARD_KINDS
from app.rules.values import is_ascii_digits, to_decimal

MONEY = Decimal("0.01")
# value and min_order_amount are NUMERIC(14, 2), and so is a redemption's value (value times steps): from 10**12 on,
# PostgreSQL refuses the row (and past 28 digits quantize() itself raises).
AMOUNT_LIMIT = Decimal(10**12)
# A code is issued expiring now + this many days: years longer is a code that never expires, and far enough
# (2.9 million days) the expiry is past year 9999 and the redemption fails.
MAX_CODE_EXPIRY_DAYS = 3650


@dataclass(frozen=True)
class RewardSpec:
    """A reward as the merchant defines it (admin form, CLI, API)."""

    name: str
    kind: str
    points_cost: int
    value: Decimal | str | int | None = None
    max_steps: int | None = None
    variant_id: str | None = None
    min_order_amount: Decimal | str | int | None = None
    per_customer_limit: int | None = None
    code_expiry_days: int | None = None
    min_tier_level: int | None = None
    active: bool = True
    settings: dict[str, Any] = field(default_factory=dict)


def _decimal(name: str, raw: Decimal | str | int | None) -> Decimal | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, float):
        raise InvalidInput(f"{name}: pass money as a string or Decimal, not a float")
    value = to_decimal(raw)
    if value is None:
        raise InvalidInput(f"{name}: {raw!r} is not a number")
    rounded = value.quantize(MONEY) if abs(value) < AMOUNT_LIMIT else value
    if abs(rounded) >= AMOUNT_LIMIT:  # 999999999999.999 rounds up to the limit
        raise InvalidInput(f"{name}: {raw} is too large; an amount must be less than {AMOUNT_LIMIT:,}")
    return rounded


def _positive_int(name: str, raw: int | None, *, required: bool = False, maximum: int | None = None) -> int | None:
    if raw is None:
        if required:
            raise InvalidInput(f"{name} is required")
        return None
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise InvalidInput(f"{name} must be a whole number, got {raw!r}")
    if raw <= 0:
        raise InvalidInput(f"{name} must be greater than zero, got {raw}")
    if maximum is not None and raw > maximum:
        raise InvalidInput(f"{name} must be at most {maximum:,}, got {raw:,}")
    return raw


def validate(spec: RewardSpec) -> dict[str, Any]:
    """The spec as model columns, or InvalidInput naming the first bad field."""
    name = (spec.name or "").strip()
    if not name or len(name) > 255:
        raise InvalidInput("name must be 1-255 characters")
    if spec.kind not in REWARD_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(REWARD_KINDS)}, got {spec.kind!r}")
    points_cost = _positive_int("points_cost", spec.points_cost, required=True)
    value = _decimal("value", spec.value)
    if spec.kind in ("fixed_amount", "points_to_amount") and (value is None or value <= 0):
        raise InvalidInput(f"value: a {spec.kind} reward needs an amount greater than zero")
    if spec.kind == "percentage" and (value is None or not Decimal(0) < value <= Decimal(100)):
        raise InvalidInput("value: a percentage reward needs a percent in (0, 100]")
    if spec.kind in ("free_shipping", "free_product") and value is not None:
        raise InvalidInput(f"value: a {spec.kind} reward has no value")
    variant_id = (spec.variant_id or "").strip() or None
    if spec.kind == "free_product" and (variant_id is None or not is_ascii_digits(variant_id)):
        raise InvalidInput("variant_id: a free_product reward needs the numeric Shopify variant id")
    if spec.kind != "free_product" and variant_id is not None:
        raise InvalidInput("variant_id applies only to free_product rewards")
    max_steps = _positive_int("max_steps", spec.max_steps)
    if spec.kind != "points_to_amount" and max_steps is not None:
        raise InvalidInput("max_steps applies only to points_to_amount rewards")
    if max_steps is not None and value is not None and max_steps > (most := most_steps(value)):
        raise InvalidInput(
            f"max_steps: {max_steps:,} steps of {value:,} come to {value * max_steps:,} off, and one redemption must "
            f"be less than {AMOUNT_LIMIT:,} off; allow at most {most:,} steps"
        )
    min_order = _decimal("min_order_amount", spec.min_order_amount)
    if min_order is not None and min_order < 0:
        raise InvalidInput("min_order_amount must not be negative")
    if spec.min_tier_level is not None and (isinstance(spec.min_tier_level, bool) or spec.min_tier_level < 0):
        raise InvalidInput("min_tier_level must not be negative")
    return {
        "name": name,
        "kind": spec.kind,
        "points_cost": points_cost,
        "value": value,
        "max_steps": max_steps,
        "variant_id": variant_id,
        "min_order_amount": min_order,
        "per_customer_limit": _positive_int("per_customer_limit", spec.per_customer_limit),
        "code_expiry_days": _positive_int("code_expiry_days", spec.code_expiry_days, maximum=MAX_CODE_EXPIRY_DAYS),
        "min_tier_level": spec.min_tier_level,
        "active": bool(spec.active),
        "settings": dict(spec.settings),
    }


# The unique index on (shop_id, lower(name)) (migration 0024): names are the same name whatever their case.
NAME_INDEX = "uq_reward_definitions_shop_id_lower_name"


def _name_holder(session: Session, shop_id: int, name: str, except_id: int | None = None) -> str | None:
    """The name, as written, of the shop's reward that already has this name ignoring case (None: it is free).
    lower() in SQL on both sides, so the check and the unique index agree on every character."""
    query = select(RewardDefinition.name).where(
        RewardDefinition.shop_id == shop_id, func.lower(RewardDefinition.name) == func.lower(name)
    )
    if except_id is not None:
        query = query.where(RewardDefinition.id != except_id)
    return session.execute(query.limit(1)).scalar_one_or_none()


def _name_taken_error(name: str, holder: str) -> InvalidInput:
    ignoring_case = "" if holder == name else " (names ignore case)"
    return InvalidInput(f"name: a reward named {holder!r} already exists{ignoring_case}")


def _write_unless_name_taken(
    session: Session, *, shop_id: int, name: str, except_id: int | None, change: Callable[[], None]
) -> None:
    """Make the change and flush it in a savepoint: a name another transaction took since _name_holder looked (two
    admins, or a double submit) is the same InvalidInput, not a unique violation that aborts the caller's
    transaction."""
    try:
        with session.begin_nested():
            change()
    except IntegrityError as error:
        if getattr(error.orig.diag, "constraint_name", None) != NAME_INDEX:  # type: ignore[union-attr]
            raise
        # The index waited for the other writer to commit, so a fresh read sees the name it wrote.
        holder = _name_holder(session, shop_id, name, except_id) or name
        raise _name_taken_error(name, holder) from None


def create_reward(session: Session, *, shop_id: int, spec: RewardSpec) -> RewardDefinition:
    """Add a validated reward to the shop (InvalidInput on a bad field or a name already used, in any case)."""
    columns = validate(spec)
    name = columns["name"]
    if (holder := _name_holder(session, shop_id, name)) is not None:
        raise _name_taken_error(name, holder)
    reward = RewardDefinition(shop_id=shop_id, **columns)
    _write_unless_name_taken(session, shop_id=shop_id, name=name, except_id=None, change=lambda: session.add(reward))
    return reward


def update_reward(session: Session, *, shop_id: int, reward_id: int, spec: RewardSpec) -> RewardDefinition:
    """Replace a reward's definition; codes already issued keep the terms they were issued with. The name must not
    be another reward's in any case; changing the case of its own is fine."""
    reward = get_reward(session, shop_id=shop_id, reward_id=reward_id)
    columns = validate(spec)
    name = columns["name"]
    if (holder := _name_holder(session, shop_id, name, except_id=reward.id)) is not None:
        raise _name_taken_error(name, holder)

    def change() -> None:
        for key, value in columns.items():
            setattr(reward, key, value)

    _write_unless_name_taken(session, shop_id=shop_id, name=name, except_id=reward.id, change=change)
    return reward


def set_active(session: Session, *, shop_id: int, reward_id: int, active: bool) -> RewardDefinition:
    """Turn a reward on or off (rewards with redemptions are deactivated, never deleted)."""
    reward = get_reward(session, shop_id=shop_id, reward_id=reward_id)
    reward.active = active
    session.flush()
    return reward


def get_reward(session: Session, *, shop_id: int, reward_id: int, lock: bool = False) -> RewardDefinition:
    """The shop's reward, or RewardNotFound (also for another shop's id or a malformed id)."""
    if isinstance(reward_id, bool) or not isinstance(reward_id, int) or not 0 < reward_id <= MAX_BIGINT:
        raise RewardNotFound(reward_id)
    query = select(RewardDefinition).where(RewardDefinition.shop_id == shop_id, RewardDefinition.id == reward_id)
    if lock:
        query = query.with_for_update()
    reward = session.execute(query).scalar_one_or_none()
    if reward is None:
        raise RewardNotFound(reward_id)
    return reward


def list_rewards(session: Session, *, shop_id: int, active_only: bool = True) -> list[RewardDefinition]:
    """The shop's rewards, cheapest first."""
    query = select(RewardDefinition).where(RewardDefinition.shop_id == shop_id)
    if active_only:
        query = query.where(RewardDefinition.active.is_(True))
    return list(session.execute(query.order_by(RewardDefinition.points_cost, RewardDefinition.id)).scalars())


def most_steps(value: Decimal) -> int:
    """The most steps of `value` off one redemption of a points_to_amount reward may take: the redemption's value,
    value times steps, is NUMERIC(14, 2) as well."""
    return int((AMOUNT_LIMIT - MONEY) // value)


def redemption_value(reward: RewardDefinition, steps: int) -> Decimal | None:
    """The discount one redemption gives: amount off, percent off, or None (free shipping / free product)."""
    if reward.value is None:
        return None
    value = Decimal(reward.value)
    return (value * steps).quantize(MONEY) if reward.kind == "points_to_amount" else value
