"""Install, uninstall, reinstall, through the real pieces: the admin, webhooks, the stream consumer, the storefront
API and the token store, against the fake Shopify."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from app.loyalty.rulebook import save_rule
from app.models import CustomerLoyaltyProfile, EventQueue, ProcessedEvent, RedactedCustomer, Shop
from app.shopify.context import token_context
from app.shopify.tokens import ShopNotConnected, access_token_for, refresh_after_unauthorized
from tests.events.test_end_to_end import drain, make_consumer
from tests.helpers import GET_LOYALTY_PROFILE, order_payload
from tests.shopify.conftest import SHOP

CUSTOMER = "115310627314723954"


@pytest.fixture
def consumer(app, redis_client, redis_namespace):  # type: ignore[no-untyped-def]
    return make_consumer(app, redis_client, redis_namespace)


def deliver(client, shopify_fake, topic: str, payload: dict) -> dict:  # type: ignore[no-untyped-def]
    delivery = shopify_fake.signer.signed_webhook(topic, payload, shop=SHOP, event_id=str(uuid.uuid4()))
    response = client.post("/webhooks", data=delivery.body, headers=delivery.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def storefront(client, shopify_fake, customer: str = CUSTOMER):  # type: ignore[no-untyped-def]
    token = shopify_fake.signer.session_token(shop=SHOP, customer_id=customer)
    return client.post(
        "/graphql",
        json={"query": GET_LOYALTY_PROFILE, "variables": {"customerId": customer}},
        headers={"Authorization": f"Bearer {token}"},
    )


def current_shop(db_session) -> Shop:  # type: ignore[no-untyped-def]
    db_session.expire_all()
    return db_session.execute(select(Shop).where(Shop.domain == SHOP)).scalar_one()


def profiles(db_session) -> int:  # type: ignore[no-untyped-def]
    return db_session.execute(select(func.count()).select_from(CustomerLoyaltyProfile)).scalar_one()


def test_uninstall_refuses_every_surface_sends_nothing_and_a_reinstall_brings_the_shop_back(  # type: ignore[no-untyped-def]
    app, client, admin, shopify_fake, consumer, db_session
) -> None:
    admin.install()
    deliver(client, shopify_fake, "orders/create", order_payload())
    drain(consumer)
    assert storefront(client, shopify_fake).status_code == 200
    installed = current_shop(db_session)
    shop_id, first_installed_at = installed.id, installed.installed_at
    assert profiles(db_session) == 1

    shopify_fake.state.uninstall(SHOP)  # Shopify revokes the tokens and tells the app
    assert deliver(client, shopify_fake, "app/uninstalled", {"id": 1, "myshopify_domain": SHOP})["status"] == "accepted"
    drain(consumer)
    uninstalled = current_shop(db_session)
    assert uninstalled.uninstalled_at is not None
    assert (uninstalled.access_token, uninstalled.refresh_token) == (None, None)
    shopify_fake.recorder.clear()

    htmx = admin.htmx(shopify_fake.signer.app_home_token(shop=SHOP))
    assert (htmx.status_code, htmx.get_json()["error"]) == (401, "shop_not_installed")
    graphql = storefront(client, shopify_fake)
    assert (graphql.status_code, graphql.get_json()["error"]) == (401, "shop_not_installed")
    order = deliver(client, shopify_fake, "orders/create", order_payload(order_id=2, customer_id=2))
    assert order["status"] == "accepted"  # recorded ...
    drain(consumer)
    assert profiles(db_session) == 1  # ... and not processed
    note = db_session.execute(
        select(ProcessedEvent.outcome["note"].astext).where(ProcessedEvent.event_id == uuid.UUID(order["event_id"]))
    ).scalar_one()
    assert note == f"{SHOP} is not installed: event recorded, not processed"
    assert (
        db_session.execute(
            select(EventQueue.status).where(EventQueue.event_id == uuid.UUID(order["event_id"]))
        ).scalar_one()
        == "processed"
    )
    context = token_context(app)
    with pytest.raises(ShopNotConnected, match="uninstalled"):
        access_token_for(context, SHOP)
    with pytest.raises(ShopNotConnected, match="uninstalled"):
        refresh_after_unauthorized(context, SHOP, rejected_token="shpat_revoked")
    assert shopify_fake.recorder.requests == []  # nothing was sent to Shopify for the uninstalled shop

    admin.install()  # Shopify loads the app again after a reinstall: a new token exchange
    reinstalled = current_shop(db_session)
    assert reinstalled.id == shop_id and reinstalled.uninstalled_at is None
    assert reinstalled.installed_at > first_installed_at
    assert len(shopify_fake.recorder.token_requests()) == 1
    assert profiles(db_session) == 1  # its data came back with it
    assert storefront(client, shopify_fake).status_code == 200
    assert admin.htmx(shopify_fake.signer.app_home_token(shop=SHOP)).status_code == 200
    assert shopify_fake.state.shop_for_access_token(access_token_for(context, SHOP), SHOP)


def test_shop_redact_after_an_uninstall_deletes_the_shop(admin, client, shopify_fake, consumer, db_session) -> None:  # type: ignore[no-untyped-def]
    admin.install()
    deliver(client, shopify_fake, "orders/create", order_payload())
    deliver(client, shopify_fake, "app/uninstalled", {"id": 1, "myshopify_domain": SHOP})
    drain(consumer)

    deliver(client, shopify_fake, "shop/redact", {"shop_id": 1, "shop_domain": SHOP})
    drain(consumer)

    assert db_session.execute(select(func.count()).select_from(Shop)).scalar_one() == 0
    assert profiles(db_session) == 0
    assert deliver(client, shopify_fake, "orders/create", order_payload())["status"] == "ignored"


def shop_redact_note(db_session, event_id: str) -> str:  # type: ignore[no-untyped-def]
    return db_session.execute(
        select(ProcessedEvent.outcome["note"].astext).where(ProcessedEvent.event_id == uuid.UUID(event_id))
    ).scalar_one()


def test_shop_redact_for_a_shop_reinstalled_since_keeps_it_and_one_after_48_hours_deletes_it(  # type: ignore[no-untyped-def]
    admin, client, shopify_fake, consumer, db_session
) -> None:
    admin.install()
    shop_id = current_shop(db_session).id
    rule = {"name": "Points per dollar", "actions": [{"type": "points_per_currency", "rate": 1, "basis": "total"}]}
    save_rule(db_session, shop_id=shop_id, definition=rule, actor="test", now=datetime.now(timezone.utc))
    db_session.commit()
    deliver(client, shopify_fake, "orders/create", order_payload(total="150.00"))
    drain(consumer)
    balance = storefront(client, shopify_fake).get_json()["data"]["loyaltyProfile"]["points_balance"]
    assert balance == 150
    shopify_fake.state.uninstall(SHOP)
    deliver(client, shopify_fake, "app/uninstalled", {"id": 548380009, "myshopify_domain": SHOP})
    drain(consumer)
    admin.install()  # the merchant came back within the 48 hours

    redact = {"shop_id": 548380009, "shop_domain": SHOP}
    kept = deliver(client, shopify_fake, "shop/redact", redact)  # 48 hours after the uninstall
    drain(consumer)
    reinstalled = current_shop(db_session)
    assert (reinstalled.id, reinstalled.uninstalled_at) == (shop_id, None)
    assert shop_redact_note(db_session, kept["event_id"]) == (
        "shop/redact not applied: the shop was installed again since its uninstall; its data is kept"
    )
    assert profiles(db_session) == 1
    assert storefront(client, shopify_fake).get_json()["data"]["loyaltyProfile"]["points_balance"] == balance

    # Uninstalled again and left: the shop/redact of that uninstall deletes everything, and a later install starts
    # afresh.
    shopify_fake.state.uninstall(SHOP)
    deliver(client, shopify_fake, "app/uninstalled", {"id": 548380009, "myshopify_domain": SHOP})
    drain(consumer)
    deliver(client, shopify_fake, "shop/redact", redact)
    drain(consumer)
    assert db_session.execute(select(func.count()).select_from(Shop)).scalar_one() == 0
    assert profiles(db_session) == 0
    admin.install()
    assert current_shop(db_session).id != shop_id
    assert storefront(client, shopify_fake).get_json()["data"]["loyaltyProfile"]["points_balance"] == 0


def dead_letter_stream_text(redis_client, redis_namespace) -> str:  # type: ignore[no-untyped-def]
    """Every field of every entry of the namespace's dead-letter streams, as one text."""
    found = []
    for key in redis_client.scan_iter(match=f"{redis_namespace}:events:*:dead"):
        for _entry_id, fields in redis_client.xrange(key):
            found += [f"{name.decode()}={value.decode()}" for name, value in fields.items()]
    return "\n".join(found)


def test_a_dead_lettered_event_leaves_no_personal_data_in_redis_after_the_redactions(  # type: ignore[no-untyped-def]
    admin, client, shopify_fake, consumer, db_session, redis_client, redis_namespace
) -> None:
    admin.install()
    customer = {"id": 7781123456789012345, "email": "zebulon.q@example.net", "phone": "+44 7700 900123"}
    order = order_payload(order_id=5512345678901234567, customer_id=customer["id"], total="1e30")
    order["customer"].update(email=customer["email"], first_name="Zebulon", last_name="Quimbyfeather")
    order["shipping_address"] = {"name": "Zebulon Quimbyfeather", "address1": "1 Quimbyfeather Lane"}
    dead = deliver(client, shopify_fake, "orders/create", order)  # an amount no order holds: dead-lettered
    drain(consumer)
    assert (
        db_session.execute(select(EventQueue.status).where(EventQueue.event_id == uuid.UUID(dead["event_id"])))
    ).scalar_one() == "dead"
    assert dead["event_id"] in dead_letter_stream_text(redis_client, redis_namespace)

    redact = {"shop_id": 548380009, "shop_domain": SHOP, "customer": customer, "orders_to_redact": [order["id"]]}
    deliver(client, shopify_fake, "customers/redact", redact)
    drain(consumer)
    kept = dead_letter_stream_text(redis_client, redis_namespace)
    for personal in (customer["email"], str(customer["id"]), "Zebulon", "Quimbyfeather", customer["phone"]):
        assert personal not in kept, personal

    deliver(client, shopify_fake, "app/uninstalled", {"id": 548380009, "myshopify_domain": SHOP})
    deliver(client, shopify_fake, "shop/redact", {"shop_id": 548380009, "shop_domain": SHOP})
    drain(consumer)
    assert db_session.execute(select(func.count()).select_from(Shop)).scalar_one() == 0
    assert SHOP not in dead_letter_stream_text(redis_client, redis_namespace)


def redis_holdings(redis_client, redis_namespace) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Every key of this run (the app's namespace and Huey's keys, which embed it) with what it holds, as text."""
    readers = {
        b"string": redis_client.get,
        b"hash": redis_client.hgetall,
        b"list": lambda key: redis_client.lrange(key, 0, -1),
        b"set": redis_client.smembers,
        b"zset": lambda key: redis_client.zrange(key, 0, -1),
        b"stream": redis_client.xrange,
    }
    return {
        key.decode(): repr(readers[redis_client.type(key)](key))
        for key in redis_client.scan_iter(match=f"*{redis_namespace}*")
    }


def test_customers_redact_leaves_no_key_naming_the_customer_and_no_value_holding_them_in_redis(  # type: ignore[no-untyped-def]
    admin, client, shopify_fake, consumer, redis_client, redis_namespace
) -> None:
    """The storefront's read cache and the per-shopper rate-limit counters are keyed by the shopper's id; a
    customers/redact removes the customer's, once the database part has committed, and leaves another shopper's."""
    admin.install()
    customer = {"id": 7781123456789012345, "email": "zebulon.q@example.net", "phone": "+44 7700 900123"}
    other = "7781123456789055555"
    order = order_payload(order_id=5512345678901234567, customer_id=customer["id"], total="150.00")
    order["email"] = customer["email"]
    order["customer"].update(email=customer["email"], first_name="Zebulon", last_name="Quimbyfeather")
    deliver(client, shopify_fake, "orders/create", order)
    deliver(client, shopify_fake, "orders/create", order_payload(order_id=5512345678901239999, customer_id=int(other)))
    drain(consumer)
    for shopper in (str(customer["id"]), other):
        assert storefront(client, shopify_fake, shopper).status_code == 200
    before = redis_holdings(redis_client, redis_namespace)
    theirs = {key.split(":")[1] for key in before if str(customer["id"]) in key}
    assert theirs == {"storefront", "ratelimit"}  # the read cache's answer and the shopper's counter exist
    others_before = {key: value for key, value in before.items() if other in key}
    assert {key.split(":")[1] for key in others_before} == {"storefront", "ratelimit"}

    redact = {
        "shop_id": 548380009,
        "shop_domain": SHOP,
        "customer": customer,
        "orders_to_redact": [order["id"]],
    }
    deliver(client, shopify_fake, "customers/redact", redact)
    drain(consumer)

    after = redis_holdings(redis_client, redis_namespace)
    assert [key for key in after if str(customer["id"]) in key] == []
    for personal in (customer["email"], str(customer["id"]), customer["phone"], "Quimbyfeather"):
        assert [key for key, value in after.items() if personal in value] == [], personal
    assert {key: value for key, value in after.items() if other in key} == others_before


def test_a_payload_arriving_after_customers_redact_writes_nothing_of_the_customer_again(  # type: ignore[no-untyped-def]
    admin, client, shopify_fake, consumer, db_session
) -> None:
    """Shopify sends customers/redact months after the request; an old order of theirs archived or refunded later
    still sends its webhook, with their email and names."""
    admin.install()
    seen = {"id": 7781123456789012345, "email": "zebulon.q@example.net", "phone": "+44 7700 900123"}
    never_seen = {"id": 7781123456789099999, "email": "ottoline.v@example.net", "phone": "+44 7700 900456"}
    first = order_payload(order_id=5512345678901234567, customer_id=seen["id"], total="150.00")
    first["customer"].update(email=seen["email"], first_name="Zebulon", last_name="Quimbyfeather")
    deliver(client, shopify_fake, "orders/create", first)
    drain(consumer)
    for customer, orders in ((seen, [first["id"]]), (never_seen, [])):
        redact = {"shop_id": 548380009, "shop_domain": SHOP, "customer": customer, "orders_to_redact": orders}
        deliver(client, shopify_fake, "customers/redact", redact)
        drain(consumer)
    redacted_profiles = profiles(db_session)

    late = []
    for customer, name in ((seen, ("Zebulon", "Quimbyfeather")), (never_seen, ("Ottoline", "Vanderquist"))):
        order = order_payload(order_id=5512345678901230000 + len(late), customer_id=customer["id"], total="90.00")
        order["customer"].update(email=customer["email"], first_name=name[0], last_name=name[1])
        order["email"] = customer["email"]
        late.append(deliver(client, shopify_fake, "orders/updated", order)["event_id"])
    other = order_payload(order_id=5512345678901239999, customer_id=7781123456789055555, total="120.00")
    deliver(client, shopify_fake, "orders/create", other)  # another customer in the same batch is served as ever
    drain(consumer)

    db_session.expire_all()
    assert profiles(db_session) == redacted_profiles + 1
    kept = db_session.execute(select(CustomerLoyaltyProfile.customer_id, CustomerLoyaltyProfile.email)).all()
    assert [row for row in kept if not row.customer_id.startswith("redacted:")] == [
        ("7781123456789055555", "jon@example.com")
    ]
    assert [row.email for row in kept if row.customer_id.startswith("redacted:")] == [None]
    for event_id, customer in zip(late, (seen, never_seen), strict=True):
        row = db_session.execute(select(EventQueue).where(EventQueue.event_id == uuid.UUID(event_id))).scalar_one()
        assert (row.status, row.customer_id) == ("processed", None)
        stored = str(row.payload)
        for personal in (customer["email"], str(customer["id"]), "Zebulon", "Ottoline", "Quimbyfeather"):
            assert personal not in stored, personal
        outcome = db_session.execute(
            select(ProcessedEvent.outcome).where(ProcessedEvent.event_id == uuid.UUID(event_id))
        ).scalar_one()
        assert "its customer was redacted (customers/redact): nothing of them is written" in str(outcome)
    # What is kept of them is a keyed hash: no table holds the Shopify id.
    keys = db_session.execute(select(RedactedCustomer.customer_key)).scalars().all()
    assert len(keys) == 2 and all(str(seen["id"]).encode() not in bytes(key) for key in keys)
