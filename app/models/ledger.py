"""The append-only points ledger, its lots (what each credit has left, and when it expires) and pending credits."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
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
        # The admin dashboard's sums over a date range (app.loyalty.reports.dashboard; bench/dashboard.py).
        Index(None, "shop_id", "created_at", postgresql_include=["kind", "points", "rule_id"]),
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
    source_id: Mapped[str | None] = mapped_column(String(128))
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
        CheckConstraint("reversed_points >= 0 AND reversed_points <= points", name="reversed_in_range"),
        Index(None, "shop_id", "profile_id", "earned_at"),
        Index(None, "shop_id", "expires_at", postgresql_where=text("remaining > 0")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    profile_id: Mapped[int] = mapped_column(ForeignKey("customer_loyalty_profiles.id", ondelete="CASCADE"))
    entry_id: Mapped[int] = mapped_column(ForeignKey("points_transactions.id"), unique=True)
    points: Mapped[int]
    remaining: Mapped[int]
    # How much of this credit reversals have claimed back (taken, or forgiven as a capped shortfall): never more
    # than the credit itself (L8, enforced here by a CHECK).
    reversed_points: Mapped[int] = mapped_column(server_default="0")
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
        CheckConstraint("points_cancelled >= 0 AND points_cancelled <= points", name="cancelled_in_range"),
        Index(None, "shop_id", "available_at", postgresql_where=text("status = 'pending'")),
        Index(None, "shop_id", "source_type", "source_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    profile_id: Mapped[int] = mapped_column(ForeignKey("customer_loyalty_profiles.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))
    points: Mapped[int]
    # Taken back by refunds or cancellations inside the return window; the rest is released.
    points_cancelled: Mapped[int] = mapped_column(server_default="0")
    idempotency_key: Mapped[str] = mapped_column(String(255))
    cause_type: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[uuid.UUID | None]
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("rules.id", ondelete="SET NULL"))
    rule_version_id: Mapped[int | None] = mapped_column(ForeignKey("rule_versions.id", ondelete="SET NULL"))
    redemption_id: Mapped[int | None] = mapped_column(ForeignKey("redemption_logs.id", ondelete="SET NULL"))
    actor: Mapped[str | None] = mapped_column(String(255))
    import_batch_id: Mapped[uuid.UUID | None]
    source_type: Mapped[str | None] = mapped_column(String(32))
    source_id: Mapped[str | None] = mapped_column(String(128))
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


REVERSAL_KINDS = ("refund", "cancellation", "import_reversal", "referral_reversal")


class LedgerReversal(Base):
    """One request to take points back (a refund, a cancellation, an import-batch reversal) and what came of it.

    The idempotency record of reversals: a second refund event for the same refund finds its row and does nothing.
    It is also where a reversal capped at zero is recorded honestly when nothing could be taken (a 0-point entry
    cannot exist): `points_claimed = pending_cancelled + points_reversed + shortfall`.
    """

    __tablename__ = "ledger_reversals"
    __table_args__ = (
        UniqueConstraint("shop_id", "idempotency_key"),
        CheckConstraint(_in("kind", REVERSAL_KINDS), name="kind"),
        CheckConstraint("basis IS NULL OR basis IN ('subtotal', 'total')", name="basis"),
        CheckConstraint("amount IS NULL OR amount >= 0", name="amount_nonnegative"),
        CheckConstraint(
            "points_claimed >= 0 AND pending_cancelled >= 0 AND points_reversed >= 0 AND shortfall >= 0"
            " AND redeemed_returned >= 0",
            name="points_nonnegative",
        ),
        CheckConstraint("points_claimed = pending_cancelled + points_reversed + shortfall", name="claim_accounted"),
        Index(None, "shop_id", "source_type", "source_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    profile_id: Mapped[int] = mapped_column(ForeignKey("customer_loyalty_profiles.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))
    # "refund:<refund id>", "cancellation:<order id>", "import_reversal:<batch id>:<profile id>",
    # "referral_reversal:<conversion id>:<profile id>".
    idempotency_key: Mapped[str] = mapped_column(String(255))
    source_type: Mapped[str] = mapped_column(String(32))
    source_id: Mapped[str] = mapped_column(String(128))
    refund_id: Mapped[str | None] = mapped_column(String(64))
    # The refunded money and what it is a share of (line-item subtotal or order total).
    amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    basis: Mapped[str | None] = mapped_column(String(8))
    event_id: Mapped[uuid.UUID | None]
    actor: Mapped[str | None] = mapped_column(String(255))
    points_claimed: Mapped[int] = mapped_column(server_default="0")
    pending_cancelled: Mapped[int] = mapped_column(server_default="0")
    points_reversed: Mapped[int] = mapped_column(server_default="0")
    shortfall: Mapped[int] = mapped_column(server_default="0")
    redeemed_returned: Mapped[int] = mapped_column(server_default="0")
    created_at: Mapped[datetime] = created_at_column()
