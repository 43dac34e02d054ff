"""Defining the shop's tier ladder: validated, saved by name so members keep their tier row, audited.

After a save the caller runs `tiers.recalculate_all` (the Huey task does it in chunks): a ladder change is the one
time members move between tiers outside an event or a period end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.loyalty.base.errors import InvalidInput, ShopNotFound
from app.models import AuditLog, Shop, TierDefinition
from app.rules.values import to_decimal

BASES = ("points_earned", "amount_spent", "orders_placed")
PERIODS = ("lifetime", "calendar_year", "rolling_12_months")
# A tier earns at most this many times the points (tier_definitions.earn_multiplier is NUMERIC(6, 3)).
MAX_EARN_MULTIPLIER = Decimal(100)


@dataclass(frozen=True)
class TierSpec:
    name: str
    level: int
    threshold: Decimal | str | int
    retention_threshold: Decimal | str | int | None = None
    earn_multiplier: Decimal | str | int = 1
    benefits: dict[str, Any] = field(default_factory=dict)


def _number(where: str, raw: object) -> Decimal:
    if isinstance(raw, float | bool):
        raise InvalidInput(f"{where} must be a whole or decimal number written as a string, got {raw!r}")
    value = to_decimal(raw)
    if value is None:
        raise InvalidInput(f"{where} must be a number, got {raw!r}")
    return value


def validate_ladder(specs: Sequence[TierSpec]) -> list[dict[str, Any]]:
    """The ladder as rows, lowest level first, or InvalidInput naming the tier and field."""
    rows: list[dict[str, Any]] = []
    for index, spec in enumerate(specs):
        where = f"tiers[{index}]"
        name = (spec.name or "").strip()
        if not name or len(name) > 64:
            raise InvalidInput(f"{where}.name must be 1-64 characters")
        if isinstance(spec.level, bool) or not isinstance(spec.level, int) or spec.level < 0:
            raise InvalidInput(f"{where}.level must be a whole number of at least 0, got {spec.level!r}")
        threshold = _number(f"{where}.threshold", spec.threshold)
        if threshold < 0:
            raise InvalidInput(f"{where}.threshold must not be negative")
        retention = None
        if spec.retention_threshold is not None:
            retention = _number(f"{where}.retention_threshold", spec.retention_threshold)
            if not Decimal(0) <= retention <= threshold:
                raise InvalidInput(f"{where}.retention_threshold must be between 0 and the entry threshold")
        multiplier = _number(f"{where}.earn_multiplier", spec.earn_multiplier)
        if not Decimal(0) < multiplier <= MAX_EARN_MULTIPLIER:
            raise InvalidInput(f"{where}.earn_multiplier must be greater than 0 and at most {MAX_EARN_MULTIPLIER}")
        rows.append(
            {
                "name": name,
                "level": spec.level,
                "threshold": threshold,
                "retention_threshold": retention,
                "earn_multiplier": multiplier,
                "benefits": dict(spec.benefits),
            }
        )
    names = [row["name"].lower() for row in rows]
    if len(set(names)) != len(names):
        raise InvalidInput("tier names must be unique")
    if len({row["level"] for row in rows}) != len(rows):
        raise InvalidInput("tier levels must be unique")
    rows.sort(key=lambda row: row["level"])
    for lower, higher in zip(rows, rows[1:], strict=False):
        if higher["threshold"] <= lower["threshold"]:
            raise InvalidInput(
                f"tier {higher['name']!r} (level {higher['level']}) must need more than {lower['name']!r} "
                f"({lower['threshold']})"
            )
    return rows


def save_ladder(
    session: Session,
    *,
    shop_id: int,
    specs: Sequence[TierSpec],
    actor: str,
    now: datetime,
    basis: str | None = None,
    period: str | None = None,
) -> list[TierDefinition]:
    """Replace the shop's ladder (and optionally its basis and period), validated first.

    Tiers are matched by name, so a tier whose thresholds change keeps its members; a tier left out is deleted and
    its members are placed afresh by recalculation.
    """
    shop = session.get(Shop, shop_id, with_for_update=True)
    if shop is None:
        raise ShopNotFound(shop_id)
    if basis is not None and basis not in BASES:
        raise InvalidInput(f"basis must be one of {', '.join(BASES)}, got {basis!r}")
    if period is not None and period not in PERIODS:
        raise InvalidInput(f"period must be one of {', '.join(PERIODS)}, got {period!r}")
    rows = validate_ladder(specs)
    existing = {
        tier.name.lower(): tier
        for tier in session.execute(select(TierDefinition).where(TierDefinition.shop_id == shop_id)).scalars()
    }
    wanted = {row["name"].lower() for row in rows}
    for key, tier in existing.items():
        if key not in wanted:
            session.delete(tier)
        else:
            tier.level = -tier.id  # out of the way of the unique (shop, level) while levels move
    session.flush()
    saved: list[TierDefinition] = []
    for row in rows:
        tier = existing.get(row["name"].lower())
        if tier is None:
            tier = TierDefinition(shop_id=shop_id, created_at=now)
            session.add(tier)
        for column, value in row.items():
            setattr(tier, column, value)
        saved.append(tier)
    if basis is not None:
        shop.tier_basis = basis
    if period is not None:
        shop.tier_period = period
    session.add(
        AuditLog(
            shop_id=shop_id,
            actor=actor,
            action="tier_ladder_changed",
            subject_type="shop",
            subject_id=str(shop_id),
            details={
                "basis": shop.tier_basis,
                "period": shop.tier_period,
                "tiers": [
                    {
                        **row,
                        "threshold": str(row["threshold"]),
                        "retention_threshold": None
                        if row["retention_threshold"] is None
                        else str(row["retention_threshold"]),
                        "earn_multiplier": str(row["earn_multiplier"]),
                    }
                    for row in rows
                ],
            },
            created_at=now,
        )
    )
    session.flush()
    return saved
