"""The customer sees their loyalty in Shopify: after a burst of orders through the real pipeline (signed webhooks,
inbox, stream, consumer, rules, ledger), the `$app` metafields and tier tags in the fake match the ledger, in a
couple of Admin API calls; the tag_customer rule action's tags arrive too."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.loyalty import gdpr
from app.loyalty.rulebook import save_rule
from app.models import CustomerLoyaltyProfile, Outbox, Shop, TierDefinition
from app.tasks.deliveries import drain
from tests.events.test_end_to_end import drain as drain_stream
from tests.events.test_end_to_end import make_consumer
from tests.helpers import order_payload
from tests.shopify.conftest import SHOP

CUSTOMER = "115310627314723954"
CUSTOMER_GID = f"gid://shopify/Customer/{CUSTOMER}"
APP_NAMESPACE = "app--6710533"  # the fake's `$app` namespace for its app id


@pytest.fixture
def shop(admin, db_session) -> Shop:  # type: ignore[no-untyped-def]
    """Installed through a real token exchange, with a points rule, a tagging rule and a two-tier ladder."""
    admin.install()
    installed = db_session.execute(select(Shop).where(Shop.domain == SHOP)).scalar_one()
    now = datetime.now(timezone.utc)
    for definition in (
        {"name": "Points per dollar", "actions": [{"type": "points_per_currency", "rate": 1, "basis": "total"}]},
        {
            "name": "Tag big spenders",
            "conditions": {"operator": "and", "conditions": [{"type": "order_total", "operator": ">=", "value": 100}]},
            "actions": [{"type": "tag_customer", "add": ["big-spender"], "remove": ["window-shopper"]}],
        },
    ):
        save_rule(db_session, shop_id=installed.id, definition=definition, actor="test", now=now)
    db_session.add_all(
        [
            TierDefinition(shop_id=installed.id, name="Silver", level=1, threshold=Decimal("500")),
            TierDefinition(shop_id=installed.id, name="Gold", level=2, threshold=Decimal("3000")),
        ]
    )
    db_session.commit()
    return installed


def send_orders(client, shopify_fake, consumer, first: int, count: int, total: str = "60.00") -> None:  # type: ignore[no-untyped-def]
    for order_id in range(first, first + count):
        payload = order_payload(order_id=820982911946154508 + order_id, total=total)
        delivery = shopify_fake.signer.signed_webhook("orders/create", payload, shop=SHOP, event_id=str(uuid.uuid4()))
        response = client.post("/webhooks", data=delivery.body, headers=delivery.headers)
        assert response.status_code == 200, response.get_json()
    drain_stream(consumer, rounds=500)


def in_shopify(shopify_fake) -> tuple[dict[str, str], list[str]]:  # type: ignore[no-untyped-def]
    customer = shopify_fake.state.shop(SHOP).customer(CUSTOMER_GID)
    metafields = {
        key: field["value"] for (namespace, key), field in customer.metafields.items() if namespace == APP_NAMESPACE
    }
    return metafields, list(customer.tags)


def in_ledger(db_session) -> tuple[int, int, str | None, int]:  # type: ignore[no-untyped-def]
    db_session.expire_all()
    profile = db_session.execute(
        select(CustomerLoyaltyProfile).where(CustomerLoyaltyProfile.customer_id == CUSTOMER)
    ).scalar_one()
    tier = db_session.get(TierDefinition, profile.current_tier_id) if profile.current_tier_id else None
    return profile.points_balance, profile.points_pending, tier.name if tier else None, tier.level if tier else 0


def test_a_burst_of_100_orders_reaches_the_customer_in_shopify_in_a_couple_of_calls(  # type: ignore[no-untyped-def]
    app, client, shopify_fake, db_session, shop, outward, redis_client, redis_namespace, capsys
) -> None:
    consumer = make_consumer(app, redis_client, redis_namespace)
    shopify_fake.recorder.clear()

    send_orders(client, shopify_fake, consumer, 0, 50)
    drain(outward)  # the worker's minute comes round halfway through the burst
    send_orders(client, shopify_fake, consumer, 50, 50)
    drain(outward)

    balance, pending, tier, level = in_ledger(db_session)
    assert (balance, pending, tier, level) == (6_000, 0, "Gold", 2)
    metafields, tags = in_shopify(shopify_fake)
    assert metafields == {
        "points_balance": str(balance),
        "points_pending": str(pending),
        "tier_level": str(level),
        "tier_name": tier,
    }
    assert tags == ["loyalty-tier:Gold"]  # the Silver tag it had after the first half is gone
    calls = shopify_fake.recorder.graphql()
    syncs = [call for call in calls if "metafieldsSet" in call.root_fields]
    assert len(syncs) == 2  # one per drain, not one per order
    assert len(calls) == 2
    with capsys.disabled():
        print(f"\n[customer sync] 100 orders -> {len(calls)} Admin API calls ({len(syncs)} with metafieldsSet)")


def test_the_tag_customer_rule_action_tags_the_customer_in_shopify(  # type: ignore[no-untyped-def]
    app, client, shopify_fake, db_session, shop, outward, redis_client, redis_namespace
) -> None:
    consumer = make_consumer(app, redis_client, redis_namespace)
    shopify_fake.state.shop(SHOP).customer(CUSTOMER_GID).tags.append("window-shopper")
    send_orders(client, shopify_fake, consumer, 0, 1, total="150.00")
    drain(outward)
    _, tags = in_shopify(shopify_fake)
    assert "big-spender" in tags and "window-shopper" not in tags
    db_session.expire_all()
    statuses = db_session.execute(select(Outbox.kind, Outbox.status).order_by(Outbox.kind)).all()
    assert statuses == [("customer.sync", "done"), ("rule.tag_customer", "done")]


def test_a_change_committed_while_the_sync_is_in_flight_is_sent_again(  # type: ignore[no-untyped-def]
    app, client, shopify_fake, db_session, shop, outward, redis_client, redis_namespace
) -> None:
    """The latest state wins: a row re-staged after it was claimed is not marked done by the older delivery."""
    from app.tasks import deliveries

    consumer = make_consumer(app, redis_client, redis_namespace)
    send_orders(client, shopify_fake, consumer, 0, 1)
    (job,) = deliveries.claim(outward.sessions, now=datetime.now(timezone.utc))
    send_orders(client, shopify_fake, consumer, 1, 1)  # committed after the claim: revision 2
    deliveries.deliver(outward, job, deliveries.DrainReport())  # sends revision 1's read of the state
    db_session.expire_all()
    assert db_session.execute(select(Outbox.status).where(Outbox.kind == "customer.sync")).scalar_one() == "pending"
    drain(outward)
    assert in_shopify(shopify_fake)[0]["points_balance"] == str(in_ledger(db_session)[0]) == "120"


def test_a_redacted_customer_is_never_synced(db_session, shop, outward, shopify_fake, now) -> None:  # type: ignore[no-untyped-def]
    from tests.loyalty.rewards_helpers import give_points

    give_points(db_session, shop, CUSTOMER, 100, now)
    gdpr.redact_customer(db_session, shop_id=shop.id, customer_id=CUSTOMER, now=now)
    db_session.commit()
    shopify_fake.recorder.clear()
    drain(outward)
    assert shopify_fake.recorder.graphql("metafieldsSet") == []
