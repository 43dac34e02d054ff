"""referral_conversions: the merchant's review of blocked conversions (decision, who, when, why; status rejected)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# The constraint's full name, as the naming convention made it (op.f marks it final; called inside upgrade and
# downgrade because `op` only exists while a migration runs, and alembic also imports this file just to read it).
STATUS = "ck_referral_conversions_status"


def upgrade() -> None:
    op.add_column("referral_conversions", sa.Column("review_decision", sa.String(16), nullable=True))
    op.add_column("referral_conversions", sa.Column("reviewed_by", sa.String(255), nullable=True))
    op.add_column("referral_conversions", sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("referral_conversions", sa.Column("review_reason", sa.Text(), nullable=True))
    op.drop_constraint(op.f(STATUS), "referral_conversions", type_="check")
    op.create_check_constraint(
        op.f(STATUS), "referral_conversions", "status IN ('pending', 'rewarded', 'blocked', 'reversed', 'rejected')"
    )


def downgrade() -> None:
    op.execute("UPDATE referral_conversions SET status = 'blocked' WHERE status = 'rejected'")
    op.drop_constraint(op.f(STATUS), "referral_conversions", type_="check")
    op.create_check_constraint(
        op.f(STATUS), "referral_conversions", "status IN ('pending', 'rewarded', 'blocked', 'reversed')"
    )
    for column in ("review_reason", "reviewed_at", "reviewed_by", "review_decision"):
        op.drop_column("referral_conversions", column)
