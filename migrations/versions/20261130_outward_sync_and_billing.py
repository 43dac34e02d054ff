"""customer sync staged by the database, and the shop's billing plan

- A trigger on customer_loyalty_profiles upserts one `customer.sync` outbox row per customer whenever the balance,
  the pending points or the tier changes (app/tasks/customer_sync.py sends it to Shopify). One row per customer,
  whose `revision` grows with each change: a burst of orders is one pending row, and the latest state wins. Every
  code path that moves a balance is covered because the database, not each caller, stages it. A redacted profile
  stages nothing.
- shops.billing_plan (free by default), subscription_id and subscription_status (app/shopify/billing.py).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("shops", sa.Column("billing_plan", sa.String(32), server_default="free", nullable=False))
    op.add_column("shops", sa.Column("subscription_id", sa.String(128), nullable=True))
    op.add_column("shops", sa.Column("subscription_status", sa.String(32), nullable=True))
    op.execute(
        """
        CREATE FUNCTION stage_customer_sync() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.redacted_at IS NOT NULL THEN
                RETURN NEW;
            END IF;
            INSERT INTO outbox (shop_id, kind, dedupe_key, payload, status, next_attempt_at)
            VALUES (NEW.shop_id, 'customer.sync', 'customer_sync:' || NEW.id,
                    jsonb_build_object('profile_id', NEW.id, 'revision', 1), 'pending', now())
            ON CONFLICT (shop_id, dedupe_key) DO UPDATE SET
                payload = outbox.payload
                    || jsonb_build_object('revision', COALESCE((outbox.payload->>'revision')::bigint, 0) + 1),
                attempts = CASE WHEN outbox.status = 'pending' THEN outbox.attempts ELSE 0 END,
                next_attempt_at = CASE WHEN outbox.status = 'pending'
                                       THEN LEAST(outbox.next_attempt_at, now()) ELSE now() END,
                status = 'pending',
                done_at = NULL,
                last_error = NULL;
            RETURN NEW;
        END;
        $$;
        """
    )
    op.execute(
        """
        CREATE TRIGGER customer_loyalty_profiles_stage_sync
        AFTER UPDATE OF points_balance, points_pending, current_tier_id ON customer_loyalty_profiles
        FOR EACH ROW
        WHEN (OLD.points_balance IS DISTINCT FROM NEW.points_balance
              OR OLD.points_pending IS DISTINCT FROM NEW.points_pending
              OR OLD.current_tier_id IS DISTINCT FROM NEW.current_tier_id)
        EXECUTE FUNCTION stage_customer_sync();
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER customer_loyalty_profiles_stage_sync ON customer_loyalty_profiles")
    op.execute("DROP FUNCTION stage_customer_sync()")
    op.drop_column("shops", "subscription_status")
    op.drop_column("shops", "subscription_id")
    op.drop_column("shops", "billing_plan")
