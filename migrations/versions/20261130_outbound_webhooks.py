"""outbound webhooks: encrypted secrets, auto-disable bookkeeping, one delivery per event and endpoint

Revision ID: 0007
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A Fernet token of a 32-byte secret is longer than the 128 characters the column had.
    op.alter_column("webhook_endpoints", "secret", type_=sa.Text(), existing_nullable=False)
    op.add_column("webhook_endpoints", sa.Column("description", sa.Text(), nullable=True))
    op.add_column(
        "webhook_endpoints", sa.Column("consecutive_failures", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column("webhook_endpoints", sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("webhook_endpoints", sa.Column("disabled_reason", sa.Text(), nullable=True))

    op.add_column(
        "webhook_deliveries",
        sa.Column("delivery_id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
    )
    op.add_column("webhook_deliveries", sa.Column("topic", sa.String(length=64), server_default="", nullable=False))
    op.add_column(
        "webhook_deliveries", sa.Column("dedupe_key", sa.String(length=255), server_default="", nullable=False)
    )
    op.add_column("webhook_deliveries", sa.Column("response_ms", sa.Integer(), nullable=True))
    op.create_unique_constraint(op.f("uq_webhook_deliveries_delivery_id"), "webhook_deliveries", ["delivery_id"])
    op.create_unique_constraint(
        op.f("uq_webhook_deliveries_endpoint_id_dedupe_key"), "webhook_deliveries", ["endpoint_id", "dedupe_key"]
    )
    op.create_index(
        op.f("ix_webhook_deliveries_next_attempt_at"),
        "webhook_deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_webhook_deliveries_next_attempt_at"), table_name="webhook_deliveries")
    op.drop_constraint(op.f("uq_webhook_deliveries_endpoint_id_dedupe_key"), "webhook_deliveries", type_="unique")
    op.drop_constraint(op.f("uq_webhook_deliveries_delivery_id"), "webhook_deliveries", type_="unique")
    for column in ("response_ms", "dedupe_key", "topic", "delivery_id"):
        op.drop_column("webhook_deliveries", column)
    for column in ("disabled_reason", "disabled_at", "consecutive_failures", "description"):
        op.drop_column("webhook_endpoints", column)
    # Encrypted secrets do not fit 128 characters: endpoints made since the upgrade must be recreated.
    op.execute("DELETE FROM webhook_endpoints WHERE length(secret) > 128")
    op.alter_column("webhook_endpoints", "secret", type_=sa.String(length=128), existing_nullable=False)
