"""Webhook endpoints need the paid plan: on the free plan the admin's page shows what Loyalty Growth gives and an
upgrade button instead of the form, adding one is refused (402) and changes nothing; a shop that lost the plan sees
its endpoints paused by the plan, and a failed delivery cannot be sent again until it pays."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog, Shop, WebhookDelivery, WebhookEndpoint
from tests.admin.conftest import Admin
from tests.admin.test_webhooks import RECEIVER, add, failed_delivery, only_endpoint
from tests.helpers import on_paid_plan

PLAN_REFUSAL = (
    "webhook endpoints are part of the Loyalty Growth plan, and this shop is on the Free plan: upgrade to add one"
)


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**settings_overrides, "webhooks_allow_private_targets": True}  # RECEIVER is on 127.0.0.1


def endpoint_count() -> int:
    db.session.expire_all()
    return db.session.execute(select(func.count()).select_from(WebhookEndpoint)).scalar_one()


def test_a_free_shop_sees_what_the_plan_gives_and_an_upgrade_instead_of_the_form(admin: Admin, demo_shop: Shop) -> None:
    page = admin.get("/admin/webhooks/").get_data(as_text=True)
    assert 'id="webhook-form"' not in page and "Add endpoint" not in page
    assert "Your shop is on the Free plan" in page
    assert "Loyalty Growth" in page and "29.00 USD every 30 days" in page and "14-day free trial" in page
    assert "Webhook endpoints" in page and "Importing past orders" in page  # what the plan gives
    assert 'hx-post="/billing/subscribe"' in page and 'name="plan" value="growth"' in page
    assert "Upgrade to Loyalty Growth" in page


def test_adding_an_endpoint_on_the_free_plan_is_refused_and_changes_nothing(admin: Admin, demo_shop: Shop) -> None:
    response = add(admin)
    assert response.status_code == 402
    assert response.get_json() == {"error": "payment_required", "message": PLAN_REFUSAL}
    assert endpoint_count() == 0
    assert db.session.execute(select(AuditLog).where(AuditLog.action.like("webhook_%"))).first() is None


def test_a_shop_that_lost_the_plan_sees_its_endpoints_paused_and_cannot_resend(admin: Admin, demo_shop: Shop) -> None:
    on_paid_plan(db.session, demo_shop)
    page = admin.get("/admin/webhooks/").get_data(as_text=True)
    assert 'id="webhook-form"' in page and "Upgrade to Loyalty Growth" not in page
    assert add(admin).status_code == 200
    endpoint = only_endpoint(demo_shop)
    delivery = failed_delivery(demo_shop, endpoint)
    demo_shop.subscription_status = "CANCELLED"  # Shopify's app_subscriptions/update said so
    db.session.commit()

    page = admin.get("/admin/webhooks/").get_data(as_text=True)
    assert RECEIVER in page and "Paused by the plan" in page
    assert "Nothing new is sent to your endpoints while your shop is on the Free plan" in page
    assert 'id="webhook-form"' not in page and "Upgrade to Loyalty Growth" in page
    assert "Send again" not in page

    resent = admin.post(f"/admin/webhooks/deliveries/{delivery.delivery_id}/resend")
    assert resent.status_code == 402
    assert resent.get_json()["message"] == (
        "webhook endpoints are part of the Loyalty Growth plan, and this shop is on the Free plan: upgrade to send "
        "a delivery again"
    )
    db.session.expire_all()
    kept = db.session.get(WebhookDelivery, delivery.id)
    assert (kept.status, kept.attempts) == ("failed", 9)

    # The endpoint is the merchant's: it can still be turned off and deleted.
    assert admin.post(f"/admin/webhooks/{endpoint.id}/disable").status_code == 200
    assert admin.post(f"/admin/webhooks/{endpoint.id}/delete").status_code == 200
    assert endpoint_count() == 0


def test_upgrading_in_the_development_admin_records_the_plan_without_shopify(admin: Admin, demo_shop: Shop) -> None:
    """The development admin's shop is connected without Shopify, so no charge can be approved there: the upgrade
    button records the plan as approved and reloads the page, which then offers the form (before, a 502 toast)."""
    response = admin.post("/billing/subscribe", {"plan": "growth"})
    assert response.status_code == 200, response.get_json()
    assert response.headers["HX-Refresh"] == "true"
    assert response.get_json()["plan"] == "growth"
    db.session.expire_all()
    shop = db.session.get(Shop, demo_shop.id)
    assert (shop.billing_plan, shop.subscription_status) == ("growth", "ACTIVE")
    page = admin.get("/admin/webhooks/").get_data(as_text=True)
    assert 'id="webhook-form"' in page and "Upgrade to Loyalty Growth" not in page
    assert add(admin).status_code == 200 and endpoint_count() == 1
