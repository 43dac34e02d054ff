"""The review queue's decisions: approving a blocked conversion pays it once (both sides, through the ledger, with
the conversion as the entries' source), rejecting pays nothing; only this shop's blocked conversions are decided."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.loyalty import referrals
from app.loyalty.base.errors import Conflict
from app.models import AuditLog, PointsTransaction, ReferralConversion, Shop
from tests.admin.conftest import Admin, add_member
from tests.admin.test_referrals import conversion

BLOCKED = "daily_limit: 4 conversions today, the limit is 3"


def paying_shop(shop: Shop) -> None:
    """Referrals on, 500 points to the advocate and 200 to the friend, credited at once (no return window)."""
    shop = db.session.get(Shop, shop.id)
    referrals.update_settings(
        db.session, shop=shop, changes={"enabled": True, "advocate_points": 500, "friend_points": 200}
    )
    shop.return_window_days = 0
    db.session.commit()


def referral_credits(shop: Shop) -> list[PointsTransaction]:
    db.session.expire_all()
    return list(
        db.session.execute(
            select(PointsTransaction)
            .where(PointsTransaction.shop_id == shop.id, PointsTransaction.kind == "referral")
            .order_by(PointsTransaction.points.desc())
        ).scalars()
    )


def blocked_pair(shop: Shop, order_id: str = "5002") -> tuple[int, Any, Any]:
    ada = add_member(db.session, shop, f"7{order_id}", email=f"ada{order_id}@example.com", name="Ada Lovelace")
    bob = add_member(db.session, shop, f"8{order_id}", email=f"bob{order_id}@example.com", name="Bob Friend")
    return conversion(shop, ada, bob, order_id, "blocked", BLOCKED), ada, bob


def test_approving_pays_both_sides_once_with_the_conversion_as_source(admin: Admin, demo_shop: Any) -> None:
    paying_shop(demo_shop)
    conversion_id, ada, bob = blocked_pair(demo_shop)
    first = admin.post(f"/admin/referrals/conversions/{conversion_id}/approve")
    assert first.status_code == 204 and "Referral conversion approved" in first.headers["HX-Trigger"]
    second = admin.post(f"/admin/referrals/conversions/{conversion_id}/approve")
    assert second.status_code == 409 and "approved by" in second.get_json()["message"]
    credits = referral_credits(demo_shop)
    assert [(c.profile_id, c.points) for c in credits] == [(ada.id, 500), (bob.id, 200)]
    assert {(c.source_type, c.source_id) for c in credits} == {("referral", str(conversion_id))}
    assert {c.idempotency_key for c in credits} == {
        f"referral:{conversion_id}:advocate",
        f"referral:{conversion_id}:friend",
    }
    decided = db.session.get(ReferralConversion, conversion_id)
    assert (decided.status, decided.review_decision, decided.advocate_points) == ("rewarded", "approved", 500)
    assert decided.reviewed_by and decided.reviewed_at is not None
    assert decided.reviewed_by == "staff:1"  # as every other admin write names its staff user
    assert db.session.get(type(bob), bob.id).referred_by_profile_id == ada.id
    audit = db.session.execute(select(AuditLog).where(AuditLog.action == "referral_conversion_approved")).scalar_one()
    assert audit.details["before"]["status"] == "blocked" and audit.details["after"]["status"] == "rewarded"


def test_concurrent_approvals_pay_once(app: Any, demo_shop: Any) -> None:
    paying_shop(demo_shop)
    conversion_id, _, _ = blocked_pair(demo_shop)
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def approve() -> None:
        with app.app_context():  # its own app context: its own session and connection
            session = db.session
            shop = session.get(Shop, demo_shop.id)
            start.wait()
            try:
                referrals.approve(
                    session, shop=shop, conversion_id=conversion_id, staff="42", now=datetime.now(timezone.utc)
                )
                session.commit()
                outcomes.append("approved")
            except Conflict:
                session.rollback()
                outcomes.append("conflict")

    threads = [threading.Thread(target=approve) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["approved", "conflict"]
    assert [c.points for c in referral_credits(demo_shop)] == [500, 200]


def test_rejecting_pays_nothing_and_keeps_the_reason(admin: Admin, demo_shop: Any) -> None:
    paying_shop(demo_shop)
    conversion_id, _, bob = blocked_pair(demo_shop)
    assert admin.post(f"/admin/referrals/conversions/{conversion_id}/reject", {"reason": "  "}).status_code == 422
    response = admin.post(f"/admin/referrals/conversions/{conversion_id}/reject", {"reason": "Same household"})
    assert response.status_code == 204 and "Referral conversion rejected" in response.headers["HX-Trigger"]
    assert referral_credits(demo_shop) == []
    decided = db.session.get(ReferralConversion, conversion_id)
    assert (decided.status, decided.review_decision, decided.review_reason) == (
        "rejected",
        "rejected",
        "Same household",
    )
    assert db.session.get(type(bob), bob.id).referred_by_profile_id is None
    assert admin.post(f"/admin/referrals/conversions/{conversion_id}/approve").status_code == 409
    assert referral_credits(demo_shop) == []
    page = admin.get("/admin/referrals/?status=rejected").get_data(as_text=True)
    assert "Same household" in page
    audit = db.session.execute(select(AuditLog).where(AuditLog.action == "referral_conversion_rejected")).scalar_one()
    assert audit.details["after"]["review_reason"] == "Same household"


def test_another_shops_conversion_is_not_found(admin: Admin, demo_shop: Any, other_admin_shop: Any) -> None:
    paying_shop(other_admin_shop)
    conversion_id, _, _ = blocked_pair(other_admin_shop, "6001")
    assert admin.post(f"/admin/referrals/conversions/{conversion_id}/approve").status_code == 404
    assert admin.post(f"/admin/referrals/conversions/{conversion_id}/reject", {"reason": "x"}).status_code == 404
    assert referral_credits(other_admin_shop) == []
    untouched = db.session.get(ReferralConversion, conversion_id)
    assert (untouched.status, untouched.review_decision, untouched.reviewed_by) == ("blocked", None, None)
    assert review_audits() == []


def test_only_blocked_conversions_are_reviewed(admin: Admin, demo_shop: Any) -> None:
    paying_shop(demo_shop)
    ada = add_member(db.session, demo_shop, "7001", email="ada@example.com", name="Ada Lovelace")
    bob = add_member(db.session, demo_shop, "7002", email="bob@example.com", name="Bob Friend")
    rewarded = conversion(demo_shop, ada, bob, "5001", "rewarded")
    response = admin.post(f"/admin/referrals/conversions/{rewarded}/approve")
    assert response.status_code == 409 and "only blocked ones" in response.get_json()["message"]
    assert admin.post(f"/admin/referrals/conversions/{rewarded}/reject", {"reason": "x"}).status_code == 409
    assert referral_credits(demo_shop) == []
    assert db.session.get(ReferralConversion, rewarded).status == "rewarded"
    untouched = db.session.get(ReferralConversion, rewarded)
    assert (untouched.status, untouched.review_decision, untouched.reviewed_by) == ("rewarded", None, None)
    assert review_audits() == []


def test_a_reason_too_long_is_refused_and_changes_nothing(admin: Admin, demo_shop: Any) -> None:
    paying_shop(demo_shop)
    conversion_id, _, _ = blocked_pair(demo_shop)
    response = admin.post(f"/admin/referrals/conversions/{conversion_id}/reject", {"reason": "x" * 501})
    assert response.status_code == 422 and "at most 500 characters" in response.get_data(as_text=True)
    db.session.expire_all()
    untouched = db.session.get(ReferralConversion, conversion_id)
    assert (untouched.status, untouched.review_decision, untouched.review_reason) == ("blocked", None, None)
    assert review_audits() == []


def test_a_blocked_conversion_whose_order_was_cancelled_cannot_be_approved(admin: Admin, demo_shop: Any) -> None:
    paying_shop(demo_shop)
    conversion_id, _, _ = blocked_pair(demo_shop)
    shop = db.session.get(Shop, demo_shop.id)
    now = datetime.now(timezone.utc)
    reason = "the referred order 5002 was cancelled"
    claimed = referrals.reverse_for_order(
        db.session, shop=shop, order_id="5002", event_id=uuid.uuid4(), now=now, reason=reason
    )
    db.session.commit()
    assert claimed == 0  # a blocked conversion had credited nothing

    response = admin.post(f"/admin/referrals/conversions/{conversion_id}/approve")
    assert response.status_code == 409 and "is reversed" in response.get_json()["message"]
    assert referral_credits(demo_shop) == []
    closed = db.session.get(ReferralConversion, conversion_id)
    assert (closed.status, closed.block_reason, closed.review_decision) == ("reversed", reason, None)
    assert review_audits() == []


def review_audits() -> list[str]:
    db.session.expire_all()
    return list(
        db.session.execute(select(AuditLog.action).where(AuditLog.action.like("referral_conversion_%"))).scalars()
    )


def test_the_queue_offers_approve_and_reject(admin: Admin, demo_shop: Any) -> None:
    conversion_id, _, _ = blocked_pair(demo_shop)
    page = admin.get("/admin/referrals/?status=blocked").get_data(as_text=True)
    assert f"/admin/referrals/conversions/{conversion_id}/approve" in page
    assert f"/admin/referrals/conversions/{conversion_id}/reject" in page and 'name="reason"' in page
