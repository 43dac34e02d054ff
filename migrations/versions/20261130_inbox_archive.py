"""event_queue_archive and the event_history view: processed inbox rows older than a few weeks move out of the hot
table, so a year of events does not weigh on every webhook's INSERT; event_history reads both

Revision ID: 0013
Revises: 0015
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013"
down_revision = "0015"
branch_labels = None
depends_on = None

COLUMNS = (
    "id, event_id, shop_id, event_type, topic, customer_id, payload, webhook_id, occurred_at, received_at, status,"
    " published_at, processed_at, attempts, last_error"
)


def upgrade() -> None:
    op.create_table(
        "event_queue_archive",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("shop_id", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=True),
        sa.Column("customer_id", sa.String(length=64), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("webhook_id", sa.String(length=128), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_event_queue_archive_shop_id_shops"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_queue_archive")),
        sa.UniqueConstraint("event_id", name=op.f("uq_event_queue_archive_event_id")),
    )
    op.create_index(
        op.f("ix_event_queue_archive_shop_id_customer_id_event_type_occurred_at"),
        "event_queue_archive",
        ["shop_id", "customer_id", "event_type", "occurred_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_event_queue_archive_shop_id_occurred_at"),
        "event_queue_archive",
        ["shop_id", "occurred_at"],
        unique=False,
    )
    op.execute(
        f"CREATE VIEW event_history AS SELECT {COLUMNS} FROM event_queue"
        f" UNION ALL SELECT {COLUMNS} FROM event_queue_archive"
    )


def downgrade() -> None:
    op.execute("DROP VIEW event_history")
    op.execute(f"INSERT INTO event_queue ({COLUMNS}) SELECT {COLUMNS} FROM event_queue_archive")
    op.drop_table("event_queue_archive")
