"""redacted_customers: a keyed hash of each customer a shop redacted, so later payloads write nothing of them

customers/redact renamed the profile to a random tombstone, so an order webhook for the same customer arriving
afterwards (an old order archived, a late refund) found no profile and created a new one with their email and
names. The shop's `redaction_salt` keys the hashes; the Shopify id itself is not kept.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("shops", sa.Column("redaction_salt", sa.LargeBinary(), nullable=True))
    op.create_table(
        "redacted_customers",
        sa.Column("shop_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_key", sa.LargeBinary(), nullable=False),
        sa.Column("redacted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_redacted_customers_shop_id_shops"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("shop_id", "customer_key", name=op.f("pk_redacted_customers")),
    )


def downgrade() -> None:
    op.drop_table("redacted_customers")
    op.drop_column("shops", "redaction_salt")
