"""A customer's data request end to end: Shopify's signed customers/data_request webhook, the stream consumer, the
outbox row the worker completes, the export ready to download in the admin of that shop only, and the merchant's
endpoint subscribed to data_request.ready told with ids only, signed with the secret the admin showed."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from app.config import DEV_API_KEY, DEV_API_SECRET
from app.extensions import db
from app.integrations import signing
from app.models import Outbox, Shop
from tests.admin.conftest import Admin, add_member
from tests.events.test_end_to_end import drain as drain_stream
from tests.events.test_end_to_end import make_consumer
from tests.helpers import on_paid_plan
from tests.integrations.receiver import Receiver, serve
from tests.shopify.conftest import TEST_ENCRYPTION_KEY
from tests.shopify_fake.signing import ShopifySigner
from tests.worker_fixtures import run_next_task


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    """The worker's key (tests/worker_fixtures.py), so it can read the secret the admin stored; a local receiver."""
    return {**settings_overrides, "encryption_keys": (TEST_ENCRYPTION_KEY,), "webhooks_allow_private_targets": True}


@pytest.fixture
def demo_shop(demo_shop: Shop) -> Shop:
    """On the plan with outbound webhooks, so its endpoint can be added and told."""
    return on_paid_plan(db.session, demo_shop)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from serve()


def request_data(client: Any, shop: Shop, customer: str, request_id: int) -> None:
    body = {
        "shop_id": 1,
        "shop_domain": shop.domain,
        "orders_requested": [],
        "customer": {"id": int(customer), "email": "someone@example.com", "phone": None},
        "data_request": {"id": request_id},
    }
    delivery = ShopifySigner(DEV_API_KEY, DEV_API_SECRET).signed_webhook(
        "customers/data_request", body, shop=shop.domain, event_id=str(uuid.uuid4())
    )
    response = client.post("/webhooks", data=delivery.body, headers=delivery.headers)
    assert response.status_code == 200, response.get_json()


def staged(shop: Shop) -> Outbox:
    db.session.expire_all()
    query = select(Outbox).where(Outbox.shop_id == shop.id, Outbox.kind == "gdpr.data_request")
    return db.session.execute(query).scalar_one()


def test_a_data_request_becomes_a_ready_export_for_that_shop_and_a_signed_notice_with_ids_only(  # type: ignore[no-untyped-def]
    app, admin: Admin, demo_shop: Shop, other_admin_shop: Shop, worker, receiver, redis_client, redis_namespace
) -> None:
    created = admin.post("/admin/webhooks/", {"url": receiver.url, "topics": ["data_request.ready"]})
    assert created.status_code == 200, created.get_data(as_text=True)
    secret = created.get_data(as_text=True).split('data-testid="webhook-secret">')[1].split("<")[0]
    add_member(db.session, demo_shop, "7001", email="ada@example.com", name="Ada Lovelace", points=120)
    add_member(db.session, other_admin_shop, "9001", email="eve@other.example", name="Eve Other", points=5)

    request_data(app.test_client(), demo_shop, "7001", 9911)
    request_data(app.test_client(), other_admin_shop, "9001", 9922)
    drain_stream(make_consumer(app, redis_client, redis_namespace))
    ours = staged(demo_shop)
    assert ours.status == "pending" and "Preparing" in admin.get("/admin/operations/data-requests").get_data(
        as_text=True
    )

    from app.tasks.outbox import deliver_due_outbox

    deliver_due_outbox()
    assert run_next_task(worker) == "deliver_due_outbox"

    assert (staged(demo_shop).status, staged(other_admin_shop).status) == ("done", "done")
    page = admin.get("/admin/operations/data-requests").get_data(as_text=True)
    assert "9911" in page and "Ready" in page and "9922" not in page
    export = admin.get(f"/admin/operations/data-requests/{ours.id}.json")
    assert export.status_code == 200 and "ada@example.com" in json.dumps(export.get_json())
    assert admin.get(f"/admin/operations/data-requests/{staged(other_admin_shop).id}.json").status_code == 404

    (notice,) = receiver.requests  # the other shop has no endpoint: nothing of theirs reaches ours
    body = json.loads(notice.body)
    assert body["topic"] == "data_request.ready" and body["shop_domain"] == demo_shop.domain
    assert body["data"] == {"data_request_id": "9911", "customer_id": "7001"}
    assert "ada@example.com" not in notice.body.decode() and "Lovelace" not in notice.body.decode()
    assert signing.verify_signature(secret, notice.headers, notice.body, now=int(time.time()))
