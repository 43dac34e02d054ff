"""storefront: the points name shoppers see, and a revision of the programme that storefront caches are keyed by

`shops.programme_revision` goes up in the same transaction as any change to the shop's tiers or rewards (row triggers
below), so a cached storefront answer built from an older programme is simply never read again: no invalidation call
that a code path could forget. Rules already have `shops.rules_revision`; they are left out here because every
event that fires a rule updates its `points_issued` counter, and a trigger would then lock the shop row per event.

Revision ID: 0004
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0006"
branch_labels = None
depends_on = None

PROGRAMME_TABLES = ("tier_definitions", "reward_definitions")


def upgrade() -> None:
    op.add_column("shops", sa.Column("points_name", sa.String(40), nullable=False, server_default="Points"))
    op.add_column("shops", sa.Column("programme_revision", sa.BigInteger(), nullable=False, server_default="0"))
    op.execute(
        """
        CREATE FUNCTION bump_programme_revision() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE shops SET programme_revision = programme_revision + 1
             WHERE id = CASE WHEN TG_OP = 'DELETE' THEN OLD.shop_id ELSE NEW.shop_id END;
            RETURN NULL;
        END;
        $$;
        """
    )
    for table in PROGRAMME_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_bump_programme_revision AFTER INSERT OR UPDATE OR DELETE ON {table}"
            " FOR EACH ROW EXECUTE FUNCTION bump_programme_revision()"
        )


def downgrade() -> None:
    for table in PROGRAMME_TABLES:
        op.execute(f"DROP TRIGGER {table}_bump_programme_revision ON {table}")
    op.execute("DROP FUNCTION bump_programme_revision()")
    op.drop_column("shops", "programme_revision")
    op.drop_column("shops", "points_name")
