"""customer_loyalty_profiles: a tier set by hand until a date (manual_tier_id, manual_tier_until, manual_tier_set_by)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "customer_loyalty_profiles",
        sa.Column("manual_tier_id", sa.BigInteger(), sa.ForeignKey("tier_definitions.id", ondelete="SET NULL")),
    )
    op.add_column("customer_loyalty_profiles", sa.Column("manual_tier_until", sa.DateTime(timezone=True)))
    op.add_column("customer_loyalty_profiles", sa.Column("manual_tier_set_by", sa.String(255)))


def downgrade() -> None:
    op.drop_column("customer_loyalty_profiles", "manual_tier_set_by")
    op.drop_column("customer_loyalty_profiles", "manual_tier_until")
    op.drop_column("customer_loyalty_profiles", "manual_tier_id")
