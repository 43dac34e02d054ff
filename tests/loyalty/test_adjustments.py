"""Admin adjustments: positive or negative, with reason and actor, once per key, never below zero."""

from __future__ import annotations

import pytest

from app.loyalty.base.errors import InsufficientPoints, InvalidInput
from app.loyalty.ledger.adjustments import AdjustmentResult, adjust_points
from tests.loyalty.ledger_helpers import assert_sound, earn, entries, profile, stored


def adjust(session, shop, prof, points, now, key="form-1", reason="Goodwill", actor="ana@shop.test"):
    return adjust_points(
        session, shop=shop, profile=prof, points=points, reason=reason, actor=actor, idempotency_key=key, now=now
    )


def test_positive_and_negative_adjustments_name_who_and_why(db_session, shop, now):
    prof = profile(db_session, shop, now)
    added = adjust(db_session, shop, prof, 200, now)
    removed = adjust(db_session, shop, prof, -50, now, key="form-2", reason="Duplicate order")
    assert [(e.kind, e.points, e.cause_type, e.actor, e.reason) for e in entries(db_session, prof.id)] == [
        ("adjustment", 200, "admin", "ana@shop.test", "Goodwill"),
        ("adjustment", -50, "admin", "ana@shop.test", "Duplicate order"),
    ]
    assert added.entry is not None and removed.entry is not None
    assert stored(db_session, prof.id).points_balance == 150
    assert_sound(db_session, shop)


def test_a_double_submit_adjusts_once(db_session, shop, now):
    prof = profile(db_session, shop, now)
    adjust(db_session, shop, prof, 20, now)
    assert adjust(db_session, shop, prof, 20, now) == AdjustmentResult(entry=None, duplicate=True)
    assert stored(db_session, prof.id).points_balance == 20


def test_a_removal_never_goes_below_zero(db_session, shop, now):
    prof = profile(db_session, shop, now)
    earn(db_session, shop, prof, 30, "k", now)
    with pytest.raises(InsufficientPoints, match="has 30 points; this needs 31"):
        adjust(db_session, shop, prof, -31, now)
    assert stored(db_session, prof.id).points_balance == 30
    assert len(entries(db_session, prof.id)) == 1


@pytest.mark.parametrize(
    ("points", "reason", "actor", "message"),
    [
        (0, "why", "ana", "non-zero whole number of points, got 0"),
        (True, "why", "ana", "non-zero whole number of points, got True"),
        (1.5, "why", "ana", "non-zero whole number of points, got 1.5"),
        (5, "  ", "ana", "needs a reason"),
        (5, "why", "", "needs the admin who made it"),
    ],
)
def test_bad_adjustments_are_refused(db_session, shop, now, points, reason, actor, message):
    prof = profile(db_session, shop, now)
    with pytest.raises(InvalidInput, match=message):
        adjust(db_session, shop, prof, points, now, reason=reason, actor=actor)
    assert entries(db_session, prof.id) == [] and stored(db_session, prof.id).points_balance == 0
