"""Reward definitions and the redemptions that spend points on them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, created_at_column

REWARD_KINDS = ("fixed_amount", "percentage", "free_shipping", "free_product", "points_to_amount")
REDEMPTION_STATUSES = ("pending", "posted", "failed", "cancelled", "expired", "used")


class RewardDefinition(Base):
    __tablename__ = "reward_definitions"
    __table_args__ = (
        # Names are unique ignoring case: shoppers would see "Free shipping" and "free shipping" as one reward twice.
        Index("uq_reward_definitions_shop_id_lower_name", "shop_id", text("lower(name)"), unique=True),
        CheckConstraint(
            "kind IN ('fixed_amount', 'percentage', 'free_shipping', 'free_product', 'points_to_amount')", name="kind"
        ),
        CheckConstraint("points_cost > 0", name="points_cost_positive"),
        CheckConstraint("value IS NULL OR value >= 0", name="value_nonnegative"),
        CheckConstraint("kind <> 'percentage' OR (value > 0 AND value <= 100)", name="percentage_range"),
        CheckConstraint("min_order_amount IS NULL OR min_order_amount >= 0", name="min_order_nonnegative"),
        CheckConstraint("per_customer_limit IS NULL OR per_customer_limit > 0", name="limit_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(24))
    # Points per redemption; for points_to_amount, the points of one step.
    points_cost: Mapped[int]
    # Amount off, percent off, or for points_to_amount the amount one step buys.
    value: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    max_steps: Mapped[int | None] = mapped_column(Integer)
    variant_id: Mapped[str | None] = mapped_column(String(64))
    min_order_amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    per_customer_limit: Mapped[int | None] = mapped_column(Integer)
    code_expiry_days: Mapped[int | None] = mapped_column(Integer)
    min_tier_level: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(server_default=text("true"))
    settings: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = created_at_column()


class RedemptionLog(Base):
    """A spend of points on a reward; `pending` until the discount code exists in Shopify (L14)."""

    __tablename__ = "redemption_logs"
    __table_args__ = (
        UniqueConstraint("shop_id", "code"),
        UniqueConstraint("shop_id", "profile_id", "idempotency_key"),
        CheckConstraint("points_spent >= 0", name="points_nonnegative"),
        CheckConstraint("status IN ('pending', 'posted', 'failed', 'cancelled', 'expired', 'used')", name="status"),
        Index(None, "shop_id", "profile_id", "created_at"),
        Index(None, "shop_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    profile_id: Mapped[int] = mapped_column(ForeignKey("customer_loyalty_profiles.id", ondelete="CASCADE"))
    reward_id: Mapped[int] = mapped_column(ForeignKey("reward_definitions.id"))
    points_spent: Mapped[int]
    # Steps bought of a points_to_amount reward (1 for every other kind).
    steps: Mapped[int] = mapped_column(Integer, server_default="1")
    # The balance right after the debit: a replayed request (same idempotency key) answers with the first result.
    balance_after: Mapped[int | None]
    value: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    code: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    # The client's idempotency key and a hash of its input: same key + other input is a conflict (L13).
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    shopify_discount_id: Mapped[str | None] = mapped_column(String(255))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    used_on_order_id: Mapped[str | None] = mapped_column(String(64))
    # Granted by a rule's issue_reward action rather than bought with points.
    granted_by_rule_id: Mapped[int | None] = mapped_column(ForeignKey("rules.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime | None]
    settled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
