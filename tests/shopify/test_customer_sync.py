"""The customer sees their loyalty in Shopify: after a burst of orders through the real pipeline (signed webhooks,
inbox, stream, consumer, rules, ledger), the `$app` metafields and tier tags in the fake match the ledger, in a
couple of Admin API calls; the tag_customer rule action's tags arrive too."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone
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
from tests.shopify.test_discount_codes import SHOP_UNAVAILABLE

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


OTHER_CUSTOMER = "115310627314723955"


def outbox_rows(db_session) -> list[tuple[str, str, str, int, str | None]]:  # type: ignore[no-untyped-def]
    db_session.expire_all()
    return [
        tuple(row)
        for row in db_session.execute(
            select(Outbox.kind, Outbox.dedupe_key, Outbox.status, Outbox.attempts, Outbox.last_error).order_by(
                Outbox.kind, Outbox.dedupe_key
            )
        )
    ]


def stage_changes(db_session, shop, now) -> None:  # type: ignore[no-untyped-def]
    """Two customers' balances move (a customer.sync row each, by the trigger) and a rule tags one of them."""
    from tests.loyalty.rewards_helpers import give_points

    give_points(db_session, shop, CUSTOMER, 100, now)
    give_points(db_session, shop, OTHER_CUSTOMER, 40, now)
    db_session.add(
        Outbox(
            shop_id=shop.id,
            kind="rule.tag_customer",
            dedupe_key="event:1:rule:1:tag",
            payload={"customer_id": CUSTOMER, "add": ["vip"], "remove": []},
        )
    )
    db_session.commit()


def test_a_403_fails_the_sync_and_tag_rows_at_once_with_the_reason(  # type: ignore[no-untyped-def]
    db_session, shop, outward, shopify_fake, now, caplog
) -> None:
    """Forbidden (a missing access scope, or a shop Shopify forbids) will not change on a retry: no dozen retries
    over six hours, no traceback."""
    stage_changes(db_session, shop, now)
    shopify_fake.recorder.clear()
    shopify_fake.faults.refused(status=403, times=3)
    with caplog.at_level("WARNING"):
        report = drain(outward)
    assert (report.done, report.retried, report.failed, report.waiting) == (0, 0, 3, 0)
    assert len(shopify_fake.recorder.graphql()) == 3
    refused = f"Admin API refused the request for {SHOP}: HTTP 403: Forbidden"
    assert [(kind, status, attempts, error) for kind, _, status, attempts, error in outbox_rows(db_session)] == [
        ("customer.sync", "failed", 1, refused),
        ("customer.sync", "failed", 1, refused),
        ("rule.tag_customer", "failed", 1, refused),
    ]
    assert [record for record in caplog.records if record.exc_info] == []


@pytest.mark.parametrize(("status", "why"), SHOP_UNAVAILABLE)
def test_a_frozen_or_locked_shop_parks_its_sync_and_tag_rows_until_it_is_back(  # type: ignore[no-untyped-def]
    db_session, shop, outward, shopify_fake, now, caplog, status, why
) -> None:
    """The rows wait an hour at a time with the reason, one call per kind each time, never given up while the shop
    is unavailable; once it is back, Shopify gets the customers' current state."""
    from app.tasks.deliveries import MAX_ATTEMPTS

    stage_changes(db_session, shop, now)
    shopify_fake.recorder.clear()
    shopify_fake.faults.refused(status=status, times=1000)
    started = datetime.now(timezone.utc)
    with caplog.at_level("WARNING"):
        report = drain(outward)
    assert (report.done, report.retried, report.failed, report.waiting) == (0, 0, 0, 3)
    assert len(shopify_fake.recorder.graphql()) == 2  # the first sync row's call and the tag row's
    rows = outbox_rows(db_session)
    assert [(kind, status, attempts) for kind, _, status, attempts, _ in rows] == [
        ("customer.sync", "pending", 0),
        ("customer.sync", "pending", 0),
        ("rule.tag_customer", "pending", 0),
    ]
    for *_, error in rows:
        assert error.startswith(f"Shopify answered {why}") and f"({SHOP}); waiting for the shop" in error
    waits = db_session.execute(select(Outbox.next_attempt_at)).scalars().all()
    assert all(started + timedelta(minutes=59) < due < started + timedelta(minutes=61) for due in waits)
    assert [record for record in caplog.records if record.exc_info] == []
    assert drain(outward).waiting == 0 and len(shopify_fake.recorder.graphql()) == 2  # nothing due within the hour

    for hour in range(1, MAX_ATTEMPTS + 2):  # longer than the attempts any other failure gets
        later = replace(outward, clock=lambda hour=hour: started + timedelta(minutes=61 * hour))
        assert drain(later).waiting == 3
    assert len(shopify_fake.recorder.graphql()) == 2 + 2 * (MAX_ATTEMPTS + 1)
    assert {(status, attempts) for _, _, status, attempts, _ in outbox_rows(db_session)} == {("pending", 0)}

    shopify_fake.faults.clear()  # the owner paid, or Shopify unlocked the shop
    back = replace(outward, clock=lambda: started + timedelta(minutes=61 * (MAX_ATTEMPTS + 2)))
    assert drain(back).done == 3
    metafields, tags = in_shopify(shopify_fake)
    assert (metafields["points_balance"], tags) == ("100", ["vip"])
    other = shopify_fake.state.shop(SHOP).customer(f"gid://shopify/Customer/{OTHER_CUSTOMER}")
    assert other.metafields[(APP_NAMESPACE, "points_balance")]["value"] == "40"
