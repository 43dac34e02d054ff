"""The audit log of staff actions: every change made in the admin adds one row, in the transaction of the change.

Who is the staff user of the session token (`g.staff_user_id`, from admin_required), recorded as `staff:<id>`;
what is `action` and the subject it touched; `details` keeps the state before and after, as JSON.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from flask import g

from app.extensions import db
from app.models import AuditLog


def staff_actor() -> str:
    """The signed-in staff user as the ledger and the audit log name them."""
    return f"staff:{g.staff_user_id}"


def record_change(
    action: str,
    subject: tuple[str, object],
    *,
    before: Any = None,
    after: Any = None,
    now: datetime | None = None,
) -> AuditLog:
    """Add the audit row of a change to the request's session: it commits with the change, or not at all."""
    entry = AuditLog(
        shop_id=g.shop.id,
        actor=staff_actor(),
        action=action,
        subject_type=subject[0],
        subject_id=str(subject[1]),
        details={"before": _as_json(before), "after": _as_json(after)},
        created_at=now or datetime.now(timezone.utc),
    )
    db.session.add(entry)
    return entry


def _as_json(value: Any) -> Any:
    """Decimals, dates and UUIDs as the strings they print as (JSONB keeps no other types)."""
    return json.loads(json.dumps(value, default=str))
