"""Order payloads the mapping must check before they reach the database: amounts and currencies no retry will fix
are dead-lettered at once with the field named; test orders and orders created cancelled earn nothing; a refund of a
dead-lettered order stops waiting. Webhook -> inbox -> stream -> consumer, as in test_end_to_end."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select, update

from app.commands.demo import DEMO_SHOP
from app.models import CustomerLoyaltyProfile, DeadLetter, EventQueue, Order, Shop
from tests.events import test_end_to_end
from tests.events.test_end_to_end import CUSTOMER, balance, drain, ledger_rows, send_order, send_refund

# The demo shop and the in-process consumer of the end-to-end tests.
demo = test_end_to_end.demo
consumer = test_end_to_end.consumer


def send_raw_order(client, shopify, body: bytes) -> None:  # type: ignore[no-untyped-def]
    delivery = shopify.signed_webhook("orders/create", body, shop=DEMO_SHOP, event_id=str(uuid.uuid4()))
    response = client.post("/webhooks", data=delivery.body, headers=delivery.headers)
    assert response.status_code == 200, response.get_json()


def dead_letters(db_session):  # type: ignore[no-untyped-def]
    db_session.rollback()
    return db_session.execute(select(DeadLetter).order_by(DeadLetter.id)).scalars().all()


class TestAmountsNoRetryWillFix:
    @pytest.mark.parametrize(
        ("fields", "named"),
        [
            ({"total": "-150.00"}, "total_price '-150.00' is negative"),
            ({"total": "1e309"}, "total_price '1e309' is larger than"),
            ({"total": "1e30"}, "total_price '1e30' is larger than"),
            ({"total": "NaN"}, "total_price 'NaN' is not an amount"),
            ({"total": "Infinity"}, "total_price 'Infinity' is not an amount"),
            ({"total": "150,00"}, "total_price '150,00' is not an amount"),
            ({"total": "150.00", "subtotal": "-1.00"}, "subtotal_price '-1.00' is negative"),
            ({"currency": "DOLLARSS"}, "currency 'DOLLARSS' is not a three-letter ISO 4217 code"),
        ],
        ids=["negative", "1e309", "1e30", "nan", "infinity", "comma-decimal", "negative-subtotal", "8-letter-currency"],
    )
    def test_is_dead_lettered_at_the_first_delivery_naming_the_field(  # type: ignore[no-untyped-def]
        self, demo, client, shopify, consumer, db_session, fields, named
    ) -> None:
        send_order(client, shopify, **fields)
        drain(consumer)
        [letter] = dead_letters(db_session)
        assert letter.deliveries == 1
        assert letter.error.startswith(f"Unprocessable: {named}")
        row = db_session.execute(select(EventQueue).where(EventQueue.event_type == "order_created")).scalar_one()
        assert (row.status, row.attempts) == ("dead", 1)
        assert ledger_rows(db_session) == 0
        assert db_session.execute(select(func.count()).select_from(Order)).scalar_one() == 0

    def test_a_json_number_too_large_for_a_float_is_dead_lettered_naming_the_field(  # type: ignore[no-untyped-def]
        self, demo, client, shopify, consumer, db_session
    ) -> None:
        body = b'{"id": 820982911946154508, "total_price": 1e309, "currency": "USD", "customer": {"id": 1001}}'
        send_raw_order(client, shopify, body)
        drain(consumer)
        [letter] = dead_letters(db_session)
        assert letter.deliveries == 1 and letter.error.startswith("Unprocessable: total_price")

    def test_a_lower_case_currency_is_normalised_and_the_order_earns(  # type: ignore[no-untyped-def]
        self, demo, client, shopify, consumer, db_session
    ) -> None:
        send_order(client, shopify, currency="usd", total="150.00")
        drain(consumer)
        assert balance(client, shopify) == 500
        assert db_session.execute(select(Order.currency)).scalar_one() == "USD"


class TestRefundAmountsNoOrderHolds:
    @pytest.mark.parametrize("amount", ["1e30", "1000000000000.00"])
    def test_is_dead_lettered_at_the_first_delivery_naming_the_amount(  # type: ignore[no-untyped-def]
        self, demo, client, shopify, consumer, db_session, amount
    ) -> None:
        """An order's total is at most 999,999,999,999.99 (the NUMERIC(14, 2) the ledger keeps amounts in); a refund
        past it reached the database and failed as a numeric overflow, retried five times."""
        send_order(client, shopify)
        drain(consumer)
        send_refund(client, shopify, amount=amount)
        drain(consumer)
        [letter] = dead_letters(db_session)
        assert letter.deliveries == 1
        assert letter.error.startswith(f"Unprocessable: refund 509562969: refund amount '{amount}' is larger than")
        assert balance(client, shopify) == 500


class TestOrdersThatEarnNothing:
    def test_a_test_order_earns_nothing_and_counts_for_no_one(  # type: ignore[no-untyped-def]
        self, demo, client, shopify, consumer, db_session
    ) -> None:
        send_order(client, shopify, test=True)
        drain(consumer)
        assert balance(client, shopify) == 0
        assert ledger_rows(db_session) == 0
        assert db_session.execute(select(Order.profile_id)).scalar_one() is None
        # Its refund is known to concern nobody: settled at once, not waited for.
        send_refund(client, shopify, amount="150.00")
        drain(consumer)
        statuses = db_session.execute(select(EventQueue.status, EventQueue.attempts)).all()
        assert sorted(tuple(row) for row in statuses) == [("processed", 0), ("processed", 0)]

    def test_a_test_order_earns_when_the_shop_says_so(  # type: ignore[no-untyped-def]
        self, demo, client, shopify, consumer, db_session
    ) -> None:
        db_session.execute(update(Shop).where(Shop.domain == DEMO_SHOP).values(test_orders_earn=True))
        db_session.commit()
        send_order(client, shopify, test=True)
        drain(consumer)
        assert balance(client, shopify) == 500

    def test_an_order_created_already_cancelled_earns_nothing(  # type: ignore[no-untyped-def]
        self, demo, client, shopify, consumer, db_session
    ) -> None:
        send_order(client, shopify, cancelled_at="2026-03-02T10:30:00-05:00", cancel_reason="fraud")
        drain(consumer)
        assert balance(client, shopify) == 0
        assert ledger_rows(db_session) == 0

    def test_a_real_order_shaped_like_shopifys_example_still_earns(  # type: ignore[no-untyped-def]
        self, demo, client, shopify, consumer
    ) -> None:
        send_order(client, shopify, test=False, cancelled_at=None)
        drain(consumer)
        assert balance(client, shopify) == 500


class TestLabelsAndContactFieldsThatAreNotShopifys:
    """Not a reason to lose an order or a customer update: a label that is not text is left out, one longer than its
    column is cut (both were dead letters after three slow deliveries, or cut without a word on the batched path)."""

    @pytest.mark.parametrize(
        "codes", [[], [{"code": "SPRING10", "amount": "10.00", "type": "fixed_amount"}]], ids=["batched", "one-by-one"]
    )
    @pytest.mark.parametrize(
        ("name", "kept"), [({"x": 1}, None), ("#" + "9" * 100, "#" + "9" * 63)], ids=["object", "too-long"]
    )
    def test_an_order_name(self, demo, client, shopify, consumer, db_session, codes, name, kept) -> None:  # type: ignore[no-untyped-def]
        send_order(client, shopify, name=name, discount_codes=codes)
        drain(consumer)
        assert dead_letters(db_session) == []
        assert db_session.execute(select(Order.name)).scalar_one() == kept
        assert balance(client, shopify) == 500

    @pytest.mark.parametrize("field", ["discount_codes", "note_attributes"])
    def test_a_list_that_is_not_a_list(self, demo, client, shopify, consumer, db_session, field) -> None:  # type: ignore[no-untyped-def]
        send_order(client, shopify, **{field: 5})  # a TypeError, dead after three deliveries, when iterated
        drain(consumer)
        assert dead_letters(db_session) == []
        assert balance(client, shopify) == 500

    def test_contact_fields_of_a_customer_update(self, demo, client, shopify, consumer, db_session) -> None:  # type: ignore[no-untyped-def]
        send_order(client, shopify)  # the profile: jon@example.com, Jon Snow
        customer = {"id": int(CUSTOMER), "email": "j" * 321, "first_name": "F" * 300, "last_name": ["Stark"]}
        delivery = shopify.signed_webhook("customers/update", customer, shop=DEMO_SHOP, event_id=str(uuid.uuid4()))
        assert client.post("/webhooks", data=delivery.body, headers=delivery.headers).status_code == 200
        drain(consumer)
        assert dead_letters(db_session) == []
        profile = db_session.execute(select(CustomerLoyaltyProfile)).scalar_one()
        assert (profile.email, profile.first_name, profile.last_name) == ("jon@example.com", "F" * 255, "Snow")


def test_a_refund_of_a_dead_lettered_order_is_dead_lettered_at_once_not_after_a_day(  # type: ignore[no-untyped-def]
    demo, client, shopify, consumer, db_session
) -> None:
    send_order(client, shopify, total="150,00")
    drain(consumer)
    send_refund(client, shopify, amount="150.00")
    drain(consumer)
    letters = dead_letters(db_session)
    assert [letter.deliveries for letter in letters] == [1, 1]
    assert "order_id 820982911946154508: that order's event was dead-lettered" in letters[1].error
    assert db_session.execute(select(func.count()).where(EventQueue.status == "pending")).scalar_one() == 0


@pytest.mark.parametrize(
    ("amount", "named"), [("abc", "'abc' is not a decimal number"), ("-30.00", "'-30.00' is negative")]
)
def test_a_refund_amount_no_retry_will_fix_is_dead_lettered_at_once(  # type: ignore[no-untyped-def]
    demo, client, shopify, consumer, db_session, amount, named
) -> None:
    send_order(client, shopify)
    drain(consumer)
    send_refund(client, shopify, amount=amount)
    drain(consumer)
    [letter] = dead_letters(db_session)
    assert letter.deliveries == 1
    assert letter.error.startswith(f"Unprocessable: refund 509562969: refund amount {named}")
    assert balance(client, shopify) == 500
