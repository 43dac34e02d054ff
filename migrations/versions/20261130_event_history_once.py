"""event_history shows each event id once: an event delivered again after its first row was archived (a manual
replay, a redelivery weeks later) gets a new inbox row, which the consumer settles as a duplicate; until that row is
archived in its turn (and skipped there, the archive keeping the first), the view showed the event twice, so
backtests, retroactive runs, rule history and the GDPR export counted it twice. The archived row, the one that was
applied, is the one shown.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

COLUMNS = (
    "id, event_id, shop_id, event_type, topic, customer_id, payload, webhook_id, occurred_at, received_at, status,"
    " published_at, processed_at, attempts, last_error"
)


def upgrade() -> None:
    op.execute(
        f"CREATE OR REPLACE VIEW event_history AS SELECT {COLUMNS} FROM event_queue q"
        " WHERE NOT EXISTS (SELECT 1 FROM event_queue_archive a WHERE a.event_id = q.event_id)"
        f" UNION ALL SELECT {COLUMNS} FROM event_queue_archive"
    )


def downgrade() -> None:
    op.execute(
        f"CREATE OR REPLACE VIEW event_history AS SELECT {COLUMNS} FROM event_queue"
        f" UNION ALL SELECT {COLUMNS} FROM event_queue_archive"
    )
