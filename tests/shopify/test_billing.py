"""Billing against the fake Shopify: subscribe to the paid plan (with its trial), the merchant approves, the plan is
recorded on return and gates the paid features; app_subscriptions/update turns it off again; bad input is refused."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import select

from app.loyalty.base.plans import plan_allows
from app.models import Shop
from tests.events.test_end_to_end import drain, make_consumer
from tests.helpers import subscription_update
from tests.shopify.conftest import SHOP


@pytest.fixture
def token(admin, shopify_fake) -> str:  # type: ignore[no-untyped-def]
    admin.install()
    return shopify_fake.signer.app_home_token(shop=SHOP)


def stored_shop(db_session) -> Shop:  # type: ignore[no-untyped-def]
    db_session.expire_all()
    return db_session.execute(select(Shop).where(Shop.domain == SHOP)).scalar_one()


def choose(client, token: str, plan: str, *, htmx: bool = True):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {token}"} | ({"HX-Request": "true"} if htmx else {})
    return client.post("/billing/subscribe", data={"plan": plan}, headers=headers)


def test_the_paid_plan_is_approved_recorded_and_gates_its_features(  # type: ignore[no-untyped-def]
    client, admin, shopify_fake, db_session, token
) -> None:
    assert not plan_allows(stored_shop(db_session), "backfill")  # a new shop is on the free plan
    response = choose(client, token, "growth")
    assert response.status_code == 200
    (url,) = re.findall(r'window\.open\("([^"]+)", "_top"\)', response.get_data(as_text=True))
    assert "/RecurringApplicationCharge/confirm_recurring_application_charge" in url
    (created,) = shopify_fake.recorder.graphql("appSubscriptionCreate")
    assert created.variables["trialDays"] == 14 and created.variables["test"] is True
    assert created.variables["lineItems"][0]["plan"]["appRecurringPricingDetails"]["price"] == {
        "amount": "29.00",
        "currencyCode": "USD",
    }
    (subscription_id,) = shopify_fake.state.shop(SHOP).subscriptions
    assert "/billing/confirm" in shopify_fake.approve_subscription(SHOP, subscription_id)

    back = admin.page(shopify_fake.signer.app_home_token(shop=SHOP), path="/billing/confirm")
    assert back.status_code == 200 and "Loyalty Growth" in back.get_data(as_text=True)
    shop = stored_shop(db_session)
    assert (shop.billing_plan, shop.subscription_id, shop.subscription_status) == ("growth", subscription_id, "ACTIVE")
    assert plan_allows(shop, "backfill") and not plan_allows(shop, "no-such-feature")


def test_a_cancelled_subscription_turns_the_paid_features_off(  # type: ignore[no-untyped-def]
    app, client, admin, shopify_fake, db_session, token, redis_client, redis_namespace
) -> None:
    choose(client, token, "growth")
    (subscription_id,) = shopify_fake.state.shop(SHOP).subscriptions
    shopify_fake.approve_subscription(SHOP, subscription_id)
    admin.page(shopify_fake.signer.app_home_token(shop=SHOP), path="/billing/confirm")
    payload = {
        "app_subscription": {
            "admin_graphql_api_id": subscription_id,
            "name": "Loyalty Growth",
            "status": "CANCELLED",
            "admin_graphql_api_shop_id": "gid://shopify/Shop/548380009",
            "created_at": "2026-11-30T10:00:00-05:00",
            "updated_at": "2026-11-30T11:00:00-05:00",
            "currency": "USD",
            "capped_amount": None,
        }
    }
    delivery = shopify_fake.signer.signed_webhook(
        "app_subscriptions/update", payload, shop=SHOP, event_id=str(uuid.uuid4())
    )
    assert client.post("/webhooks", data=delivery.body, headers=delivery.headers).status_code == 200
    drain(make_consumer(app, redis_client, redis_namespace))
    shop = stored_shop(db_session)
    assert (shop.billing_plan, shop.subscription_status) == ("growth", "CANCELLED")
    assert not plan_allows(shop, "backfill")


@pytest.mark.parametrize(
    ("plan", "status", "error"),
    [("platinum", 400, "unknown_plan"), ("free", 400, "free_plan"), ("", 400, "unknown_plan")],
)
def test_a_bad_plan_is_refused_and_nothing_is_sent(client, shopify_fake, token, plan, status, error) -> None:  # type: ignore[no-untyped-def]
    shopify_fake.recorder.clear()
    response = choose(client, token, plan)
    assert (response.status_code, response.get_json()["error"]) == (status, error)
    assert shopify_fake.recorder.graphql() == []


def test_billing_needs_a_verified_admin_session(client, shopify_fake, token) -> None:  # type: ignore[no-untyped-def]
    shopify_fake.recorder.clear()
    assert client.post("/billing/subscribe", data={"plan": "growth"}, headers={"HX-Request": "true"}).status_code in (
        302,
        401,
    )
    forged = shopify_fake.signer.app_home_token(shop=SHOP, secret="not-the-app-secret-but-long-enough-for-hs256")
    assert choose(client, forged, "growth").status_code == 401
    assert shopify_fake.recorder.graphql() == []


def subscribe_and_approve(client, admin, shopify_fake, token: str) -> str:  # type: ignore[no-untyped-def]
    """The merchant chooses the paid plan, approves it, and comes back to the app: the plan is recorded ACTIVE."""
    choose(client, token, "growth")
    (subscription_id,) = [
        key for key, item in shopify_fake.state.shop(SHOP).subscriptions.items() if item["status"] == "PENDING"
    ]
    shopify_fake.approve_subscription(SHOP, subscription_id)
    assert admin.page(shopify_fake.signer.app_home_token(shop=SHOP), path="/billing/confirm").status_code == 200
    return subscription_id


def deliver(client, shopify_fake, topic: str, payload: dict) -> None:  # type: ignore[no-untyped-def]
    delivery = shopify_fake.signer.signed_webhook(topic, payload, shop=SHOP, event_id=str(uuid.uuid4()))
    assert client.post("/webhooks", data=delivery.body, headers=delivery.headers).status_code == 200


def test_an_uninstall_ends_the_paid_plan_and_a_reinstall_starts_on_the_free_plan(  # type: ignore[no-untyped-def]
    app, client, admin, shopify_fake, db_session, token, redis_client, redis_namespace
) -> None:
    subscribe_and_approve(client, admin, shopify_fake, token)
    assert plan_allows(stored_shop(db_session), "backfill")

    # Uninstalling cancels the app's subscription in Shopify; its webhooks stop, so no app_subscriptions/update says
    # so (one sent later would be recorded, not processed, for the uninstalled shop).
    shopify_fake.state.uninstall(SHOP)
    deliver(client, shopify_fake, "app/uninstalled", {"id": 548380009, "myshopify_domain": SHOP})
    drain(make_consumer(app, redis_client, redis_namespace))
    assert stored_shop(db_session).subscription_status == "CANCELLED"

    admin.install()  # the merchant comes back within the 48 hours: the shop and its data are kept ...
    shop = stored_shop(db_session)
    assert shop.uninstalled_at is None
    assert not plan_allows(shop, "backfill")  # ... but not the subscription Shopify cancelled
    shown = client.get("/billing", headers={"Authorization": f"Bearer {shopify_fake.signer.app_home_token(shop=SHOP)}"})
    assert (shown.get_json()["plan"], shown.get_json()["status"]) == ("free", "CANCELLED")

    subscribe_and_approve(client, admin, shopify_fake, shopify_fake.signer.app_home_token(shop=SHOP))
    assert plan_allows(stored_shop(db_session), "backfill")  # paying again turns the features back on


def test_a_late_active_update_of_an_ended_subscription_does_not_turn_the_plan_back_on(  # type: ignore[no-untyped-def]
    app, client, admin, shopify_fake, db_session, token, redis_client, redis_namespace
) -> None:
    consumer = make_consumer(app, redis_client, redis_namespace)
    frozen = subscribe_and_approve(client, admin, shopify_fake, token)
    # A frozen shop's subscription is active again once the shop is unfrozen: FROZEN has not ended it.
    deliver(
        client,
        shopify_fake,
        "app_subscriptions/update",
        subscription_update(frozen, "FROZEN", "2026-11-30T12:00:00-05:00"),
    )
    drain(consumer)
    assert not plan_allows(stored_shop(db_session), "backfill")
    deliver(
        client,
        shopify_fake,
        "app_subscriptions/update",
        subscription_update(frozen, "ACTIVE", "2026-11-30T13:00:00-05:00"),
    )
    drain(consumer)
    assert plan_allows(stored_shop(db_session), "backfill")

    for ended in ("CANCELLED", "EXPIRED", "DECLINED"):
        subscription_id = subscribe_and_approve(
            client, admin, shopify_fake, shopify_fake.signer.app_home_token(shop=SHOP)
        )
        shopify_fake.state.shop(SHOP).subscriptions[subscription_id]["status"] = ended
        deliver(
            client,
            shopify_fake,
            "app_subscriptions/update",
            subscription_update(subscription_id, ended, "2026-11-30T11:00:00-05:00"),
        )
        drain(consumer)
        # The approval's update, delivered late (Shopify retried it, or simply sent it out of order).
        for late in ("FROZEN", "ACTIVE"):
            deliver(
                client,
                shopify_fake,
                "app_subscriptions/update",
                subscription_update(subscription_id, late, "2026-11-30T10:00:00-05:00"),
            )
        drain(consumer)
        shop = stored_shop(db_session)
        assert (shop.subscription_id, shop.subscription_status) == (subscription_id, ended)
        assert not plan_allows(shop, "backfill")
        # What Shopify answers about the present is recorded as it is.
        assert admin.page(shopify_fake.signer.app_home_token(shop=SHOP), path="/billing/confirm").status_code == 200
        assert not plan_allows(stored_shop(db_session), "backfill")


def test_a_retried_active_update_of_a_replaced_subscription_does_not_make_it_current_again(  # type: ignore[no-untyped-def]
    app, client, admin, shopify_fake, db_session, token, redis_client, redis_namespace
) -> None:
    consumer = make_consumer(app, redis_client, redis_namespace)
    subscriptions = shopify_fake.state.shop(SHOP).subscriptions
    # Subscription A, approved two days ago (the merchant came back to the app: /billing/confirm recorded it).
    choose(client, token, "growth")
    (first,) = subscriptions
    subscriptions[first]["createdAt"] = "2026-11-29T09:00:00Z"
    shopify_fake.approve_subscription(SHOP, first)
    assert admin.page(shopify_fake.signer.app_home_token(shop=SHOP), path="/billing/confirm").status_code == 200
    assert stored_shop(db_session).subscription_id == first

    # Today the merchant subscribes again (B): approving it cancels A in Shopify. This time they close the tab, so
    # only Shopify's webhooks tell the app, and out of order: B's ACTIVE, A's CANCELLED, then a retry of A's ACTIVE
    # from two days ago, whose first delivery failed.
    choose(client, shopify_fake.signer.app_home_token(shop=SHOP), "growth")
    (second,) = [key for key in subscriptions if key != first]
    shopify_fake.approve_subscription(SHOP, second)
    created_b = subscriptions[second]["createdAt"]
    updates = [
        subscription_update(second, "ACTIVE", created_b, created_at=created_b),
        subscription_update(first, "CANCELLED", created_b, created_at="2026-11-29T04:00:00-05:00"),
        subscription_update(first, "ACTIVE", "2026-11-29T04:00:05-05:00", created_at="2026-11-29T04:00:00-05:00"),
    ]
    for payload in updates:
        deliver(client, shopify_fake, "app_subscriptions/update", payload)
        drain(consumer)
    shop = stored_shop(db_session)
    assert (shop.subscription_id, shop.subscription_status) == (second, "ACTIVE")
    assert plan_allows(shop, "backfill")

    # So B's own end still ends the paid plan (had A been made current again, it would be ignored as not current).
    subscriptions[second]["status"] = "CANCELLED"
    deliver(
        client,
        shopify_fake,
        "app_subscriptions/update",
        subscription_update(second, "CANCELLED", "2026-12-01T23:00:00Z", created_at=created_b),
    )
    drain(consumer)
    shop = stored_shop(db_session)
    assert (shop.subscription_id, shop.subscription_status) == (second, "CANCELLED")
    assert not plan_allows(shop, "backfill")


def test_an_update_older_than_the_last_one_recorded_is_ignored(  # type: ignore[no-untyped-def]
    app, client, admin, shopify_fake, db_session, token, redis_client, redis_namespace
) -> None:
    consumer = make_consumer(app, redis_client, redis_namespace)
    subscription_id = subscribe_and_approve(client, admin, shopify_fake, token)
    created = shopify_fake.state.shop(SHOP).subscriptions[subscription_id]["createdAt"]
    # The shop was frozen at 13:00 and unfrozen at 14:00; the FROZEN update, retried, arrives after the ACTIVE one.
    for status, updated_at in (("ACTIVE", "2026-12-01T14:00:00-05:00"), ("FROZEN", "2026-12-01T13:00:00-05:00")):
        deliver(
            client,
            shopify_fake,
            "app_subscriptions/update",
            subscription_update(subscription_id, status, updated_at, created_at=created),
        )
        drain(consumer)
    shop = stored_shop(db_session)
    assert (shop.subscription_id, shop.subscription_status) == (subscription_id, "ACTIVE")
    assert plan_allows(shop, "backfill")

    # A later one is applied (frozen again at 15:00), and the same update delivered twice changes nothing more.
    for _ in range(2):
        deliver(
            client,
            shopify_fake,
            "app_subscriptions/update",
            subscription_update(subscription_id, "FROZEN", "2026-12-01T15:00:00-05:00", created_at=created),
        )
        drain(consumer)
    shop = stored_shop(db_session)
    assert (shop.subscription_id, shop.subscription_status) == (subscription_id, "FROZEN")
    assert not plan_allows(shop, "backfill")
