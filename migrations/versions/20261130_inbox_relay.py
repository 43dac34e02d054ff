"""the relay's work list: inbox rows not yet on the stream

/webhooks only commits the inbox row; the relay inside each `stream` process (app/events/relay.py) puts rows on the
Redis stream in id order and sets `published_at` in the same transaction. This partial index holds only the rows
still waiting for that, so the relay's poll stays one small index read however large the inbox grows. Rows pending
from before this revision have no `published_at` and are streamed once more: a duplicate the dedupe row absorbs.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_event_queue_unpublished",
        "event_queue",
        ["id"],
        postgresql_where=sa.text("status = 'pending' AND published_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_event_queue_unpublished", table_name="event_queue")
