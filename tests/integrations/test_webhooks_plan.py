"""Outbound webhooks are a paid-plan feature (app.config.BILLING_PLANS): a shop on the free plan adds no endpoint,
and a shop that loses the plan keeps its endpoints but gets no new delivery until it pays again, end to end from
Shopify's signed webhooks to a real receiver; deliveries already queued are still sent."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from app.integrations import endpoints as service
from app.integrations import outbound_webhooks as outbound
from app.integrations import signing
from app.loyalty.base.plans import plan_allows
from app.models import Outbox, Shop, WebhookDelivery, WebhookEndpoint
from app.shopify.development import DEMO_SHOP
from app.shopify.token_cipher import TokenCipher
from tests.events.test_end_to_end import drain, make_consumer, send_order
from tests.helpers import PAID_SUBSCRIPTION_ID, on_paid_plan, subscription_update
from tests.integrations.receiver import Receiver, serve
from tests.worker_fixtures import run_next_task

PLAN_REFUSAL = (
    "webhook endpoints are part of the Loyalty Growth plan, and this shop is on the Free plan: upgrade to add one"
)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from serve()


@pytest.fixture
def consumer(app, redis_client, redis_namespace):  # type: ignore[no-untyped-def]
    return make_consumer(app, redis_client, redis_namespace)


@pytest.fixture
def demo_shop(runner, db_session) -> Shop:  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    return db_session.execute(select(Shop).where(Shop.domain == DEMO_SHOP)).scalar_one()


def tell(client, shopify, consumer, topic: str, payload: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    delivery = shopify.signed_webhook(topic, payload, shop=DEMO_SHOP, event_id=str(uuid.uuid4()))
    assert client.post("/webhooks", data=delivery.body, headers=delivery.headers).status_code == 200
    drain(consumer)


def drain_outbox(worker) -> None:  # type: ignore[no-untyped-def]
    from app.tasks.outbox import deliver_due_outbox

    deliver_due_outbox()
    assert run_next_task(worker) == "deliver_due_outbox"


def rule_rows(db_session, shop: Shop) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    db_session.expire_all()
    query = select(Outbox.status, Outbox.dedupe_key).where(Outbox.shop_id == shop.id, Outbox.kind == "rule.webhook")
    return [(status, key) for status, key in db_session.execute(query.order_by(Outbox.id))]


def test_a_free_shop_adds_no_endpoint(db_session, make_shop, runner) -> None:  # type: ignore[no-untyped-def]
    free = make_shop("free-shop.myshopify.com")
    cipher = TokenCipher((Fernet.generate_key().decode(),))
    with pytest.raises(service.PlanRequired) as refused:
        service.create_endpoint(
            db_session, cipher, shop_id=free.id, url="https://example.com/hook", topics=["points.earned"]
        )
    assert str(refused.value) == PLAN_REFUSAL
    db_session.rollback()
    added = runner.invoke(
        args=["webhooks", "add", "--shop", free.domain, "--url", "https://example.com/hook", "--topic", "points.earned"]
    )
    assert added.exit_code == 1 and PLAN_REFUSAL in added.output
    assert db_session.execute(select(func.count()).select_from(WebhookEndpoint)).scalar_one() == 0


def test_a_shop_that_loses_the_plan_keeps_its_endpoint_and_gets_nothing_new_until_it_pays_again(  # type: ignore[no-untyped-def]
    demo_shop, client, shopify, consumer, worker, receiver, db_session
) -> None:
    from app.loyalty import rulebook
    from app.tasks.outbound_webhooks import _cipher

    on_paid_plan(db_session, demo_shop, created_at="2026-11-01T09:00:00Z")
    secret = service.create_endpoint(
        db_session, _cipher(), shop_id=demo_shop.id, url=receiver.url, topics=["points.earned"], allow_private=True
    ).secret
    rule = {"name": "Tell the CRM", "actions": [{"type": "webhook", "url": receiver.url}]}
    rulebook.save_rule(db_session, shop_id=demo_shop.id, definition=rule, actor="test", now=datetime.now(timezone.utc))
    db_session.commit()

    # The merchant cancels the subscription: Shopify says so, and the shop is on the free plan.
    cancelled = subscription_update(
        PAID_SUBSCRIPTION_ID, "CANCELLED", created_at="2026-11-01T09:00:00Z", updated_at="2026-12-01T09:00:00Z"
    )
    tell(client, shopify, consumer, "app_subscriptions/update", cancelled)
    db_session.expire_all()
    assert not plan_allows(db_session.get(Shop, demo_shop.id), "outbound_webhooks")

    # An order fires the rule's webhook action: the outbox row is done, and nothing is made or sent.
    send_order(client, shopify, id=5001, total="150.00")
    drain(consumer)
    drain_outbox(worker)
    assert [status for status, _ in rule_rows(db_session, demo_shop)] == ["done"]
    assert receiver.requests == []
    assert db_session.execute(select(func.count()).select_from(WebhookDelivery)).scalar_one() == 0
    kept = db_session.execute(select(WebhookEndpoint).where(WebhookEndpoint.shop_id == demo_shop.id)).scalar_one()
    assert kept.active and kept.url == receiver.url  # kept as it was, paused by the plan

    # The merchant subscribes again (a new subscription, created after the cancelled one): deliveries resume.
    again = subscription_update(
        "gid://shopify/AppSubscription/4028497977",
        "ACTIVE",
        created_at="2026-12-01T10:00:00Z",
        updated_at="2026-12-01T10:00:00Z",
    )
    tell(client, shopify, consumer, "app_subscriptions/update", again)
    send_order(client, shopify, id=5002, total="150.00")
    drain(consumer)
    drain_outbox(worker)
    assert [status for status, _ in rule_rows(db_session, demo_shop)] == ["done", "done"]
    (request,) = receiver.requests  # the second order's only: the first one's is not sent late
    body = json.loads(request.body)
    assert request.headers[signing.TOPIC_HEADER] == "rule.webhook" and body["data"]["rule"] == "Tell the CRM"
    assert signing.verify_signature(secret, request.headers, request.body, now=int(time.time()))


def test_deliveries_queued_before_the_plan_ended_are_still_sent(  # type: ignore[no-untyped-def]
    worker, db_session, shop, receiver
) -> None:
    from app.tasks.outbound_webhooks import _cipher, deliver_due_webhooks

    service.create_endpoint(
        db_session, _cipher(), shop_id=shop.id, url=receiver.url, topics=["tier.changed"], allow_private=True
    )
    db_session.commit()
    change = {"customer_id": "7", "from": "Bronze", "to": "Silver"}
    with db_session.begin():
        (queued,) = outbound.fan_out(
            db_session,
            shop_id=shop.id,
            topic="tier.changed",
            data=change,
            dedupe_key="tier:7:silver",
            occurred_at=datetime.now(timezone.utc),
        )
        queued_id = queued.id
    shop.subscription_status = "CANCELLED"  # the plan ends before the sweep sends it
    db_session.commit()

    with db_session.begin():  # a later event makes no delivery now
        made = outbound.fan_out(
            db_session,
            shop_id=shop.id,
            topic="tier.changed",
            data={"customer_id": "8", "from": "Bronze", "to": "Silver"},
            dedupe_key="tier:8:silver",
            occurred_at=datetime.now(timezone.utc),
        )
        rule_webhook = outbound.stage_for_url(
            db_session,
            shop_id=shop.id,
            url=receiver.url,
            data={"rule": "VIP"},
            dedupe_key="rule:vip",
            occurred_at=datetime.now(timezone.utc),
        )
        assert (made, rule_webhook) == ([], None)

    deliver_due_webhooks()
    assert run_next_task(worker) == "deliver_due_webhooks"
    (request,) = receiver.requests
    assert json.loads(request.body)["data"] == change
    db_session.expire_all()
    assert db_session.get(WebhookDelivery, queued_id).status == "delivered"
