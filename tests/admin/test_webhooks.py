"""Webhook endpoints in the admin: added with their secret shown once, turned off and on, secret rotated, deleted,
each change audited; a bad or private URL refused with a 422 that names it; another shop's endpoints are 404s;
a failed delivery sent again."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.extensions import db
from app.integrations import endpoints
from app.models import AuditLog, Shop, WebhookDelivery, WebhookEndpoint
from app.shopify.token_cipher import cipher_for
from tests.admin.conftest import Admin
from tests.helpers import on_paid_plan

RECEIVER = "http://127.0.0.1:9/hooks/loyalty"


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    """Endpoints on 127.0.0.1, as in development (the refusal tests below turn this off)."""
    return {**settings_overrides, "webhooks_allow_private_targets": True}


@pytest.fixture
def demo_shop(demo_shop: Shop) -> Shop:
    """On the plan with outbound webhooks (the free plan's refusals: tests/admin/test_webhooks_plan.py)."""
    return on_paid_plan(db.session, demo_shop)


def add(admin: Admin, url: str = RECEIVER, topics: tuple[str, ...] = ("points.earned",)) -> Any:
    return admin.post("/admin/webhooks/", {"url": url, "topics": list(topics), "description": "CRM"})


def secret_in(page: str) -> str:
    return page.split('data-testid="webhook-secret">')[1].split("<")[0]


def only_endpoint(shop: Shop) -> WebhookEndpoint:
    db.session.expire_all()
    return db.session.execute(select(WebhookEndpoint).where(WebhookEndpoint.shop_id == shop.id)).scalar_one()


def actions(shop: Shop) -> list[str]:
    query = select(AuditLog.action).where(AuditLog.shop_id == shop.id, AuditLog.action.like("webhook_%"))
    return list(db.session.execute(query.order_by(AuditLog.id)).scalars())


def test_an_endpoint_is_added_shown_once_with_its_secret_then_turned_off_on_rotated_and_deleted(
    admin: Admin, demo_shop: Shop, app: Any
) -> None:
    response = add(admin, topics=("points.earned", "tier.changed"))
    assert response.status_code == 200 and "Webhook endpoint added" in response.headers["HX-Trigger"]
    secret = secret_in(response.get_data(as_text=True))
    endpoint = only_endpoint(demo_shop)
    assert (endpoint.url, endpoint.event_types, endpoint.active) == (RECEIVER, ["points.earned", "tier.changed"], True)
    cipher = cipher_for(app.config["SETTINGS"], Path(app.instance_path))
    assert cipher.decrypt(endpoint.secret) == secret  # the one shown signs the deliveries

    page = admin.get("/admin/webhooks/").get_data(as_text=True)
    assert RECEIVER in page and "Active" in page and secret not in page  # shown once only

    off = admin.post(f"/admin/webhooks/{endpoint.id}/disable")
    assert off.status_code == 200 and only_endpoint(demo_shop).active is False
    assert admin.post(f"/admin/webhooks/{endpoint.id}/enable").status_code == 200
    assert only_endpoint(demo_shop).active is True

    rotated = admin.post(f"/admin/webhooks/{endpoint.id}/rotate")
    new_secret = secret_in(rotated.get_data(as_text=True))
    assert new_secret != secret and cipher.decrypt(only_endpoint(demo_shop).secret) == new_secret

    assert admin.post(f"/admin/webhooks/{endpoint.id}/delete").status_code == 200
    db.session.expire_all()
    assert db.session.execute(select(WebhookEndpoint)).first() is None
    assert actions(demo_shop) == [
        "webhook_endpoint.created",
        "webhook_endpoint.disabled",
        "webhook_endpoint.enabled",
        "webhook_endpoint.secret_rotated",
        "webhook_endpoint.deleted",
    ]


def test_an_endpoint_the_app_disabled_shows_why_and_turning_it_on_clears_it(admin: Admin, demo_shop: Shop) -> None:
    add(admin)
    endpoint = only_endpoint(demo_shop)
    endpoint.active, endpoint.consecutive_failures = False, 5
    endpoint.disabled_at = datetime.now(timezone.utc)
    endpoint.disabled_reason = "5 deliveries in a row failed (last: HTTP 503)"
    db.session.commit()
    page = admin.get("/admin/webhooks/").get_data(as_text=True)
    assert "Disabled" in page and "5 deliveries in a row failed (last: HTTP 503)" in page

    admin.post(f"/admin/webhooks/{endpoint.id}/enable")
    again = only_endpoint(demo_shop)
    assert (again.active, again.disabled_reason, again.consecutive_failures) == (True, None, 0)


class TestRefusedUrls:
    @pytest.fixture
    def settings_overrides(self, settings_overrides: dict[str, Any]) -> dict[str, Any]:
        return {**settings_overrides, "webhooks_allow_private_targets": False}

    @pytest.mark.parametrize(
        ("url", "message"),
        [
            ("ftp://example.com/hook", "the URL must start with https://"),
            ("https://10.1.2.3/hook", "10.1.2.3 resolves to 10.1.2.3, a private network address: refused"),
            ("https://127.0.0.1/hook", "a loopback address: refused"),
            ("https://169.254.169.254/latest", "a link-local (cloud metadata lives there) address: refused"),
        ],
    )
    def test_a_bad_or_private_url_is_refused_next_to_the_field(
        self, admin: Admin, demo_shop: Shop, url: str, message: str
    ) -> None:
        response = add(admin, url=url)
        page = response.get_data(as_text=True)
        assert response.status_code == 422
        assert message in page and 'aria-invalid="true"' in page and f'value="{url}"' in page
        assert db.session.execute(select(WebhookEndpoint)).first() is None
        assert actions(demo_shop) == []


def test_an_endpoint_without_topics_is_refused(admin: Admin, demo_shop: Shop) -> None:
    response = add(admin, topics=())
    assert response.status_code == 422 and "choose at least one topic" in response.get_data(as_text=True)
    assert db.session.execute(select(WebhookEndpoint)).first() is None


def test_another_shops_endpoints_and_deliveries_are_not_found_and_unchanged(
    admin: Admin, other_admin_shop: Shop, app: Any
) -> None:
    cipher = cipher_for(app.config["SETTINGS"], Path(app.instance_path))
    on_paid_plan(db.session, other_admin_shop)
    theirs = endpoints.create_endpoint(
        db.session,
        cipher,
        shop_id=other_admin_shop.id,
        url="http://127.0.0.1:9/theirs",
        topics=["points.earned"],
        allow_private=True,
    ).endpoint
    delivery = failed_delivery(other_admin_shop, theirs)
    db.session.commit()

    page = admin.get("/admin/webhooks/").get_data(as_text=True)
    assert "/theirs" not in page and str(delivery.delivery_id) not in page
    for action in ("disable", "enable", "rotate", "delete"):
        assert admin.post(f"/admin/webhooks/{theirs.id}/{action}").status_code == 404
    assert admin.post(f"/admin/webhooks/deliveries/{delivery.delivery_id}/resend").status_code == 404
    db.session.expire_all()
    kept = db.session.get(WebhookEndpoint, theirs.id)
    assert kept is not None and kept.active and kept.secret == theirs.secret
    assert db.session.get(WebhookDelivery, delivery.id).status == "failed"


def failed_delivery(shop: Shop, endpoint: WebhookEndpoint) -> WebhookDelivery:
    now = datetime.now(timezone.utc)
    delivery = WebhookDelivery(
        shop_id=shop.id,
        endpoint_id=endpoint.id,
        delivery_id=uuid.uuid4(),
        topic="points.earned",
        url=endpoint.url,
        dedupe_key=f"test:{uuid.uuid4()}",
        payload={"topic": "points.earned"},
        status="failed",
        attempts=9,
        response_status=503,
        last_error="HTTP 503",
        next_attempt_at=now,
        created_at=now,
    )
    db.session.add(delivery)
    db.session.flush()
    return delivery


def test_a_failed_delivery_is_listed_with_its_outcome_and_sent_again(admin: Admin, demo_shop: Shop) -> None:
    add(admin)
    delivery = failed_delivery(demo_shop, only_endpoint(demo_shop))
    db.session.commit()
    page = admin.get("/admin/webhooks/").get_data(as_text=True)
    assert str(delivery.delivery_id) in page and "Failed" in page and "HTTP 503" in page

    response = admin.post(f"/admin/webhooks/deliveries/{delivery.delivery_id}/resend")
    assert response.status_code == 200
    db.session.expire_all()
    again = db.session.get(WebhookDelivery, delivery.id)
    assert (again.status, again.attempts) == ("pending", 0)
    assert "webhook_delivery.resent" in actions(demo_shop)
    assert admin.post("/admin/webhooks/deliveries/not-a-uuid/resend").status_code == 404


def test_changes_without_the_session_token_header_are_refused(app: Any, demo_shop: Shop) -> None:
    response = app.test_client().post("/admin/webhooks/", data={"url": RECEIVER, "topics": ["points.earned"]})
    assert response.status_code == 403
    assert db.session.execute(select(WebhookEndpoint)).first() is None
