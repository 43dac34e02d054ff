"""reward_definitions: names unique ignoring case, as tier names are

A shop could define "Free shipping" and "free shipping", which shoppers see as the same reward twice. The unique
(shop_id, name) constraint becomes a unique index on (shop_id, lower(name)). Names a shop already holds that differ
only in case are renamed first: the oldest reward (lowest id) keeps its name, each later one gets the first free
" (2)", " (3)", … (free ignoring case as well, the name shortened to keep within 255 characters). The rename rewrites
the reward row, so the storefront's kept answers stop matching (migration 0004's trigger bumps the shop's
programme_revision). Downgrading restores the exact-case constraint and keeps the new names.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

NAME_LENGTH = 255


def upgrade() -> None:
    connection = op.get_bind()
    # The app may be running (the release phase): no reward is written between the renames and the index.
    op.execute("LOCK TABLE reward_definitions IN SHARE ROW EXCLUSIVE MODE")
    # Every reward of the shops that hold a clash, oldest first: the renames must also miss their other names.
    rows = connection.execute(
        sa.text(
            """
            SELECT id, shop_id, name, lower(name) AS folded FROM reward_definitions
             WHERE shop_id IN (SELECT shop_id FROM reward_definitions
                                GROUP BY shop_id, lower(name) HAVING count(*) > 1)
             ORDER BY shop_id, id
            """
        )
    ).all()
    taken: dict[int, set[str]] = {}
    for row in rows:
        taken.setdefault(row.shop_id, set()).add(row.folded)
    kept: set[tuple[int, str]] = set()
    for row in rows:
        if (row.shop_id, row.folded) not in kept:
            kept.add((row.shop_id, row.folded))  # the oldest of its name keeps it
            continue
        number = 2
        while True:
            suffix = f" ({number})"
            candidate = row.name[: NAME_LENGTH - len(suffix)] + suffix
            folded = _lower(connection, candidate)
            if folded not in taken[row.shop_id]:
                break
            number += 1
        taken[row.shop_id].add(folded)
        connection.execute(
            sa.text("UPDATE reward_definitions SET name = :name WHERE id = :id"), {"name": candidate, "id": row.id}
        )
    op.drop_constraint("uq_reward_definitions_shop_id_name", "reward_definitions", type_="unique")
    op.create_index(
        "uq_reward_definitions_shop_id_lower_name",
        "reward_definitions",
        ["shop_id", sa.text("lower(name)")],
        unique=True,
    )


def _lower(connection: sa.Connection, name: str) -> str:
    """PostgreSQL's lower(), the one the index uses (Python's lower() differs on a few characters)."""
    return connection.execute(sa.text("SELECT lower(:name)"), {"name": name}).scalar_one()


def downgrade() -> None:
    op.drop_index("uq_reward_definitions_shop_id_lower_name", table_name="reward_definitions")
    op.create_unique_constraint("uq_reward_definitions_shop_id_name", "reward_definitions", ["shop_id", "name"])
