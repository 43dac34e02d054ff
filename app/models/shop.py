"""A shop that installed the app, with its access token and its loyalty-programme policies."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, Integer, LargeBinary, Numeric, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, created_at_column


class Shop(Base):
    __tablename__ = "shops"
    __table_args__ = (
        CheckConstraint("points_expiry_policy IN ('never', 'after_earning', 'inactivity')", name="expiry_policy"),
        CheckConstraint("points_expiry_policy = 'never' OR points_expiry_days > 0", name="expiry_days_set"),
        CheckConstraint("return_window_days >= 0", name="return_window_nonnegative"),
        CheckConstraint("negative_balance_policy IN ('cap', 'allow')", name="negative_balance_policy"),
        CheckConstraint("redemption_points_per_unit > 0", name="redemption_rate_positive"),
        CheckConstraint("tier_basis IN ('points_earned', 'amount_spent', 'orders_placed')", name="tier_basis"),
        CheckConstraint("tier_period IN ('lifetime', 'calendar_year', 'rolling_12_months')", name="tier_period"),
        CheckConstraint("orders_earn_on IN ('created', 'paid', 'fulfilled')", name="orders_earn_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    domain: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str | None] = mapped_column(String(255))
    currency: Mapped[str] = mapped_column(String(3), server_default="USD")
    timezone: Mapped[str] = mapped_column(String(64), server_default="UTC")

    # Admin API credentials (offline token; expiring tokens carry a refresh token).
    access_token: Mapped[str | None] = mapped_column(Text)
    access_token_expires_at: Mapped[datetime | None]
    refresh_token: Mapped[str | None] = mapped_column(Text)
    refresh_token_expires_at: Mapped[datetime | None]
    scopes: Mapped[str | None] = mapped_column(Text)
    installed_at: Mapped[datetime | None]
    uninstalled_at: Mapped[datetime | None]
    # The key of the shop's redacted_customers hashes, made at its first customers/redact (gdpr.redaction).
    redaction_salt: Mapped[bytes | None] = mapped_column(LargeBinary)

    # Points policies.
    points_expiry_policy: Mapped[str] = mapped_column(String(16), server_default="never")
    points_expiry_days: Mapped[int | None] = mapped_column(Integer)
    return_window_days: Mapped[int] = mapped_column(Integer, server_default="0")
    negative_balance_policy: Mapped[str] = mapped_column(String(8), server_default="cap")
    refund_redeemed_points: Mapped[bool] = mapped_column(server_default=text("false"))
    # Orders Shopify marks `test: true` (placed with a test gateway) earn nothing unless this is on.
    test_orders_earn: Mapped[bool] = mapped_column(server_default=text("false"))
    # Which of an order's topics earns it its points: orders/create ("created"), orders/paid ("paid") or
    # orders/fulfilled ("fulfilled"); the order's other topics record it without earning (app.loyalty.base.
    # order_earning).
    orders_earn_on: Mapped[str] = mapped_column(String(16), server_default="created")
    # How many points buy one unit of the shop's currency (100 points = 1.00 by default); the liability rate.
    redemption_points_per_unit: Mapped[Decimal] = mapped_column(Numeric(12, 4), server_default="100")

    # Tier ladder basis and period (the ladder itself is tier_definitions).
    tier_basis: Mapped[str] = mapped_column(String(16), server_default="points_earned")
    tier_period: Mapped[str] = mapped_column(String(20), server_default="lifetime")

    # Referral programme settings, validated by app.loyalty.referrals.links.
    referral_settings: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))

    # Billing (app/shopify/billing.py): the plan in force and the Shopify AppSubscription behind a paid one.
    billing_plan: Mapped[str] = mapped_column(String(32), server_default="free")
    subscription_id: Mapped[str | None] = mapped_column(String(128))
    subscription_status: Mapped[str | None] = mapped_column(String(32))
    # Shopify's created_at of that subscription, and the updated_at of the last app_subscriptions/update applied to
    # it: webhooks arrive out of order and retried, so an older subscription or an older update must not win.
    subscription_created_at: Mapped[datetime | None]
    subscription_updated_at: Mapped[datetime | None]

    # Bumped in the same transaction as any rule change: every process's cached rule set is keyed by it.
    rules_revision: Mapped[int] = mapped_column(server_default="0")
    # What shoppers call the points ("Stars"), in the storefront API and the widgets.
    points_name: Mapped[str] = mapped_column(String(40), server_default="Points")
    # Raised by database triggers (migration 0004) with every change to the shop's tiers or rewards: the
    # storefront's cached answers are keyed by it.
    programme_revision: Mapped[int] = mapped_column(server_default="0")

    created_at: Mapped[datetime] = created_at_column()
