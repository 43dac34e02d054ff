"""rule_backtests.progress_at: when the worker last reported on a running backtest, so a run whose worker died is
found and marked failed instead of showing a progress bar that never moves

Revision ID: 0017
Revises: 0011
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("rule_backtests", sa.Column("progress_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("rule_backtests", "progress_at")
