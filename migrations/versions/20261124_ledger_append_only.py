"""ledger entries are append-only: refuse UPDATE and DELETE on points_transactions (invariant L2)

Defence in depth behind the services, which only ever insert. Two exceptions, each allowed only inside a
transaction that announces it with SET LOCAL:
- `loyalty.shop_redact = 'on'`: deleting a whole shop (shop/redact) cascades to its entries;
- `loyalty.gdpr_redact = 'on'`: customers/redact may rewrite the free text of an entry (`reason`, `details`,
  where a merchant may have typed a name), and nothing else: amounts, keys and causes never change.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION points_transactions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' AND current_setting('loyalty.shop_redact', true) = 'on' THEN
                RETURN OLD;
            END IF;
            IF TG_OP = 'UPDATE' AND current_setting('loyalty.gdpr_redact', true) = 'on'
               AND (to_jsonb(NEW) - 'reason' - 'details') = (to_jsonb(OLD) - 'reason' - 'details') THEN
                RETURN NEW;
            END IF;
            RAISE EXCEPTION 'points_transactions is append-only: % refused (post a correcting entry instead)', TG_OP
                USING ERRCODE = 'restrict_violation';
        END;
        $$;
        """
    )
    op.execute(
        """
        CREATE TRIGGER points_transactions_append_only
        BEFORE UPDATE OR DELETE ON points_transactions
        FOR EACH ROW EXECUTE FUNCTION points_transactions_append_only();
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER points_transactions_append_only ON points_transactions")
    op.execute("DROP FUNCTION points_transactions_append_only()")
