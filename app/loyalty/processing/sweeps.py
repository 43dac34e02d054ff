"""The time-driven work of one shop, as one idempotent sweep: "everything due as of now", never "this minute's slice".

Run inside the caller's transaction, per shop, under a transaction-scoped advisory lock: two workers (or a manual
run beside the periodic one) never sweep one shop at once, and a killed worker leaves no lock behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.loyalty import ledger, referrals, rewards, tiers
from app.loyalty.tiers.membership import SweepResult

CHUNK = 500
_LOCK = text("SELECT pg_try_advisory_xact_lock(hashtext(:name), :shop)")


@dataclass
class SweepReport:
    """What a sweep did for one shop; `skipped` when another sweep of that shop was already running."""

    skipped: bool = False
    counts: dict[str, int] = field(default_factory=dict)


def sweep_shop(session: Session, *, shop_id: int, now: datetime) -> SweepReport:
    """Release pending points and referrals, expire lots and codes, review tiers whose period ended."""
    if not _locked(session, "loyalty-sweep", shop_id):
        return SweepReport(skipped=True)
    counts = {
        # Referral conversions first: their points are pending credits that the next line releases.
        "referrals_rewarded": len(referrals.release_due(session, shop_id=shop_id, now=now)),
        "pending_released": ledger.release_due(session, shop_id=shop_id, now=now),
        "lots_expired": ledger.expire_due(session, shop_id=shop_id, now=now),
        "codes_expired": len(rewards.expire_due(session, shop_id=shop_id, now=now)),
        "tier_changes": _in_chunks(tiers.roll_period, session, shop_id, now),
    }
    return SweepReport(counts=counts)


def recalculate_tiers(
    session: Session, *, shop_id: int, now: datetime, progress: Callable[[int], object] | None = None
) -> SweepReport:
    """Place every member on the shop's (changed) tier ladder; idempotent, so safe to enqueue on every change.

    `progress`, if given, is told the number of members examined so far after each chunk (the admin's progress bar).
    """
    if not _locked(session, "loyalty-tier-recalculation", shop_id):
        return SweepReport(skipped=True)
    changes = _in_chunks(tiers.recalculate_all, session, shop_id, now, progress)
    return SweepReport(counts={"tier_changes": changes})


def _locked(session: Session, name: str, shop_id: int) -> bool:
    return bool(session.execute(_LOCK, {"name": name, "shop": shop_id}).scalar_one())


def _in_chunks(
    sweep: Callable[..., SweepResult],
    session: Session,
    shop_id: int,
    now: datetime,
    progress: Callable[[int], object] | None = None,
) -> int:
    changes, after, examined = 0, 0, 0
    while True:
        result = sweep(session, shop_id=shop_id, now=now, after_profile_id=after, limit=CHUNK)
        changes += len(result.changes)
        examined += result.examined
        if progress is not None:
            progress(examined)
        if result.last_profile_id is None or result.examined < CHUNK:
            return changes
        after = result.last_profile_id
