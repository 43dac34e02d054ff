"""shops.orders_earn_on: which order topic earns (created, paid or fulfilled); customer_loyalty_profiles.deleted_at:
when Shopify's customers/delete arrived (the profile stays for its ledger, its contact fields and tags cleared)

Revision ID: 0014
Revises: 0017
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # 'created' is what every shop earned on before this setting existed: a migration must not move anyone's points.
    op.add_column("shops", sa.Column("orders_earn_on", sa.String(16), server_default="created", nullable=False))
    op.create_check_constraint("ck_shops_orders_earn_on", "shops", "orders_earn_on IN ('created', 'paid', 'fulfilled')")
    op.add_column("customer_loyalty_profiles", sa.Column("deleted_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("customer_loyalty_profiles", "deleted_at")
    op.drop_constraint("ck_shops_orders_earn_on", "shops", type_="check")
    op.drop_column("shops", "orders_earn_on")
