"""The ledger drift check: on a sample of shops, profiles whose stored balance differs from the sum of their ledger
entries (or whose open lots do not add up), kept in Redis for the `ledger_drift` alert.

Invariant L1 says this never happens; the check is how we would know if it did (a bug, a manual UPDATE, a restore).
The query is the ledger's own (`app.loyalty.ledger.drifted_profiles`); a sample per run keeps each run short, and
over a day of runs every shop is checked.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.loyalty.ledger import drifted_profiles
from app.models import Shop

SHOPS_PER_RUN = 25
PROFILES_LISTED = 20


def drift_key(namespace: str) -> str:
    return f"{namespace}:ledger-drift"


def check_sample(session: Session, *, now: datetime, shops: int = SHOPS_PER_RUN) -> dict[str, Any]:
    """Check up to `shops` installed shops, chosen at random; the report (drifted profile ids listed per shop)."""
    shop_ids = (
        session.execute(select(Shop.id).where(Shop.uninstalled_at.is_(None)).order_by(func.random()).limit(shops))
        .scalars()
        .all()
    )
    drifted = []
    for shop_id in shop_ids:
        profile_ids = drifted_profiles(session, shop_id=shop_id)
        if profile_ids:
            drifted.append(
                {"shop_id": shop_id, "profiles": len(profile_ids), "profile_ids": profile_ids[:PROFILES_LISTED]}
            )
    return {
        "checked_at": now.isoformat(),
        "shops_checked": len(shop_ids),
        "profiles": sum(entry["profiles"] for entry in drifted),
        "drifted": drifted,
    }


def record(client: redis.Redis, namespace: str, report: dict[str, Any]) -> None:
    client.set(drift_key(namespace), json.dumps(report))


def latest(client: redis.Redis, namespace: str) -> dict[str, Any] | None:
    """The last run's report, or None before the first run."""
    raw = client.get(drift_key(namespace))
    return None if raw is None else json.loads(raw)
