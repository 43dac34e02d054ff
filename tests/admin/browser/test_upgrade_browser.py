"""The development admin's upgrade in Chromium: the free demo shop's Webhooks page offers Loyalty Growth, and its
button (no Shopify to approve a charge here) records the plan and reloads the page with the endpoint form."""

from __future__ import annotations

from typing import Any

from app.extensions import db
from app.models import Shop
from tests.admin.browser.conftest import open_admin, screenshot


def test_the_upgrade_button_reloads_the_page_with_the_plan_in_force(page: Any, demo_shop: Any) -> None:
    open_admin(page, "/")
    page.get_by_role("link", name="Webhooks").first.click()
    page.get_by_role("button", name="Upgrade to Loyalty Growth").click()
    page.get_by_role("button", name="Add endpoint").wait_for()
    assert page.get_by_role("button", name="Upgrade to Loyalty Growth").count() == 0
    screenshot(page, "webhooks-upgraded")
    db.session.expire_all()
    assert db.session.get(Shop, demo_shop.id).billing_plan == "growth"
