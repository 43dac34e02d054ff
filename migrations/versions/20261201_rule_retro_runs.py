"""rule_retro_runs: the retroactive run of "Go live" and its undo run on the worker, in chunks, with their progress

It ran inside the admin's request, one transaction over every past event of the range (about 4 to 6 ms an event),
so a range of more than a few thousand orders outlasted gunicorn's 30 s and rolled back whole, holding the locks of
every customer it had reached meanwhile; its undo did the same one customer at a time.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rule_retro_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("shop_id", sa.BigInteger(), nullable=False),
        sa.Column("rule_id", sa.BigInteger(), nullable=False),
        sa.Column("rule_version", sa.BigInteger(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="queued", nullable=False),
        sa.Column("owner", sa.Uuid(), nullable=True),
        sa.Column("cursor_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cursor_id", sa.BigInteger(), nullable=True),
        sa.Column("events_done", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("events_total", sa.BigInteger(), nullable=True),
        sa.Column("credits", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("points", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("duplicates", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("skipped_actions", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("undone_by", sa.String(length=255), nullable=True),
        sa.Column("undo_cursor", sa.BigInteger(), nullable=True),
        sa.Column("undo_customers", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("undo_claimed", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("undo_reversed", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("undo_shortfall", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("progress_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed', 'undoing', 'undone')",
            name=op.f("ck_rule_retro_runs_status"),
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_rule_retro_runs_shop_id_shops"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["rules.id"], name=op.f("fk_rule_retro_runs_rule_id_rules"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_retro_runs")),
    )
    op.create_index(
        op.f("ix_rule_retro_runs_shop_id_created_at"), "rule_retro_runs", ["shop_id", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_rule_retro_runs_shop_id_created_at"), table_name="rule_retro_runs")
    op.drop_table("rule_retro_runs")
