"""Webhook endpoints in Chromium: reached from the navigation, a refused URL named next to its field, an endpoint
added with its secret shown once, turned off, and deleted through the confirmation dialog."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import WebhookEndpoint
from tests.admin.browser.conftest import open_admin, screenshot, serious_violations
from tests.helpers import on_paid_plan


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**settings_overrides, "webhooks_allow_private_targets": True}  # the endpoint below is on 127.0.0.1


@pytest.fixture
def demo_shop(demo_shop: Any) -> Any:
    """On the plan with outbound webhooks (Loyalty Growth): the free plan's page offers the upgrade instead."""
    return on_paid_plan(db.session, demo_shop)


def test_add_an_endpoint_see_its_secret_once_turn_it_off_and_delete_it(page: Any, demo_shop: Any) -> None:
    open_admin(page, "/")
    page.get_by_role("link", name="Webhooks").first.click()
    page.wait_for_selector("text=No webhook endpoints")
    assert serious_violations(page) == []

    page.get_by_label("URL").fill("ftp://example.com/hook")
    page.get_by_label("points.earned").check()
    page.get_by_role("button", name="Add endpoint").click()
    page.wait_for_selector("text=the URL must start with https://")
    assert page.get_by_label("URL").get_attribute("aria-invalid") == "true"

    page.get_by_label("URL").fill("http://127.0.0.1:9/hooks/loyalty")
    page.get_by_label("tier.changed").check()
    page.get_by_role("button", name="Add endpoint").click()
    secret = page.get_by_test_id("webhook-secret").inner_text()
    assert secret.startswith("lwhsec_")
    assert "Active" in page.locator("#webhooks table").first.inner_text()
    screenshot(page, "webhooks-added")
    assert serious_violations(page) == []

    page.get_by_role("button", name="Turn off http://127.0.0.1:9/hooks/loyalty").click()
    page.wait_for_selector("text=Endpoint turned off")
    assert secret not in page.content()  # shown once: gone after the next change
    page.get_by_role("button", name="Delete").first.click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    page.wait_for_selector("text=No webhook endpoints")
    screenshot(page, "webhooks-deleted")
    db.session.expire_all()
    assert db.session.execute(select(WebhookEndpoint)).first() is None
