"""A customer's loyalty profile: the stored balances the ledger keeps in step, and what the rules know of them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, created_at_column


class CustomerLoyaltyProfile(Base):
    __tablename__ = "customer_loyalty_profiles"
    __table_args__ = (
        UniqueConstraint("shop_id", "customer_id"),
        CheckConstraint("points_pending >= 0", name="pending_nonnegative"),
        CheckConstraint("lifetime_earned >= 0", name="lifetime_earned_nonnegative"),
        CheckConstraint("lifetime_redeemed >= 0", name="lifetime_redeemed_nonnegative"),
        CheckConstraint("orders_count >= 0", name="orders_count_nonnegative"),
        # The CSV import matches lower(email) within a shop. Email leads so that the unique (shop_id, customer_id)
        # index stays the only one starting with shop_id: on a table younger than its statistics the planner took a
        # (shop_id, email) index for the consumer's lock of (shop_id, customer_id) pairs (migration 0020).
        Index("ix_customer_loyalty_profiles_lower_email", text("lower(email)"), "shop_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    # Shopify customer id as a string (ids exceed 2^53); after GDPR redaction a tombstone such as "redacted:<uuid>".
    customer_id: Mapped[str] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(320))
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    tags: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))

    points_balance: Mapped[int] = mapped_column(server_default="0")
    points_pending: Mapped[int] = mapped_column(server_default="0")
    lifetime_earned: Mapped[int] = mapped_column(server_default="0")
    lifetime_redeemed: Mapped[int] = mapped_column(server_default="0")
    orders_count: Mapped[int] = mapped_column(Integer, server_default="0")
    total_spent: Mapped[Decimal] = mapped_column(Numeric(14, 2), server_default="0")

    # The tier that applies (multiplier, storefront, metafields, rule facts): the higher of the earned tier and a
    # tier set by hand while it holds. app.loyalty.tiers.membership.apply_tiers writes it with the earned tier.
    current_tier_id: Mapped[int | None] = mapped_column(ForeignKey("tier_definitions.id", ondelete="SET NULL"))
    # The tier the member holds by their own doing (upgrades by earning, kept at period reviews), whatever a tier set
    # by hand does: what they go back to when an override ends. Equal to current_tier_id without an override.
    earned_tier_id: Mapped[int | None] = mapped_column(ForeignKey("tier_definitions.id", ondelete="SET NULL"))
    # When the earned tier was reached (None: never reached one).
    tier_achieved_at: Mapped[datetime | None]
    # End of the earned tier's period: when it is next checked against its retention threshold (None: never, e.g. a
    # lifetime period or no earned tier). Set on every change of the earned tier and at each period roll.
    tier_review_at: Mapped[datetime | None]
    # A tier set by hand (app.loyalty.tiers.overrides): a floor under the earned tier until manual_tier_until, when
    # the period sweep drops it. All three are None without an override.
    manual_tier_id: Mapped[int | None] = mapped_column(ForeignKey("tier_definitions.id", ondelete="SET NULL"))
    manual_tier_until: Mapped[datetime | None]
    manual_tier_set_by: Mapped[str | None] = mapped_column(String(255))
    referred_by_profile_id: Mapped[int | None] = mapped_column(
        ForeignKey("customer_loyalty_profiles.id", ondelete="SET NULL")
    )
    last_activity_at: Mapped[datetime | None]
    redacted_at: Mapped[datetime | None]
    # When Shopify's customers/delete arrived: contact fields and tags are cleared, the ledger stays.
    deleted_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)

    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = created_at_column()


class Order(Base):
    """One Shopify order as the loyalty programme saw it: what it earned, under which rule versions, what came back.

    Refunds are prorated from `points_earned` here (what the order actually earned), never from today's rules.
    """

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("shop_id", "order_id"),
        CheckConstraint("total >= 0", name="total_nonnegative"),
        CheckConstraint("refunded_amount >= 0", name="refunded_nonnegative"),
        Index(None, "shop_id", "profile_id", "placed_at"),
        # The admin dashboard's revenue over a date range.
        Index(None, "shop_id", "placed_at", postgresql_include=["total", "profile_id"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    profile_id: Mapped[int | None] = mapped_column(ForeignKey("customer_loyalty_profiles.id", ondelete="SET NULL"))
    order_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[str | None] = mapped_column(String(3))
    total: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    subtotal: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    refunded_amount: Mapped[Decimal] = mapped_column(Numeric(14, 2), server_default="0")
    points_earned: Mapped[int] = mapped_column(server_default="0")
    points_reversed: Mapped[int] = mapped_column(server_default="0")
    discount_codes: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))
    placed_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()


class RedactedCustomer(Base):
    """A customer the shop redacted (customers/redact), kept only as a keyed hash of their Shopify id (HMAC-SHA256
    under the shop's `redaction_salt`): a payload that arrives for them later (an old order archived or refunded)
    writes nothing of them again, and the id itself is not kept."""

    __tablename__ = "redacted_customers"

    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)
    customer_key: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    redacted_at: Mapped[datetime]
