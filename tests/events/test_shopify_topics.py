"""Every Shopify topic the app subscribes to, end to end with bodies shaped like Shopify's documented examples
(tests/events/shopify_payloads.py): signed webhook -> inbox -> stream -> consumer -> rules -> ledger.

Customer facts come from the payloads: tags (one comma-separated string before API 2025-01, the tag topics after)
make `customer_tag` rules work on real orders, and a tag removed in Shopify stops them; the shop's orders_earn_on
says which order event earns; customers/delete keeps the ledger and clears the rest; a shop that is not installed
gets nothing written."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

import pytest
from sqlalchemy import func, select

from app.events.consumer import StreamConsumer
from app.loyalty.processing.customer_facts import parse_tags
from app.loyalty.rulebook import save_rule
from app.models import CustomerLoyaltyProfile, EventQueue, Order, PointsTransaction, Shop
from tests.events import shopify_payloads as payloads
from tests.events.test_end_to_end import drain, make_consumer

SHOP = "topics-shop.myshopify.com"
CUSTOMER = str(payloads.CUSTOMER_ID)
PER_DOLLAR = 359  # the documented order's total_price "359.97" at 1 point per dollar, floored
VIP_BONUS = 100


@pytest.fixture
def shop(make_shop, db_session) -> Shop:  # type: ignore[no-untyped-def]
    installed = make_shop(SHOP)
    now = datetime.now(timezone.utc)
    for definition in (
        {"name": "Points per dollar", "actions": [{"type": "points_per_currency", "rate": 1, "basis": "total"}]},
        {
            "name": "VIP bonus",
            "conditions": {
                "operator": "and",
                "conditions": [{"type": "customer_tag", "operator": "in", "value": ["vip"]}],
            },
            "actions": [{"type": "points", "amount": VIP_BONUS, "reason": "VIP bonus"}],
        },
    ):
        save_rule(db_session, shop_id=installed.id, definition=definition, actor="test", now=now)
    db_session.commit()
    return installed


@pytest.fixture
def consumer(app, redis_client, redis_namespace) -> StreamConsumer:  # type: ignore[no-untyped-def]
    return make_consumer(app, redis_client, redis_namespace)


@pytest.fixture
def send(client, shopify, consumer):  # type: ignore[no-untyped-def]
    """send(topic, body, shop=SHOP) -> the JSON answer, after the consumer has processed everything."""

    def deliver(topic: str, body: dict[str, Any], *, shop: str = SHOP, status: int = 200) -> dict[str, Any]:
        delivery = shopify.signed_webhook(topic, body, shop=shop, event_id=str(uuid.uuid4()))
        response = client.post("/webhooks", data=delivery.body, headers=delivery.headers)
        assert response.status_code == status, response.get_json()
        drain(consumer)
        return response.get_json()

    return deliver


def profile(db_session, customer: str = CUSTOMER) -> CustomerLoyaltyProfile | None:  # type: ignore[no-untyped-def]
    db_session.expire_all()
    return db_session.execute(
        select(CustomerLoyaltyProfile).where(CustomerLoyaltyProfile.customer_id == customer)
    ).scalar_one_or_none()


def points_of_order(db_session, order_id: int) -> int:  # type: ignore[no-untyped-def]
    return int(
        db_session.execute(
            select(func.coalesce(func.sum(PointsTransaction.points), 0)).where(
                PointsTransaction.source_type == "order", PointsTransaction.source_id == str(order_id)
            )
        ).scalar_one()
    )


def test_shopifys_comma_separated_tags_become_a_list() -> None:
    assert parse_tags("VIP, wholesale") == ["VIP", "wholesale"]
    assert parse_tags(" VIP ,vip, , Wholesale ") == ["VIP", "Wholesale"]  # Shopify's tags ignore case
    assert parse_tags("") == []
    assert parse_tags(["VIP", "wholesale"]) == ["VIP", "wholesale"]
    assert parse_tags(None) is None and parse_tags(42) is None and parse_tags(["VIP", 1]) is None


def test_a_vip_tag_from_customers_update_earns_the_vip_bonus_and_its_removal_stops_it(
    shop,
    send,
    db_session,  # type: ignore[no-untyped-def]
) -> None:
    send("customers/update", payloads.customer_before_2025(tags="VIP, wholesale", email="john@example.com"))
    member = profile(db_session)
    assert member is not None
    assert (member.tags, member.email, member.first_name, member.last_name) == (
        ["VIP", "wholesale"],
        "john@example.com",
        "Bob",
        "Biller",
    )

    send("orders/create", payloads.live_order(1001))
    assert points_of_order(db_session, 1001) == PER_DOLLAR + VIP_BONUS

    send("customers/update", payloads.customer_before_2025(tags="wholesale", first_name="Robert"))
    member = profile(db_session)
    assert (member.tags, member.first_name) == (["wholesale"], "Robert")
    send("orders/create", payloads.live_order(1002))
    assert points_of_order(db_session, 1002) == PER_DOLLAR


def test_the_tag_topics_keep_tags_current_where_customer_payloads_no_longer_carry_them(
    shop,
    send,
    db_session,  # type: ignore[no-untyped-def]
) -> None:
    send("customers/create", payloads.current_customer())
    send("customer.tags_added", payloads.tags_changed(["VIP", "newsletter"]))
    send("customers/update", payloads.current_customer(last_name="Smith"))  # no `tags`: the tags stay
    member = profile(db_session)
    assert (member.tags, member.last_name) == (["VIP", "newsletter"], "Smith")
    send("orders/create", payloads.live_order(2001))
    assert points_of_order(db_session, 2001) == PER_DOLLAR + VIP_BONUS

    send("customer.tags_removed", payloads.tags_changed(["vip"]))
    assert profile(db_session).tags == ["newsletter"]
    send("orders/create", payloads.live_order(2002))
    assert points_of_order(db_session, 2002) == PER_DOLLAR


def test_an_orders_customer_tags_count_for_that_order(shop, send, db_session) -> None:  # type: ignore[no-untyped-def]
    send("orders/create", payloads.live_order(3001, customer_tags="VIP"))
    assert profile(db_session).tags == ["VIP"]
    assert points_of_order(db_session, 3001) == PER_DOLLAR + VIP_BONUS


def test_a_tag_change_without_a_shopify_customer_id_is_refused(shop, send) -> None:  # type: ignore[no-untyped-def]
    answer = send("customer.tags_added", {"customerId": "gid://shopify/Order/1", "tags": ["VIP"]}, status=400)
    assert "not a Shopify customer id" in answer["message"]
    answer = send("customer.tags_removed", {**payloads.tags_changed([]), "tags": "VIP"}, status=400)
    assert "tags must be a list of strings" in answer["message"]


@pytest.mark.parametrize(
    ("earn_on", "earning_topic"),
    [("created", "orders/create"), ("paid", "orders/paid"), ("fulfilled", "orders/fulfilled")],
)
def test_only_the_shops_earning_topic_credits_an_order(
    shop,
    send,
    db_session,
    earn_on,
    earning_topic,  # type: ignore[no-untyped-def]
) -> None:
    shop.orders_earn_on = earn_on
    db_session.commit()
    order_id = 4001
    lifecycle = [
        ("orders/create", payloads.live_order(order_id, financial_status="pending", customer_tags="VIP")),
        ("orders/paid", payloads.live_order(order_id, financial_status="paid")),
        ("orders/fulfilled", payloads.live_order(order_id, fulfillment_status="fulfilled")),
    ]
    for topic, body in lifecycle:
        send(topic, body)
        earned = points_of_order(db_session, order_id)
        reached = [t for t, _ in lifecycle].index(topic) >= [t for t, _ in lifecycle].index(earning_topic)
        assert earned == (PER_DOLLAR + VIP_BONUS if reached else 0), (topic, earned)
        # Recorded from its first event on, counted once, whatever topic earns.
        assert db_session.execute(select(func.count()).select_from(Order)).scalar_one() == 1
        assert profile(db_session).orders_count == 1
    send(earning_topic, dict(lifecycle)[earning_topic])  # another delivery of the earning topic
    assert points_of_order(db_session, order_id) == PER_DOLLAR + VIP_BONUS


def test_customers_delete_keeps_the_ledger_and_clears_the_customer(shop, send, db_session) -> None:  # type: ignore[no-untyped-def]
    send("orders/create", payloads.live_order(5001, customer_tags="VIP"))
    balance = profile(db_session).points_balance + profile(db_session).points_pending
    assert balance == PER_DOLLAR + VIP_BONUS

    send("customers/delete", payloads.customer_deleted())
    member = profile(db_session)
    assert member.deleted_at is not None
    assert (member.email, member.first_name, member.last_name, member.tags) == (None, None, None, [])
    assert member.points_balance + member.points_pending == balance  # the ledger is untouched

    send("customers/update", payloads.customer_before_2025(tags="VIP"))  # a late delivery writes nothing back
    member = profile(db_session)
    assert (member.email, member.tags) == (None, [])

    send("customers/delete", payloads.customer_deleted(999))  # never seen: nothing created
    assert profile(db_session, "999") is None


def test_a_shop_that_never_installed_gets_nothing_written(shop, send, db_session) -> None:  # type: ignore[no-untyped-def]
    stranger = "never-installed.myshopify.com"
    for topic, body in [
        ("customers/create", payloads.current_customer()),
        ("customer.tags_added", payloads.tags_changed(["VIP"])),
        ("orders/create", payloads.live_order(6001)),
    ]:
        assert send(topic, body, shop=stranger)["status"] == "ignored"
    assert db_session.execute(select(func.count()).select_from(EventQueue)).scalar_one() == 0
    assert db_session.execute(select(func.count()).select_from(CustomerLoyaltyProfile)).scalar_one() == 0
    assert db_session.execute(select(func.count()).select_from(Shop).where(Shop.domain == stranger)).scalar_one() == 0


def test_an_uninstalled_shop_records_its_webhooks_and_processes_none(shop, send, db_session) -> None:  # type: ignore[no-untyped-def]
    send("app/uninstalled", {"id": 548380009, "name": "Topics", "myshopify_domain": SHOP, "domain": SHOP})
    for topic, body in [
        ("customers/create", payloads.current_customer()),
        ("customer.tags_added", payloads.tags_changed(["VIP"])),
        ("orders/create", payloads.live_order(7001)),
        ("orders/paid", payloads.live_order(7001)),
    ]:
        assert send(topic, body)["status"] == "accepted"
    redact = {"shop_id": 548380009, "shop_domain": SHOP, "customer": {"id": 191167, "email": "john@example.com"}}
    send("customers/redact", {**redact, "orders_to_redact": [299938]})  # still processed: a compliance duty
    for model in (CustomerLoyaltyProfile, Order, PointsTransaction):
        assert db_session.execute(select(func.count()).select_from(model)).scalar_one() == 0, model
    statuses = db_session.execute(select(EventQueue.status)).scalars().all()
    assert statuses and set(statuses) == {"processed"}  # kept in the inbox (for a reinstall's backfill), done


@pytest.mark.parametrize(
    "contact",
    [
        {"email": 12345, "phone": 5556251199},
        {"email": ["john@example.com"], "phone": {"number": "555-625-1199"}},
    ],
    ids=["numbers", "list-and-object"],
)
@pytest.mark.parametrize(
    "orders", [[299938], 299938, "299938", [{"id": 299938}]], ids=["list", "int", "str", "objects"]
)
def test_customers_redact_of_odd_shapes_still_redacts_the_customer_at_once(  # type: ignore[no-untyped-def]
    shop, send, db_session, contact, orders
) -> None:
    """A compliance duty: an email, phone or orders_to_redact not in Shopify's shape must not stop the redaction
    (it raised AttributeError or TypeError, was retried and dead-lettered, and the customer stayed)."""
    send("orders/create", payloads.live_order(7001))
    assert profile(db_session).email is not None
    redact = {"shop_id": 548380009, "shop_domain": SHOP, "customer": {"id": int(CUSTOMER), **contact}}
    send("customers/redact", {**redact, "orders_to_redact": orders})
    assert profile(db_session) is None  # the profile now lives under a tombstone id
    row = db_session.execute(
        select(EventQueue).where(EventQueue.event_type == "customer_redact_requested")
    ).scalar_one()
    assert (row.status, row.attempts) == ("processed", 0)


def test_customers_redact_of_an_id_past_a_bigint_is_processed_at_once(shop, send, db_session) -> None:  # type: ignore[no-untyped-def]
    """A Shopify id has at most 20 digits, which may pass 2^63: the redaction searched JSON for it as a bigint and
    failed with 'bigint out of range' on every delivery."""
    big = 2**64
    send("orders/create", payloads.live_order(7001, customer_id=big))
    assert profile(db_session, str(big)) is not None
    redact = {"shop_id": 548380009, "shop_domain": SHOP, "customer": {"id": big, "email": "john@example.com"}}
    send("customers/redact", {**redact, "orders_to_redact": [7001]})
    assert profile(db_session, str(big)) is None
    row = db_session.execute(
        select(EventQueue).where(EventQueue.event_type == "customer_redact_requested")
    ).scalar_one()
    assert (row.status, row.attempts) == ("processed", 0)
