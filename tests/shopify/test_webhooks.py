"""POST /webhooks: verify the HMAC over the raw body, envelope, commit to the inbox, answer fast; the relay streams
the row (and only it talks to Redis, so a webhook is accepted with Redis down)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from app.events.relay import Relay
from app.events.stream import StreamKeys
from app.models import EventQueue, Shop
from app.shopify.webhooks import verify_webhook
from tests.events.stream_helpers import stream_entries
from tests.helpers import order_payload

SECRETS = ("shpss_test_secret_0123456789abcdef",)


def _inbox_count(session) -> int:  # type: ignore[no-untyped-def]
    return session.execute(select(func.count()).select_from(EventQueue)).scalar_one()


def _stream_length(redis_client, redis_namespace: str) -> int:  # type: ignore[no-untyped-def]
    return len(stream_entries(redis_client, StreamKeys.for_namespace(redis_namespace)))


def _relay(app, client=None) -> Relay:  # type: ignore[no-untyped-def]
    from app.extensions import db, redis_store

    with app.app_context():
        engine = db.engine
    return Relay(engine, client or redis_store.client, StreamKeys.for_namespace(redis_store.namespace))


class TestVerifyWebhook:
    def test_accepts_a_delivery_signed_with_the_secret(self, shopify) -> None:  # type: ignore[no-untyped-def]
        delivery = shopify.signed_webhook("orders/create", {"id": 1})
        check = verify_webhook(delivery.headers, delivery.body, SECRETS)
        assert check.ok and check.shop == "test-shop.myshopify.com" and check.topic == "orders/create"
        assert check.body == delivery.body.decode()  # the text the route stores, decoded once

    def test_accepts_the_previous_secret_during_rotation(self, shopify) -> None:  # type: ignore[no-untyped-def]
        delivery = shopify.signed_webhook("orders/create", {"id": 1}, secret="shpss_old_secret_0123456789abcdefgh")
        assert verify_webhook(
            delivery.headers,
            delivery.body,
            ("shpss_new_secret_0123456789abcdefgh", "shpss_old_secret_0123456789abcdefgh"),
        ).ok
        assert not verify_webhook(delivery.headers, delivery.body, ("shpss_new_secret_0123456789abcdefgh",)).ok

    def test_header_names_are_case_insensitive_in_practice(self, shopify) -> None:  # type: ignore[no-untyped-def]
        delivery = shopify.signed_webhook("orders/create", {"id": 1})
        lowered = {key.lower(): value for key, value in delivery.headers.items()}
        assert verify_webhook(lowered, delivery.body, SECRETS).ok

    def test_a_signature_header_that_is_not_ascii_fails_without_an_error(self, shopify) -> None:  # type: ignore[no-untyped-def]
        delivery = shopify.signed_webhook("orders/create", {"id": 1})
        delivery.headers["X-Shopify-Hmac-Sha256"] = "é" + delivery.headers["X-Shopify-Hmac-Sha256"][1:]
        check = verify_webhook(delivery.headers, delivery.body, SECRETS)
        assert (check.ok, check.code, check.status) == (False, "invalid_hmac", 401)

    def test_a_single_changed_byte_fails(self, shopify) -> None:  # type: ignore[no-untyped-def]
        delivery = shopify.signed_webhook("orders/create", {"id": 1})
        check = verify_webhook(delivery.headers, delivery.body.replace(b"1", b"2"), SECRETS)
        assert (check.ok, check.code, check.status) == (False, "invalid_hmac", 401)


class TestWebhookRoute:
    def test_accepted_webhook_is_in_the_inbox_and_the_relay_streams_it(  # type: ignore[no-untyped-def]
        self, app, client, db_session, redis_client, redis_namespace, shopify, shop
    ) -> None:
        delivery = shopify.signed_webhook("orders/create", order_payload(), event_id="evt-1")
        response = client.post("/webhooks", data=delivery.body, headers=delivery.headers)
        assert response.status_code == 200
        assert response.get_json()["status"] == "accepted"
        row = db_session.execute(select(EventQueue)).scalar_one()
        assert row.event_type == "order_created"
        assert row.customer_id == "115310627314723954"
        assert row.payload["total_price"] == "150.00"
        assert row.payload["id"] == 820982911946154508  # big ids survive exactly
        assert str(row.event_id) == response.get_json()["event_id"]
        assert row.shop_id == shop.id
        assert _stream_length(redis_client, redis_namespace) == 0  # the request never waits on Redis
        assert _relay(app).turn() == 1
        assert _stream_length(redis_client, redis_namespace) == 1

    def test_redelivery_with_the_same_event_id_is_acknowledged_and_not_queued_again(  # type: ignore[no-untyped-def]
        self, app, client, db_session, redis_client, redis_namespace, shopify, shop
    ) -> None:
        first = shopify.signed_webhook("orders/create", order_payload(), event_id="evt-1", webhook_id="w1")
        again = shopify.signed_webhook("orders/create", order_payload(), event_id="evt-1", webhook_id="w2")
        assert client.post("/webhooks", data=first.body, headers=first.headers).status_code == 200
        response = client.post("/webhooks", data=again.body, headers=again.headers)
        assert response.status_code == 200
        assert response.get_json()["status"] == "duplicate"
        assert _inbox_count(db_session) == 1
        assert _relay(app).turn() == 1
        assert _stream_length(redis_client, redis_namespace) == 1

    @pytest.mark.parametrize(
        ("mutate", "status", "code"),
        [
            (lambda h: h.pop("X-Shopify-Hmac-Sha256"), 401, "missing_hmac_header"),
            (lambda h: h.update({"X-Shopify-Hmac-Sha256": "AAAA"}), 401, "invalid_hmac"),
            (lambda h: h.update({"X-Shopify-Hmac-Sha256": ""}), 401, "missing_hmac_header"),
        ],
        ids=["missing", "wrong", "empty"],
    )
    def test_bad_signature_is_401_and_writes_nothing(  # type: ignore[no-untyped-def]
        self, client, db_session, redis_client, redis_namespace, shopify, mutate, status, code
    ) -> None:
        delivery = shopify.signed_webhook("orders/create", order_payload())
        mutate(delivery.headers)
        response = client.post("/webhooks", data=delivery.body, headers=delivery.headers)
        assert response.status_code == status
        assert response.get_json()["error"] == code
        assert _inbox_count(db_session) == 0
        assert db_session.execute(select(func.count()).select_from(Shop)).scalar_one() == 0
        assert _stream_length(redis_client, redis_namespace) == 0

    def test_signed_with_another_apps_secret_is_401(  # type: ignore[no-untyped-def]
        self, client, db_session, shopify
    ) -> None:
        delivery = shopify.signed_webhook("orders/create", order_payload(), secret="someone-else")
        assert client.post("/webhooks", data=delivery.body, headers=delivery.headers).status_code == 401
        assert _inbox_count(db_session) == 0

    @pytest.mark.parametrize(
        ("shop", "message"),
        [("evil.com", "myshopify.com"), ("shop.myshopify.com.evil.test", "myshopify.com")],
    )
    def test_a_shop_header_that_is_not_a_shop_is_400(  # type: ignore[no-untyped-def]
        self, client, db_session, shopify, shop, message
    ) -> None:
        delivery = shopify.signed_webhook("orders/create", order_payload(), shop=shop)
        response = client.post("/webhooks", data=delivery.body, headers=delivery.headers)
        assert response.status_code == 400
        assert message in response.get_json()["message"]
        assert _inbox_count(db_session) == 0

    @pytest.mark.parametrize(
        ("drop", "code"),
        [(("X-Shopify-Topic",), "missing_topic"), (("X-Shopify-Event-Id", "X-Shopify-Webhook-Id"), "missing_id")],
        ids=["no-topic", "no-event-or-webhook-id"],
    )
    def test_a_signed_delivery_missing_shopifys_headers_is_400(  # type: ignore[no-untyped-def]
        self, client, db_session, redis_client, redis_namespace, shopify, drop, code
    ) -> None:
        delivery = shopify.signed_webhook("orders/create", order_payload())
        for header in drop:
            delivery.headers.pop(header)
        response = client.post("/webhooks", data=delivery.body, headers=delivery.headers)
        assert (response.status_code, response.get_json()["error"]) == (400, code)
        assert _inbox_count(db_session) == 0
        assert _stream_length(redis_client, redis_namespace) == 0

    def test_a_webhook_id_longer_than_the_inbox_keeps_is_400_and_writes_nothing(  # type: ignore[no-untyped-def]
        self, client, db_session, shopify, shop
    ) -> None:
        delivery = shopify.signed_webhook("orders/create", order_payload(), webhook_id="w" * 129)
        response = client.post("/webhooks", data=delivery.body, headers=delivery.headers)
        assert response.status_code == 400  # it was a 500: event_queue.webhook_id is 128 characters
        assert response.get_json() == {
            "error": "invalid_webhook_id",
            "message": "X-Shopify-Webhook-Id is 129 characters long; Shopify's are at most 128",
        }
        assert _inbox_count(db_session) == 0
        at_most = shopify.signed_webhook("orders/create", order_payload(), webhook_id="w" * 128)
        assert client.post("/webhooks", data=at_most.body, headers=at_most.headers).status_code == 200

    def test_a_signed_body_that_is_not_json_is_400(self, client, db_session, shopify) -> None:  # type: ignore[no-untyped-def]
        delivery = shopify.signed_webhook("orders/create", b"{not json")
        response = client.post("/webhooks", data=delivery.body, headers=delivery.headers)
        assert response.status_code == 400
        assert response.get_json()["error"] == "invalid_json"
        assert _inbox_count(db_session) == 0

    @pytest.mark.parametrize("customer_id", ["9" * 21, "-5", "12ab", True])
    def test_a_customer_id_that_is_not_a_shopify_id_is_400(  # type: ignore[no-untyped-def]
        self, client, db_session, shopify, customer_id
    ) -> None:
        payload = order_payload()
        payload["customer"]["id"] = customer_id
        delivery = shopify.signed_webhook("orders/create", payload)
        response = client.post("/webhooks", data=delivery.body, headers=delivery.headers)
        assert response.status_code == 400
        assert "is not a Shopify id" in response.get_json()["message"]
        assert _inbox_count(db_session) == 0

    @pytest.mark.parametrize(
        ("triggered_at", "occurred"),
        [
            ("2026-11-30T10:15:00.123-05:00", datetime(2026, 11, 30, 15, 15, 0, 123000, tzinfo=timezone.utc)),
            ("2026-11-30T15:15:00", datetime(2026, 11, 30, 15, 15, tzinfo=timezone.utc)),  # no offset: UTC
            ("yesterday", None),
            ("0001-01-01T00:00:00+14:00", None),  # the year before year 1 in UTC: it was a 500
            ("9999-12-31T23:59:59Z", None),  # it would have been the order's placed_at
        ],
        ids=["shopify-form", "no-offset", "not-a-time", "before-year-1", "ahead-of-receipt"],
    )
    def test_the_event_happened_at_shopifys_trigger_time_else_at_its_receipt(  # type: ignore[no-untyped-def]
        self, client, db_session, shopify, shop, triggered_at, occurred
    ) -> None:
        received = datetime.now(timezone.utc)
        delivery = shopify.signed_webhook("orders/create", order_payload(), triggered_at=triggered_at)
        response = client.post("/webhooks", data=delivery.body, headers=delivery.headers)
        assert response.status_code == 200, response.get_json()
        occurred_at = db_session.execute(select(EventQueue.occurred_at)).scalar_one()
        if occurred is None:
            assert received <= occurred_at <= datetime.now(timezone.utc)
        else:
            assert occurred_at == occurred

    def test_nul_characters_a_shopper_typed_are_dropped_not_the_order(  # type: ignore[no-untyped-def]
        self, client, db_session, shopify, shop
    ) -> None:
        delivery = shopify.signed_webhook("orders/create", order_payload(note="gift\u0000wrap"))
        assert b"\\u0000" in delivery.body
        response = client.post("/webhooks", data=delivery.body, headers=delivery.headers)
        assert response.status_code == 200
        assert db_session.execute(select(EventQueue.payload["note"].astext)).scalar_one() == "giftwrap"

    def test_a_lone_surrogate_a_shopper_typed_is_dropped_and_a_real_pair_kept(  # type: ignore[no-untyped-def]
        self, client, db_session, shopify, shop
    ) -> None:
        body = json.dumps(order_payload(note="gift"), separators=(",", ":"))
        body = body.replace('"note":"gift"', '"note":"gift\\ud800 wrap \\uD83D\\uDE00"')
        assert "\\ud800" in body
        delivery = shopify.signed_webhook("orders/create", body.encode())
        response = client.post("/webhooks", data=delivery.body, headers=delivery.headers)
        assert response.status_code == 200, response.get_json()
        assert db_session.execute(select(EventQueue.payload["note"].astext)).scalar_one() == "gift wrap \U0001f600"

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
            (b'{"id": 1, "total_price": NaN}', "NaN is not a JSON value"),
            (b'{"id": 1, "total_price": Infinity}', "Infinity is not a JSON value"),
            (b'{"id": 1, "note": "a\\u0000b", "total_weight": 1e309}', "Out of range float values"),
            (b'"an order"', "must be a JSON object"),
            (b"42", "must be a JSON object"),
        ],
        ids=["deeply-nested", "nan", "infinity", "cleaned-with-overflowing-number", "string", "number"],
    )
    def test_a_body_that_is_not_a_json_object_is_400_with_its_reason(  # type: ignore[no-untyped-def]
        self, client, db_session, shopify, shop, body, message
    ) -> None:
        delivery = shopify.signed_webhook("orders/create", body)
        response = client.post("/webhooks", data=delivery.body, headers=delivery.headers)
        assert (response.status_code, response.get_json()["error"]) == (400, "invalid_json")
        assert message in response.get_json()["message"]
        assert _inbox_count(db_session) == 0

    @pytest.mark.parametrize("customer", ["115310627314723954", [{"id": 115310627314723954}], 7])
    @pytest.mark.parametrize("topic", ["orders/create", "orders/paid", "customers/redact"])
    def test_a_customer_that_is_not_an_object_is_400(  # type: ignore[no-untyped-def]
        self, client, db_session, shopify, shop, topic, customer
    ) -> None:
        delivery = shopify.signed_webhook(topic, order_payload(customer=customer))
        response = client.post("/webhooks", data=delivery.body, headers=delivery.headers)
        assert (response.status_code, response.get_json()["error"]) == (400, "invalid_payload")
        assert "customer must be an object" in response.get_json()["message"]
        assert _inbox_count(db_session) == 0

    @pytest.mark.parametrize(
        ("topic", "payload", "message"),
        [
            ("orders/create", order_payload(id=None), "id is missing: orders/create names its order"),
            ("orders/paid", order_payload(id={"id": 1}), "is not a Shopify order id"),
            ("orders/updated", order_payload(id="x" * 200), "is not a Shopify order id"),
            ("orders/cancelled", order_payload(id="820982911946154508\n"), "is not a Shopify order id"),
            ("refunds/create", {"id": 509562969, "order_id": -1}, "order_id '-1' is not a Shopify order id"),
            # A refund's id is in its idempotency key: two refunds of one order without one would be taken as one.
            ("refunds/create", {"order_id": 450789469}, "id is missing: refunds/create names its refund"),
            ("refunds/create", {"id": "R" * 300, "order_id": 450789469}, "is not a Shopify refund id"),
        ],
        ids=["missing", "object", "too-long", "trailing-newline", "negative-refund-order", "no-refund-id", "refund-id"],
    )
    def test_an_order_topic_without_a_shopify_order_id_is_400(  # type: ignore[no-untyped-def]
        self, client, db_session, shopify, shop, topic, payload, message
    ) -> None:
        delivery = shopify.signed_webhook(topic, payload)
        response = client.post("/webhooks", data=delivery.body, headers=delivery.headers)
        assert (response.status_code, response.get_json()["error"]) == (400, "invalid_payload")
        assert message in response.get_json()["message"]
        assert _inbox_count(db_session) == 0

    def test_a_body_that_is_not_utf8_is_refused_with_its_reason(  # type: ignore[no-untyped-def]
        self, client, db_session, shopify, shop
    ) -> None:
        delivery = shopify.signed_webhook("orders/create", b'{"id": 1, "note": "caf\xe9"}')
        response = client.post("/webhooks", data=delivery.body, headers=delivery.headers)
        assert response.status_code == 401
        assert "not UTF-8" in response.get_json()["message"]
        assert _inbox_count(db_session) == 0

    def test_a_json_array_body_is_400(self, client, db_session, shopify) -> None:  # type: ignore[no-untyped-def]
        delivery = shopify.signed_webhook("orders/create", json.dumps([1, 2]).encode())
        assert client.post("/webhooks", data=delivery.body, headers=delivery.headers).status_code == 400
        assert _inbox_count(db_session) == 0

    def test_a_topic_we_do_not_subscribe_to_is_acknowledged_and_ignored(  # type: ignore[no-untyped-def]
        self, client, db_session, shopify
    ) -> None:
        delivery = shopify.signed_webhook("products/update", {"id": 1})
        response = client.post("/webhooks", data=delivery.body, headers=delivery.headers)
        assert (response.status_code, response.get_json()["status"]) == (200, "ignored")
        assert _inbox_count(db_session) == 0

    def test_get_is_405_with_a_json_error(self, client) -> None:  # type: ignore[no-untyped-def]
        response = client.get("/webhooks")
        assert response.status_code == 405
        assert response.get_json()["error"] == "method_not_allowed"

    def test_an_oversized_body_is_413_with_the_limit_and_writes_nothing(  # type: ignore[no-untyped-def]
        self, client, db_session, shopify
    ) -> None:
        delivery = shopify.signed_webhook("orders/create", order_payload(note="x" * (7 * 1024 * 1024)))
        response = client.post("/webhooks", data=delivery.body, headers=delivery.headers)
        assert (response.status_code, response.get_json()["error"]) == (413, "request_entity_too_large")
        assert f"over the {6 * 1024 * 1024} byte limit" in response.get_json()["message"]
        assert _inbox_count(db_session) == 0

    def test_the_largest_realistic_order_is_accepted(  # type: ignore[no-untyped-def]
        self, client, db_session, shopify, shop
    ) -> None:
        """2,500 line items, each with its tax lines and money sets as Shopify's orders/create example has them."""
        line = order_payload()["line_items"][0]
        money = {"shop_money": {"amount": "19.99", "currency_code": "USD"}}
        money["presentment_money"] = money["shop_money"]
        tax = {"price": "1.60", "rate": 0.08, "title": "State Tax", "price_set": money, "channel_liable": False}
        lines = [
            {
                **line,
                "id": 866550311766439020 + index,
                "name": "IPod Nano - 8GB - Pink",
                "price_set": money,
                "total_discount": "0.00",
                "total_discount_set": money,
                "tax_lines": [tax, {**tax, "title": "County Tax"}, {**tax, "title": "City Tax"}],
                "properties": [{"name": "engraving", "value": "for Jon"}],
                "discount_allocations": [],
                "duties": [],
                "fulfillment_status": None,
                "requires_shipping": True,
                "gift_card": False,
            }
            for index in range(2500)
        ]
        delivery = shopify.signed_webhook("orders/create", order_payload(line_items=lines))
        assert 2 * 1024 * 1024 < len(delivery.body) < 6 * 1024 * 1024
        response = client.post("/webhooks", data=delivery.body, headers=delivery.headers)
        assert response.status_code == 200, response.get_json()
        assert _inbox_count(db_session) == 1

    def test_a_shop_deleted_by_shop_redact_and_installed_again_gets_a_new_row(  # type: ignore[no-untyped-def]
        self, client, db_session, shopify, shop, make_shop
    ) -> None:
        from app.loyalty import gdpr

        first = shopify.signed_webhook("orders/create", order_payload())
        assert client.post("/webhooks", data=first.body, headers=first.headers).status_code == 200
        gdpr.redact_shop(db_session, shop_id=shop.id)  # the web process still has the old id cached
        db_session.commit()

        redacted = shopify.signed_webhook("orders/create", order_payload())
        response = client.post("/webhooks", data=redacted.body, headers=redacted.headers)
        assert (response.status_code, response.get_json()["status"]) == (200, "ignored")
        assert db_session.execute(select(func.count()).select_from(Shop)).scalar_one() == 0

        reinstalled = make_shop()
        again = shopify.signed_webhook("orders/create", order_payload())
        assert client.post("/webhooks", data=again.body, headers=again.headers).status_code == 200
        assert db_session.execute(select(EventQueue.shop_id)).scalars().all() == [reinstalled.id]

    def test_redis_down_the_webhook_is_accepted_and_streamed_once_redis_is_back(  # type: ignore[no-untyped-def]
        self, app, client, db_session, redis_client, redis_namespace, shopify, shop
    ) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        from app.extensions import redis_store

        down = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
        healthy, redis_store._client = redis_store._client, down
        try:
            delivery = shopify.signed_webhook("orders/create", order_payload())
            response = client.post("/webhooks", data=delivery.body, headers=delivery.headers)
            assert (response.status_code, response.get_json()["status"]) == (200, "accepted")
            with pytest.raises(redis.ConnectionError):
                _relay(app, down).turn()  # the relay cannot stream it yet, and keeps it for later
        finally:
            redis_store._client = healthy
        row = db_session.execute(select(EventQueue)).scalar_one()
        assert (row.status, row.published_at) == ("pending", None)
        assert _relay(app).turn() == 1
        [(_id, fields)] = stream_entries(redis_client, StreamKeys.for_namespace(redis_namespace))
        assert fields["event_id"] == str(row.event_id)

    def test_postgresql_down_is_503_so_shopify_retries(  # type: ignore[no-untyped-def]
        self, settings_overrides, shopify, clean_state
    ) -> None:
        from app import create_app

        nowhere = create_app({**settings_overrides, "database_url": "postgresql+psycopg://postgres@127.0.0.1:1/none"})
        delivery = shopify.signed_webhook("orders/create", order_payload())
        response = nowhere.test_client().post("/webhooks", data=delivery.body, headers=delivery.headers)
        assert (response.status_code, response.get_json()["error"]) == (503, "inbox_unavailable")


class TestShopsThatNeverInstalled:
    """A verified webhook alone never creates a shop: Shopify is answered 200 and nothing is written or published."""

    @pytest.mark.parametrize(
        ("topic", "payload"),
        [
            ("orders/create", order_payload()),
            ("customers/create", {"id": 115310627314723954, "email": "jon@example.com"}),
            ("app/uninstalled", {"id": 1, "myshopify_domain": "test-shop.myshopify.com"}),
            ("shop/redact", {"shop_id": 1, "shop_domain": "test-shop.myshopify.com"}),
        ],
        ids=["order", "customer", "uninstall", "shop-redact"],
    )
    def test_are_answered_200_and_create_nothing(  # type: ignore[no-untyped-def]
        self, client, db_session, redis_client, redis_namespace, shopify, topic, payload
    ) -> None:
        delivery = shopify.signed_webhook(topic, payload)
        response = client.post("/webhooks", data=delivery.body, headers=delivery.headers)
        assert (response.status_code, response.get_json()["status"]) == (200, "ignored")
        assert "test-shop.myshopify.com has not installed loyalty" in response.get_json()["message"]
        assert db_session.execute(select(func.count()).select_from(Shop)).scalar_one() == 0
        assert _inbox_count(db_session) == 0
        assert _stream_length(redis_client, redis_namespace) == 0

    def test_a_row_left_by_an_older_version_that_never_installed_records_nothing(  # type: ignore[no-untyped-def]
        self, client, db_session, shopify
    ) -> None:
        db_session.add(Shop(domain="test-shop.myshopify.com"))  # installed_at NULL: created by a webhook once
        db_session.commit()
        delivery = shopify.signed_webhook("orders/create", order_payload())
        assert client.post("/webhooks", data=delivery.body, headers=delivery.headers).get_json()["status"] == "ignored"
        assert _inbox_count(db_session) == 0
