"""Rules as stored: the current definition, every immutable version, and each execution that fired."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, created_at_column


class Rule(Base):
    __tablename__ = "rules"
    __table_args__ = (
        UniqueConstraint("shop_id", "name"),
        CheckConstraint("status IN ('draft', 'active', 'paused', 'archived')", name="status"),
        Index(None, "shop_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), server_default="active")
    priority: Mapped[int] = mapped_column(Integer, server_default="0")
    current_version: Mapped[int] = mapped_column(Integer, server_default="1")
    definition: Mapped[dict[str, Any]]
    # Points issued so far, for `limits.budget_points`; updated under the row lock.
    points_issued: Mapped[int] = mapped_column(server_default="0")
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = created_at_column()


class RuleVersion(Base):
    __tablename__ = "rule_versions"
    __table_args__ = (UniqueConstraint("rule_id", "version"), Index(None, "shop_id", "rule_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    rule_id: Mapped[int] = mapped_column(ForeignKey("rules.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]]
    checksum: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = created_at_column()


class RuleExecution(Base):
    __tablename__ = "rule_executions"
    __table_args__ = (
        Index(None, "shop_id", "rule_id", "created_at"),
        Index(None, "shop_id", "event_id"),
        Index(None, "shop_id", "profile_id", "rule_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    rule_id: Mapped[int] = mapped_column(ForeignKey("rules.id", ondelete="CASCADE"))
    rule_version_id: Mapped[int] = mapped_column(ForeignKey("rule_versions.id", ondelete="CASCADE"))
    event_id: Mapped[uuid.UUID]
    profile_id: Mapped[int | None] = mapped_column(ForeignKey("customer_loyalty_profiles.id", ondelete="SET NULL"))
    fired: Mapped[bool]
    points: Mapped[int] = mapped_column(server_default="0")
    actions: Mapped[list[Any]]
    # {"skipped_reason": null | why it did not fire, "conditions": [trace nodes: pointer, type, operator, expected,
    # seen, held, children]}
    trace: Mapped[dict[str, Any] | None]
    duration_us: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_at_column()


class RuleBacktest(Base):
    """One backtest a merchant ran from the builder: the draft, the range, its progress, and its kept result."""

    __tablename__ = "rule_backtests"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed', 'cancelled')", name="status"),
        Index(None, "shop_id", "rule_name", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    rule_name: Mapped[str] = mapped_column(String(255))
    definition: Mapped[dict[str, Any]]
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), server_default="queued")
    cancel_requested: Mapped[bool] = mapped_column(server_default="false")
    events_done: Mapped[int] = mapped_column(server_default="0")
    events_total: Mapped[int | None]
    # BacktestResult as JSON (rulebook.backtest_runs.result_json) once done.
    result: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = created_at_column()
    finished_at: Mapped[datetime | None]
    # When the worker last reported on the run (claimed it, or finished a chunk): a running run silent for long had
    # its worker die (backtest_runs.fail_stalled_backtests).
    progress_at: Mapped[datetime | None]


class RuleRetroRun(Base):
    """One retroactive run of "Go live": a rule's version applied for real to the shop's past events of a range, by
    the worker, in chunks that each commit their credits together with the run's cursor and totals, so a run that
    stopped resumes after the last event it committed; then, when asked, its undo, the same way. Its id is the batch
    its credits' ledger source names."""

    __tablename__ = "rule_retro_runs"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed', 'undoing', 'undone')", name="status"),
        Index(None, "shop_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    rule_id: Mapped[int] = mapped_column(ForeignKey("rules.id", ondelete="CASCADE"))
    rule_version: Mapped[int]
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), server_default="queued")
    # The claim of the worker running it: a chunk of a worker whose claim was taken over (it went silent) stops.
    owner: Mapped[uuid.UUID | None]
    # The last event applied, in replay order (occurred_at, event history id); None before the first chunk.
    cursor_at: Mapped[datetime | None]
    cursor_id: Mapped[int | None]
    events_done: Mapped[int] = mapped_column(server_default="0")
    events_total: Mapped[int | None]
    credits: Mapped[int] = mapped_column(server_default="0")
    points: Mapped[int] = mapped_column(server_default="0")
    duplicates: Mapped[int] = mapped_column(server_default="0")
    skipped_actions: Mapped[int] = mapped_column(server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    # The undo (status undoing -> undone), by profile id order: who asked, the last profile done, what it took back.
    undone_by: Mapped[str | None] = mapped_column(String(255))
    undo_cursor: Mapped[int | None]
    undo_customers: Mapped[int] = mapped_column(server_default="0")
    undo_claimed: Mapped[int] = mapped_column(server_default="0")
    undo_reversed: Mapped[int] = mapped_column(server_default="0")
    undo_shortfall: Mapped[int] = mapped_column(server_default="0")
    undone_at: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = created_at_column()
    progress_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
