"""The referral review queue in Chromium: a blocked conversion rejected with a reason and another approved, each
leaving the queue with its toast."""

from __future__ import annotations

from typing import Any

from app.extensions import db
from app.models import ReferralConversion
from tests.admin.browser.conftest import open_admin, screenshot, serious_violations
from tests.admin.conftest import add_member
from tests.admin.test_referrals import conversion


def test_reject_one_and_approve_another_from_the_queue(page: Any, demo_shop: Any) -> None:
    ada = add_member(db.session, demo_shop, "7001", email="ada@example.com", name="Ada Lovelace")
    bob = add_member(db.session, demo_shop, "7002", email="bob@example.com", name="Bob Friend")
    rejected = conversion(demo_shop, ada, bob, "5001", "blocked", "order_below_minimum: 5.00 is under 25.00")
    approved = conversion(demo_shop, ada, bob, "5002", "blocked", "daily_limit: 4 conversions today")
    open_admin(page, "/admin/referrals/?status=blocked")
    page.wait_for_selector("text=Review queue (2)")
    screenshot(page, "referrals-review-queue")
    assert serious_violations(page) == []
    page.locator(f"#reject-reason-{rejected}").fill("Test order by staff")
    page.get_by_role("button", name="Reject the conversion of order 5001").click()
    page.wait_for_selector("text=Review queue (1)")
    page.get_by_role("button", name="Approve the conversion of order 5002").click()
    page.wait_for_selector("text=Review queue (0)")
    screenshot(page, "referrals-review-decided")
    db.session.expire_all()
    assert db.session.get(ReferralConversion, rejected).review_reason == "Test order by staff"
    assert db.session.get(ReferralConversion, approved).review_decision == "approved"
