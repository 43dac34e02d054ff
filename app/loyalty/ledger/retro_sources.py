"""Where retroactive credits sit in the ledger: a source naming both their batch and their business object.

Kept apart from rule_retro so that refunds can find an order's retroactive credits without importing the rule
machinery.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import PointsTransaction

RETRO_SOURCE = "rule_retro"


def retro_source(batch_id: uuid.UUID, business: tuple[str, str]) -> tuple[str, str]:
    """The ledger source of a retroactive credit: its batch and the business object it was for."""
    return (RETRO_SOURCE, f"{batch_id}:{business[0]}:{business[1]}")


def retro_sources(
    session: Session, *, shop_id: int, profile_id: int, business: tuple[str, str]
) -> list[tuple[str, str]]:
    """Every retroactive batch's ledger source that credited this profile for this business object."""
    suffix = f":{business[0]}:{business[1]}"
    found = session.execute(
        select(PointsTransaction.source_id)
        .where(
            PointsTransaction.shop_id == shop_id,
            PointsTransaction.profile_id == profile_id,
            PointsTransaction.source_type == RETRO_SOURCE,
            PointsTransaction.source_id.endswith(suffix, autoescape=True),
        )
        .distinct()
        .order_by(PointsTransaction.source_id)
    ).scalars()
    return [(RETRO_SOURCE, source_id) for source_id in found]
