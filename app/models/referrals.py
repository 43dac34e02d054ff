"""Referral links, their clicks, and the conversions (rewarded or blocked with a reason)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, created_at_column


class ReferralLink(Base):
    __tablename__ = "referral_links"
    __table_args__ = (UniqueConstraint("shop_id", "code"), UniqueConstraint("shop_id", "profile_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    profile_id: Mapped[int] = mapped_column(ForeignKey("customer_loyalty_profiles.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = created_at_column()


class ReferralClick(Base):
    __tablename__ = "referral_clicks"
    __table_args__ = (Index(None, "shop_id", "link_id", "clicked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    link_id: Mapped[int] = mapped_column(ForeignKey("referral_links.id", ondelete="CASCADE"))
    # SHA-256 of the IP with a per-shop salt: enough to spot repeats, not to recover the address.
    ip_hash: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(Text)
    landing_page: Mapped[str | None] = mapped_column(Text)
    clicked_at: Mapped[datetime]


class ReferralConversion(Base):
    __tablename__ = "referral_conversions"
    __table_args__ = (
        UniqueConstraint("shop_id", "order_id"),
        # reversed: the friend's order was cancelled or fully refunded, and the referral's points were taken back.
        # rejected: a blocked conversion the merchant refused on review (an approved one goes on as pending/rewarded).
        CheckConstraint("status IN ('pending', 'rewarded', 'blocked', 'reversed', 'rejected')", name="status"),
        Index(None, "shop_id", "advocate_profile_id", "created_at"),
        Index(None, "shop_id", "friend_profile_id"),
        CheckConstraint("advocate_points >= 0 AND friend_points >= 0", name="points_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    link_id: Mapped[int] = mapped_column(ForeignKey("referral_links.id", ondelete="CASCADE"))
    advocate_profile_id: Mapped[int] = mapped_column(ForeignKey("customer_loyalty_profiles.id", ondelete="CASCADE"))
    friend_profile_id: Mapped[int | None] = mapped_column(
        ForeignKey("customer_loyalty_profiles.id", ondelete="SET NULL")
    )
    order_id: Mapped[str] = mapped_column(String(64))
    order_total: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    status: Mapped[str] = mapped_column(String(16))
    # A fixed code (self_referral, daily_limit, not_first_order, order_below_minimum) then ": " and a detail that
    # names no personal data (it outlives a GDPR redaction).
    block_reason: Mapped[str | None] = mapped_column(Text)
    # The order event that converted: the cause of the ledger credits (L5).
    event_id: Mapped[uuid.UUID | None]
    advocate_points: Mapped[int] = mapped_column(server_default="0")
    friend_points: Mapped[int] = mapped_column(server_default="0")
    friend_redemption_id: Mapped[int | None] = mapped_column(ForeignKey("redemption_logs.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at_column()
    # The merchant's review of a blocked conversion: approved or rejected, by which staff member, when, and why.
    review_decision: Mapped[str | None] = mapped_column(String(16))
    reviewed_by: Mapped[str | None] = mapped_column(String(255))
    reviewed_at: Mapped[datetime | None]
    review_reason: Mapped[str | None] = mapped_column(Text)
