"""Rule versions as an older release stored them: straight to the tables, validated by no bound of today's."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.loyalty.rulebook.versions import checksum
from app.models import Rule, RuleVersion, Shop

SAVED_AT = datetime(2025, 6, 1, tzinfo=timezone.utc)

# Past a bound that only refuses absurd new input: each runs as saved (amount up to the engine's award cap).
RUNS_AS_SAVED = {
    "amount": {"name": "Big bonus", "actions": [{"type": "points", "amount": 5_000_000_000}]},
    "rate": {"name": "Big rate", "actions": [{"type": "points_per_currency", "rate": 50_000}]},
    "factor": {"name": "Times 200", "actions": [{"type": "multiply", "factor": 200}]},
    "per_customer": {
        "name": "Often",
        "limits": {"per_customer": 10**12, "per_customer_period": "day"},
        "actions": [{"type": "points", "amount": 3}],
    },
}
# Past a bound that keeps arithmetic in range: neither can run.
CANNOT_RUN = {
    # A look-back of 800,000 days from 2026 starts before year 1; the bound is 36,600.
    "within_days": {
        "name": "Loyal for ages",
        "conditions": {
            "operator": "and",
            "conditions": [{"type": "frequency", "event_type": "order_created", "value": 1, "within_days": 800_000}],
        },
        "actions": [{"type": "points", "amount": 7}],
    },
    # Issued as is when nothing multiplies it: past a ledger entry's bigint.
    "amount": {"name": "Absurd bonus", "actions": [{"type": "points", "amount": 10**19}]},
}


def store_old_version(session: Session, shop: Shop, definition: dict[str, Any], *, status: str = "active") -> Rule:
    """Write a rule and its version 1 as an older release did, bump the shop's rules revision, and commit."""
    definition = {"status": status, **definition}
    row = Rule(
        shop_id=shop.id,
        name=definition["name"],
        status=status,
        priority=0,
        current_version=1,
        definition=definition,
        points_issued=0,
        created_at=SAVED_AT,
        updated_at=SAVED_AT,
    )
    session.add(row)
    session.flush()
    session.add(
        RuleVersion(
            shop_id=shop.id,
            rule_id=row.id,
            version=1,
            definition=definition,
            checksum=checksum(definition),
            created_by="an older release",
            created_at=SAVED_AT,
        )
    )
    session.execute(update(Shop).where(Shop.id == shop.id).values(rules_revision=Shop.rules_revision + 1))
    session.commit()
    return row
