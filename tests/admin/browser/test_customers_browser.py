"""Customers in Chromium: search, open a profile, adjust points with the keyboard, see the entry and the audit row."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import AuditLog
from tests.admin.browser.conftest import open_admin, screenshot, serious_violations
from tests.admin.conftest import add_member


def test_adjust_points_from_the_profile_and_see_the_ledger_entry(page: Any, demo_shop: Any) -> None:
    add_member(db.session, demo_shop, "7000000000000000001", email="ada@example.com", name="Ada Lovelace", points=120)
    add_member(db.session, demo_shop, "7000000000000000002", email="alan@example.com", name="Alan Turing", points=40)
    open_admin(page, "/admin/customers/")
    screenshot(page, "customers")
    assert serious_violations(page) == []

    page.get_by_label("Search customers").fill("ada")
    page.wait_for_function("!document.body.innerText.includes('Alan Turing')")
    page.get_by_role("link", name="Ada Lovelace").click()
    page.wait_for_selector("h1:has-text('Ada Lovelace')")

    # A wrong value: the error is next to the field and the keyboard is put on it.
    page.get_by_label("Points").fill("lots")
    page.get_by_label("Reason").fill("Goodwill")
    page.get_by_label("Reason").press("Enter")
    page.wait_for_selector("text=Enter a whole number")
    assert page.evaluate("document.activeElement.name") == "points"

    page.get_by_label("Points").fill("250")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_selector("text=+250 points applied")
    ledger_text = page.locator("#ledger").inner_text()
    assert "Goodwill" in ledger_text and "adjusted by staff:1" in ledger_text
    assert "370" in page.locator("#customer-summary").inner_text()
    screenshot(page, "customer-profile")
    assert serious_violations(page) == []

    db.session.expire_all()
    audit = db.session.execute(select(AuditLog).where(AuditLog.action == "points_adjusted")).scalar_one()
    assert audit.actor == "staff:1" and audit.details["after"]["balance"] == 370


def test_set_a_tier_by_hand_until_a_day_and_clear_it(page: Any, demo_shop: Any) -> None:
    from datetime import date, timedelta

    add_member(db.session, demo_shop, "7000000000000000001", email="ada@example.com", name="Ada Lovelace")
    open_admin(page, "/admin/customers/7000000000000000001")
    options = page.locator("#field-tier_id option").all_inner_texts()
    page.get_by_label("Set tier by hand").select_option(label=options[-1])
    page.get_by_label("Until").fill((date.today() - timedelta(days=3)).isoformat())
    page.get_by_role("button", name="Set tier").click()
    page.wait_for_selector("text=is in the past")
    until = (date.today() + timedelta(days=30)).isoformat()
    page.get_by_label("Until").fill(until)
    page.get_by_role("button", name="Set tier").click()
    page.wait_for_selector(f"text=Set by hand to {options[-1]} until {until}")
    screenshot(page, "customer-tier-by-hand")
    assert serious_violations(page) == []
    page.get_by_role("button", name="Clear").click()
    page.wait_for_selector("#tier-card >> text=Set by hand to", state="detached")
