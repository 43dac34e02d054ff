"""The append-only points ledger, its lots (what each credit has left, and when it expires) and pending credits."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, created_at_column

ENTRY_KINDS = ("earn", "redeem", "reversal", "redemption_refund", "expiry", "adjustment", "import", "referral")
CAUSE_TYPES = ("event", "redemption", "admin", "import", "expiry", "system")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class PointsTransaction(Base):
    """One immutable ledger entry. A profile's balance is the sum of its entries (invariant L1).

    A database trigger (see the migration) refuses UPDATE and DELETE, so corrections are new entries that point at
    what they reverse (`reverses_id`).
    """

    __tablename__ = "points_transactions"
    __table_args__ = (
        UniqueConstraint("shop_id", "idempotency_key"),
        CheckConstraint("points <> 0", name="points_nonzero"),
        CheckConstraint(_in("kind", ENTRY_KINDS), name="kind"),
        CheckConstraint(_in("cause_type", CAUSE_TYPES), name="cause_type"),
        # Every entry names its cause (L5).
        CheckConstraint("cause_type <> 'event' OR event_id IS NOT NULL", name="event_cause"),
        CheckConstraint("cause_type <> 'redemption' OR redemption_id IS NOT NULL", name="redemption_cause"),
        CheckConstraint("cause_type <> 'admin' OR actor IS NOT NULL", name="admin_cause"),
        CheckConstraint("cause_type <> 'import' OR import_batch_id IS NOT NULL", name="import_cause"),
        Index(None, "shop_id", "profile_id", "id"),
        Index(None, "shop_id", "source_type", "source_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    profile_id: Mapped[int] = mapped_column(ForeignKey("customer_loyalty_profiles.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))
    points: Mapped[int]
    # Names the business cause and the rule action ("rule:7:a0:order:123"), never the webhook delivery (L3).
    idempotency_key: Mapped[str] = mapped_column(String(255))
    cause_type: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[uuid.UUID | None]
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("rules.id", ondelete="SET NULL"))
    rule_version_id: Mapped[int | None] = mapped_column(ForeignKey("rule_versions.id", ondelete="SET NULL"))
    redemption_id: Mapped[int | None] = mapped_column(ForeignKey("redemption_logs.id", ondelete="SET NULL"))
    actor: Mapped[str | None] = mapped_column(String(255))
    import_batch_id: Mapped[uuid.UUID | None]
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("points_transactions.id"))
    # The business object behind the entry: ("order", "820982911946154508"), ("refund", …), ("referral", …).
    source_type: Mapped[str | None] = mapped_column(String(32))
    source_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    # A reversal capped at the balance records what it could not take back.
    shortfall: Mapped[int] = mapped_column(server_default="0")
    details: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = created_at_column()


class PointsLot(Base):
    """What is left of one credit and when it expires; redemptions and expiry consume lots oldest first (L10)."""

    __tablename__ = "points_lots"
    __table_args__ = (
        CheckConstraint("points > 0", name="points_positive"),
        CheckConstraint("remaining >= 0 AND remaining <= points", name="remaining_in_range"),
        Index(None, "shop_id", "profile_id", "earned_at"),
        Index(None, "shop_id", "expires_at", postgresql_where=text("remaining > 0")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    profile_id: Mapped[int] = mapped_column(ForeignKey("customer_loyalty_profiles.id", ondelete="CASCADE"))
    entry_id: Mapped[int] = mapped_column(ForeignKey("points_transactions.id"), unique=True)
    points: Mapped[int]
    remaining: Mapped[int]
    earned_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    expired_at: Mapped[datetime | None]


class PendingCredit(Base):
    """Points earned by an order that are not spendable until the shop's return window passes.

    Not part of the ledger: releasing writes the ledger entry (same idempotency key), cancelling writes nothing.
    """

    __tablename__ = "pending_credits"
    __table_args__ = (
        UniqueConstraint("shop_id", "idempotency_key"),
        CheckConstraint("points > 0", name="points_positive"),
        CheckConstraint("status IN ('pending', 'released', 'cancelled')", name="status"),
        Index(None, "shop_id", "available_at", postgresql_where=text("status = 'pending'")),
        Index(None, "shop_id", "source_type", "source_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    profile_id: Mapped[int] = mapped_column(ForeignKey("customer_loyalty_profiles.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))
    points: Mapped[int]
    idempotency_key: Mapped[str] = mapped_column(String(255))
    cause_type: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[uuid.UUID | None]
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("rules.id", ondelete="SET NULL"))
    rule_version_id: Mapped[int | None] = mapped_column(ForeignKey("rule_versions.id", ondelete="SET NULL"))
    source_type: Mapped[str | None] = mapped_column(String(32))
    source_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    available_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("points_transactions.id"))
    created_at: Mapped[datetime] = created_at_column()


class ImportBatch(Base):
    """A CSV import of opening balances: reversible as one unit."""

    __tablename__ = "import_batches"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    actor: Mapped[str] = mapped_column(String(255))
    filename: Mapped[str | None] = mapped_column(String(255))
    rows: Mapped[int] = mapped_column(server_default="0")
    points: Mapped[int] = mapped_column(server_default="0")
    reversed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
