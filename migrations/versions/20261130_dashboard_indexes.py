"""indexes for the admin dashboard's date-range aggregates

The dashboard sums a shop's ledger entries and orders over a date range (app.loyalty.reports.dashboard). Without
these it reads every entry of the shop; with them, only the range, from the index alone (the summed columns are
included). bench/dashboard.py measures it on a shop with a million entries.

Revision ID: 0005
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_points_transactions_shop_id_created_at"),
        "points_transactions",
        ["shop_id", "created_at"],
        postgresql_include=["kind", "points", "rule_id"],
    )
    op.create_index(
        op.f("ix_orders_shop_id_placed_at"),
        "orders",
        ["shop_id", "placed_at"],
        postgresql_include=["total", "profile_id"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_orders_shop_id_placed_at"), table_name="orders")
    op.drop_index(op.f("ix_points_transactions_shop_id_created_at"), table_name="points_transactions")
