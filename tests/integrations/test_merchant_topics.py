"""The topics a merchant's endpoint subscribes to are sent when their change happens, end to end: Shopify's signed
webhooks through the inbox, the stream and the consumer, the ledger written by the admin, then the worker's outbox
to a real receiver, each delivery signed. A shop without an endpoint for a topic stages nothing."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select

from app.integrations import endpoints as service
from app.integrations import signing
from app.loyalty import ledger
from app.loyalty.base.merchant_webhooks import TOPICS
from app.loyalty.ledger.profiles import lock_profile
from app.models import Outbox, Shop
from app.shopify.development import DEMO_SHOP
from tests.events.test_end_to_end import CUSTOMER, drain, send_order
from tests.helpers import on_paid_plan, order_payload
from tests.integrations import test_webhooks_plan
from tests.integrations.test_webhooks_plan import drain_outbox, tell

# The demo shop, the in-process consumer and the real receiver of the plan's tests.
demo_shop = test_webhooks_plan.demo_shop
consumer = test_webhooks_plan.consumer
receiver = test_webhooks_plan.receiver


def received(at) -> list[tuple[str, dict[str, Any]]]:  # type: ignore[no-untyped-def]
    return [(r.headers[signing.TOPIC_HEADER], json.loads(r.body)) for r in at.requests]


def subscribe(db_session, shop: Shop, url: str, topics: list[str]) -> str:  # type: ignore[no-untyped-def]
    from app.tasks.outbound_webhooks import _cipher

    created = service.create_endpoint(
        db_session, _cipher(), shop_id=shop.id, url=url, topics=topics, allow_private=True
    )
    db_session.commit()
    return created.secret


def test_an_order_an_adjustment_and_a_cancellation_reach_the_merchants_endpoint(  # type: ignore[no-untyped-def]
    demo_shop, client, shopify, consumer, worker, receiver, db_session
) -> None:
    on_paid_plan(db_session, demo_shop)
    everything = [topic for topic in TOPICS if topic != "data_request.ready"]
    secret = subscribe(db_session, demo_shop, receiver.url, everything)

    # The demo's First Order Bonus: 500 points, and the customer enters the first tier.
    send_order(client, shopify, total="150.00")
    drain(consumer)
    drain_outbox(worker)
    by_topic = dict(received(receiver))
    assert set(by_topic) == {"points.earned", "tier.changed"}
    earned = by_topic["points.earned"]
    assert (earned["shop_domain"], earned["topic"]) == (DEMO_SHOP, "points.earned")
    assert {key: earned["data"][key] for key in ("customer_id", "points", "kind", "order_id")} == {
        "customer_id": CUSTOMER,
        "points": 500,
        "kind": "earn",
        "order_id": "820982911946154508",
    }
    tier = by_topic["tier.changed"]["data"]
    assert (tier["customer_id"], tier["direction"], tier["from_tier"], tier["to_tier"]["name"]) == (
        CUSTOMER,
        "upgrade",
        None,
        "Bronze",
    )
    assert "profile_id" not in tier  # the app's own ids stay inside
    for request in receiver.requests:
        assert signing.verify_signature(secret, request.headers, request.body, now=int(time.time()))

    # The merchant takes 50 points off in the admin.
    receiver.requests.clear()
    now = datetime.now(timezone.utc)
    profile = lock_profile(db_session, shop_id=demo_shop.id, customer_id=CUSTOMER, now=now)
    ledger.adjust_points(
        db_session,
        shop=demo_shop,
        profile=profile,
        points=-50,
        reason="Goodwill correction",
        actor="staff:ann",
        idempotency_key="adjust-1",
        now=now,
    )
    db_session.commit()
    drain_outbox(worker)
    [(topic, body)] = received(receiver)
    assert (topic, body["data"]["points"], body["data"]["reason"]) == ("points.adjusted", -50, "Goodwill correction")

    # Shopify cancels the order: what is left of its points goes back.
    receiver.requests.clear()
    cancelled = order_payload(cancelled_at="2026-03-03T10:00:00-05:00", cancel_reason="customer")
    tell(client, shopify, consumer, "orders/cancelled", cancelled)
    drain_outbox(worker)
    [(topic, body)] = received(receiver)
    assert (topic, body["data"]["kind"], body["data"]["points"]) == ("points.reversed", "reversal", -450)

    # Each change is staged once: the same order delivered again stages and sends nothing more.
    receiver.requests.clear()
    send_order(client, shopify, total="150.00")
    drain(consumer)
    assert received(receiver) == []


def test_a_shop_without_an_endpoint_for_the_topic_stages_nothing(  # type: ignore[no-untyped-def]
    demo_shop, client, shopify, consumer, worker, receiver, db_session
) -> None:
    on_paid_plan(db_session, demo_shop)
    subscribe(db_session, demo_shop, receiver.url, ["reward.issued"])  # another topic only
    send_order(client, shopify, total="150.00")
    drain(consumer)
    db_session.expire_all()
    staged = select(func.count()).select_from(Outbox).where(Outbox.kind == "merchant_webhook")
    assert db_session.execute(staged).scalar_one() == 0
