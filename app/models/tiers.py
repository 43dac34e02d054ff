"""The shop's tier ladder."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Integer, Numeric, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, created_at_column


class TierDefinition(Base):
    __tablename__ = "tier_definitions"
    __table_args__ = (
        UniqueConstraint("shop_id", "name"),
        UniqueConstraint("shop_id", "level"),
        CheckConstraint("threshold >= 0", name="threshold_nonnegative"),
        CheckConstraint("retention_threshold IS NULL OR retention_threshold >= 0", name="retention_nonnegative"),
        CheckConstraint("earn_multiplier > 0", name="multiplier_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    level: Mapped[int] = mapped_column(Integer)
    # In the unit of the shop's tier_basis: points earned, amount spent or orders placed within the tier period.
    threshold: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    # What keeps the tier at the end of a period; defaults to the entry threshold.
    retention_threshold: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    earn_multiplier: Mapped[Decimal] = mapped_column(Numeric(6, 3), server_default="1")
    benefits: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = created_at_column()
