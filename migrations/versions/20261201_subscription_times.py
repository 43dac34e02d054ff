"""shops.subscription_created_at and subscription_updated_at: which app_subscriptions/update is the newer one

Shopify delivers app_subscriptions/update out of order and retries a failed one for up to 48 hours. A retried ACTIVE
of the subscription a merchant switched away from made it the shop's current one again, and a retried FROZEN undid
the ACTIVE that came after it. The current subscription's created_at and the updated_at of the last update applied
to it let app.loyalty.base.plans ignore both. Existing shops start with neither (NULL): only the ended-subscription
rule applies to them until their next update or /billing/confirm records the times.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("shops", sa.Column("subscription_created_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("shops", sa.Column("subscription_updated_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("shops", "subscription_updated_at")
    op.drop_column("shops", "subscription_created_at")
