"""The thin path through the real pieces: signed webhook -> inbox -> relay -> Redis stream -> consumer group -> rules
-> ledger -> GraphQL, on real PostgreSQL and Redis (the relay and consumer loops run in-process; tests/test_processes.py
runs the real processes)."""

from __future__ import annotations

import threading
import time
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from app.commands.demo import DEMO_SHOP
from app.events import stream
from app.events.consumer import ConsumerSettings, StreamConsumer
from app.events.relay import Relay, RelaySettings
from app.models import CustomerLoyaltyProfile, DeadLetter, EventQueue, PointsTransaction, ProcessedEvent
from tests.events.stream_helpers import dead_entries
from tests.helpers import GET_LOYALTY_PROFILE, order_payload

CUSTOMER = "115310627314723954"
OTHER_CUSTOMER = 207119551


@pytest.fixture
def demo(runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert "First Order Bonus" in result.output


def make_consumer(app, redis_client, redis_namespace, name: str = "test-consumer") -> StreamConsumer:  # type: ignore[no-untyped-def]
    from app.extensions import db

    consumer = StreamConsumer(
        sessionmaker(db.engine, expire_on_commit=False),
        redis_client,
        redis_namespace,
        name=name,
        settings=ConsumerSettings(block_ms=20, retry_base_ms=1, max_deliveries=3, housekeeping_every_s=0),
    )
    stream.ensure_group(redis_client, consumer.keys)
    return consumer


@pytest.fixture
def consumer(app, redis_client, redis_namespace) -> StreamConsumer:  # type: ignore[no-untyped-def]
    return make_consumer(app, redis_client, redis_namespace)


def drain(consumer: StreamConsumer, rounds: int = 50) -> None:
    """Run the relay (re-feeding at once what the stream lost) and the consumer until the group has nothing new,
    pending or re-fed. Nothing new means every entry was handed to a consumer (stream.caught_up), not merely that this
    one read nothing: beside another drain it may not hold, yet, the partition where entries wait."""
    relay = Relay(
        consumer.sessions.kw["bind"],
        consumer.client,
        consumer.keys,
        settings=RelaySettings(refeed_after_s=0, refeed_every_s=0),
    )
    idle = 0
    for _ in range(rounds):
        relayed = relay.turn()
        handled = consumer.run_once()
        info = stream.group_info(consumer.client, consumer.keys)
        settled = (
            relayed == 0 and handled == 0 and info["pending"] == 0 and stream.caught_up(consumer.client, consumer.keys)
        )
        idle = idle + 1 if settled else 0
        if idle >= 2:
            return
    raise AssertionError("the consumer did not settle")


def send_order(client, shopify, *, event_id: str | None = None, **order) -> dict:  # type: ignore[no-untyped-def]
    delivery = shopify.signed_webhook(
        "orders/create", order_payload(**order), shop=DEMO_SHOP, event_id=event_id or str(uuid.uuid4())
    )
    response = client.post("/webhooks", data=delivery.body, headers=delivery.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def loyalty_profile(client, shopify, *, shop=DEMO_SHOP, customer=CUSTOMER, asked=None):  # type: ignore[no-untyped-def]
    token = shopify.session_token(shop=shop, customer_id=customer)
    response = client.post(
        "/graphql",
        json={"query": GET_LOYALTY_PROFILE, "variables": {"customerId": asked or customer}},
        headers={"Authorization": f"Bearer {token}"},
    )
    return response


def balance(client, shopify, customer: str = CUSTOMER) -> int:  # type: ignore[no-untyped-def]
    response = loyalty_profile(client, shopify, customer=customer)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["data"]["loyaltyProfile"]["points_balance"]


def ledger_rows(db_session) -> int:  # type: ignore[no-untyped-def]
    return db_session.execute(select(func.count()).select_from(PointsTransaction)).scalar_one()


def test_first_order_of_150_earns_the_500_point_bonus(demo, client, shopify, consumer) -> None:  # type: ignore[no-untyped-def]
    send_order(client, shopify, total="150.00")
    drain(consumer)
    response = loyalty_profile(client, shopify)
    assert response.status_code == 200
    assert response.get_json() == {
        "data": {
            "loyaltyProfile": {
                "points_balance": 500,
                "current_tier": {"name": "Bronze", "level": 1},
                "next_tier": {"name": "Silver", "min_points_required": 1000},
                "tier_progress_percentage": 50.0,
            }
        }
    }


def test_the_same_webhook_again_earns_nothing_more(  # type: ignore[no-untyped-def]
    demo, client, shopify, consumer, db_session
) -> None:
    send_order(client, shopify, event_id="evt-first")
    drain(consumer)
    assert send_order(client, shopify, event_id="evt-first")["status"] == "duplicate"
    drain(consumer)
    assert balance(client, shopify) == 500
    assert ledger_rows(db_session) == 1


def test_the_same_event_delivered_twice_on_the_stream_is_processed_once(  # type: ignore[no-untyped-def]
    demo, client, shopify, consumer, db_session
) -> None:
    send_order(client, shopify, event_id="evt-twice")
    drain(consumer)
    [(partition, fields)] = [(p, f) for p in consumer.keys.partitions for _id, f in consumer.client.xrange(p.events)]
    consumer.client.xadd(partition.events, fields)  # at-least-once: Redis may hand it out again
    drain(consumer)
    assert balance(client, shopify) == 500
    assert ledger_rows(db_session) == 1


def test_the_same_order_under_another_event_id_earns_nothing_more(  # type: ignore[no-untyped-def]
    demo, client, shopify, consumer, db_session
) -> None:
    send_order(client, shopify, event_id="evt-a")
    drain(consumer)
    send_order(client, shopify, event_id="evt-b-reconciliation")  # same order id, e.g. a backfill
    drain(consumer)
    assert balance(client, shopify) == 500
    assert ledger_rows(db_session) == 1


def test_a_second_order_does_not_earn_the_first_order_bonus(  # type: ignore[no-untyped-def]
    demo, client, shopify, consumer
) -> None:
    send_order(client, shopify, order_id=1)
    drain(consumer)
    send_order(client, shopify, order_id=2, total="300.00")
    drain(consumer)
    assert balance(client, shopify) == 500


def test_a_first_order_of_99_99_earns_nothing(demo, client, shopify, consumer, db_session) -> None:  # type: ignore[no-untyped-def]
    send_order(client, shopify, total="99.99")
    drain(consumer)
    assert balance(client, shopify) == 0
    assert ledger_rows(db_session) == 0
    status = db_session.execute(select(EventQueue.status).where(EventQueue.event_type == "order_created"))
    assert status.scalar_one() == "processed"


def test_a_bad_hmac_is_401_and_nothing_is_written(  # type: ignore[no-untyped-def]
    demo, client, shopify, consumer, db_session
) -> None:
    delivery = shopify.signed_webhook("orders/create", order_payload(), shop=DEMO_SHOP)
    delivery.headers["X-Shopify-Hmac-Sha256"] = shopify.webhook_hmac(delivery.body + b" ")
    assert client.post("/webhooks", data=delivery.body, headers=delivery.headers).status_code == 401
    drain(consumer)
    assert db_session.execute(select(func.count()).select_from(EventQueue)).scalar_one() == 0
    assert ledger_rows(db_session) == 0


def test_a_fully_discounted_order_is_recorded_with_its_zero_subtotal(  # type: ignore[no-untyped-def]
    demo, client, shopify, consumer, db_session
) -> None:
    from app.models import Order

    send_order(client, shopify, total="12.00", subtotal="0.00")
    drain(consumer)
    assert db_session.execute(select(Order.total, Order.subtotal)).one() == (Decimal("12.00"), Decimal("0.00"))


def test_a_guest_order_credits_nobody(demo, client, shopify, consumer, db_session) -> None:  # type: ignore[no-untyped-def]
    send_order(client, shopify, customer_id=None)
    drain(consumer)
    assert ledger_rows(db_session) == 0
    assert db_session.execute(select(func.count()).select_from(CustomerLoyaltyProfile)).scalar_one() == 0


class TestTenantBoundaries:
    def test_another_customers_token_reads_no_data(  # type: ignore[no-untyped-def]
        self, demo, client, shopify, consumer
    ) -> None:
        send_order(client, shopify)
        drain(consumer)
        response = loyalty_profile(client, shopify, customer="999", asked=CUSTOMER)
        body = response.get_json()
        assert body["data"]["loyaltyProfile"] is None
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert "500" not in response.get_data(as_text=True)

    def test_another_shops_token_reads_no_data(  # type: ignore[no-untyped-def]
        self, demo, client, shopify, consumer, make_shop
    ) -> None:
        send_order(client, shopify)
        drain(consumer)
        make_shop("other-shop.myshopify.com")
        response = loyalty_profile(client, shopify, shop="other-shop.myshopify.com")
        assert response.get_json()["data"]["loyaltyProfile"]["points_balance"] == 0
        never_installed = loyalty_profile(client, shopify, shop="never-installed.myshopify.com")
        assert never_installed.status_code == 401
        assert never_installed.get_json() == {
            "error": "shop_not_installed",
            "message": "loyalty is not installed on never-installed.myshopify.com",
        }

    def test_a_guest_token_reads_no_data(self, demo, client, shopify, consumer) -> None:  # type: ignore[no-untyped-def]
        send_order(client, shopify)
        drain(consumer)
        token = shopify.session_token(shop=DEMO_SHOP)
        response = client.post(
            "/graphql",
            json={"query": GET_LOYALTY_PROFILE, "variables": {"customerId": CUSTOMER}},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.get_json()["data"]["loyaltyProfile"] is None

    @pytest.mark.parametrize("authorization", [None, "Bearer nonsense", "Basic abc"])
    def test_no_valid_token_is_401(self, demo, client, authorization) -> None:  # type: ignore[no-untyped-def]
        headers = {"Authorization": authorization} if authorization else {}
        response = client.post(
            "/graphql", json={"query": GET_LOYALTY_PROFILE, "variables": {"customerId": "1"}}, headers=headers
        )
        assert response.status_code == 401
        assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_cors_preflight_needs_no_token(client) -> None:  # type: ignore[no-untyped-def]
    response = client.options("/graphql", headers={"Origin": "https://extensions.shopifycdn.com"})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Headers"] == "Authorization, Content-Type"


@pytest.fixture
def orders_refused(engine):  # type: ignore[no-untyped-def]
    """A real, lasting fault: every insert into `orders` fails until the fixture's `fix()` is called."""

    class Fault:
        active = True

        def fix(self) -> None:
            with engine.begin() as conn:
                conn.exec_driver_sql("DROP TRIGGER refuse_orders ON orders; DROP FUNCTION refuse_orders();")
            self.active = False

    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE FUNCTION refuse_orders() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'orders table is read-only for maintenance'; END; $$;"
            " CREATE TRIGGER refuse_orders BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION refuse_orders();"
        )
    fault = Fault()
    yield fault
    if fault.active:
        fault.fix()


class TestFailures:
    def test_replay_needs_ids_or_all_and_changes_nothing_without_them(  # type: ignore[no-untyped-def]
        self, demo, client, shopify, consumer, db_session, runner, orders_refused
    ) -> None:
        send_order(client, shopify)
        drain(consumer)
        result = runner.invoke(args=["events", "replay"])
        assert result.exit_code == 2 and "name dead letter ids, or pass --all" in result.output
        assert runner.invoke(args=["events", "replay", "999999"]).output.strip() == "replayed 0 dead letter(s)"
        db_session.rollback()
        assert db_session.execute(select(DeadLetter.replayed_at)).scalar_one() is None
        assert (
            db_session.execute(select(EventQueue.status).where(EventQueue.event_type == "order_created")).scalar_one()
            == "dead"
        )

    def test_an_event_that_keeps_failing_is_dead_lettered_with_its_error(  # type: ignore[no-untyped-def]
        self, demo, client, shopify, consumer, db_session, redis_client, orders_refused
    ) -> None:
        send_order(client, shopify)
        drain(consumer)
        letter = db_session.execute(select(DeadLetter)).scalar_one()
        assert letter.deliveries == 3
        assert "read-only for maintenance" in letter.error
        row = db_session.execute(select(EventQueue).where(EventQueue.event_type == "order_created")).scalar_one()
        assert (row.status, row.attempts) == ("dead", 3)
        assert len(dead_entries(redis_client, consumer.keys)) == 1
        assert stream.group_info(redis_client, consumer.keys)["pending"] == 0
        assert ledger_rows(db_session) == 0

    def test_a_malformed_stream_message_is_dead_lettered_at_once(  # type: ignore[no-untyped-def]
        self, consumer, db_session, redis_client
    ) -> None:
        redis_client.xadd(consumer.keys.partitions[0].events, {"envelope": "{not json"})
        drain(consumer)
        letter = db_session.execute(select(DeadLetter)).scalar_one()
        assert letter.error.startswith("malformed message")
        assert stream.group_info(redis_client, consumer.keys)["pending"] == 0

    def test_an_event_the_stream_lost_is_re_fed_from_the_inbox(  # type: ignore[no-untyped-def]
        self, demo, client, shopify, consumer, redis_client
    ) -> None:
        send_order(client, shopify)
        Relay(consumer.sessions.kw["bind"], redis_client, consumer.keys).turn()
        redis_client.delete(*(p.events for p in consumer.keys.partitions))  # Redis lost its last writes
        stream.ensure_group(redis_client, consumer.keys)
        drain(consumer)
        assert balance(client, shopify) == 500

    def test_replaying_a_dead_letter_after_a_fix_processes_it_once(  # type: ignore[no-untyped-def]
        self, demo, client, shopify, consumer, db_session, runner, orders_refused
    ) -> None:
        send_order(client, shopify)
        drain(consumer)
        assert "read-only for maintenance" in db_session.execute(select(DeadLetter.error)).scalar_one()
        orders_refused.fix()

        result = runner.invoke(args=["events", "replay", "--all"])
        assert result.exit_code == 0, result.output
        assert "replayed 1 dead letter" in result.output
        drain(consumer)
        assert balance(client, shopify) == 500
        assert ledger_rows(db_session) == 1
        db_session.rollback()
        assert db_session.execute(select(DeadLetter.replayed_at)).scalar_one() is not None


def test_two_consumers_never_both_award_the_first_order(  # type: ignore[no-untyped-def]
    demo, app, client, shopify, redis_client, redis_namespace, db_session
) -> None:
    """Two first orders of one customer processed at once by two consumers: the profile lock serializes them."""
    for order_id in range(1, 21):
        send_order(client, shopify, order_id=order_id, customer_id=int(f"77{order_id % 2}"))
    consumers = [make_consumer(app, redis_client, redis_namespace, f"c{i}") for i in range(2)]
    for c in consumers:
        c.settings.batch_size = 1
    failures: list[BaseException] = []

    def drain_beside_the_other(c: StreamConsumer) -> None:
        # A drain settles only once the other consumer's entries are acknowledged too; at one event per round it may
        # need more rounds than one consumer alone. A thread's failure would not fail the test: it is collected.
        try:
            drain(c, rounds=400)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=drain_beside_the_other, args=(c,)) for c in consumers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    assert not any(thread.is_alive() for thread in threads)
    statuses = db_session.execute(
        select(EventQueue.status, func.count())
        .where(EventQueue.event_type == "order_created")
        .group_by(EventQueue.status)
    ).all()
    assert [tuple(row) for row in statuses] == [("processed", 20)]
    assert all(c.processed > 0 for c in consumers)
    assert balance(client, shopify, "770") == 500
    assert balance(client, shopify, "771") == 500
    assert ledger_rows(db_session) == 2


def send_refund(
    client,
    shopify,
    *,
    amount: str,
    refund_id: int = 509562969,
    order_id: int = 820982911946154508,  # type: ignore[no-untyped-def]
    event_id: str | None = None,
) -> None:
    refund = {
        "id": refund_id,
        "order_id": order_id,
        "created_at": "2026-03-03T10:00:00-05:00",
        "refund_line_items": [
            {
                "id": 1,
                "line_item_id": 866550311766439020,
                "quantity": 1,
                "restock_type": "return",
                "subtotal": amount,
                "subtotal_set": {
                    "shop_money": {"amount": amount, "currency_code": "USD"},
                    "presentment_money": {"amount": amount, "currency_code": "USD"},
                },
            }
        ],
        "transactions": [{"id": 1, "kind": "refund", "status": "success", "amount": amount}],
    }
    delivery = shopify.signed_webhook("refunds/create", refund, shop=DEMO_SHOP, event_id=event_id or str(uuid.uuid4()))
    assert client.post("/webhooks", data=delivery.body, headers=delivery.headers).status_code == 200


class TestRefundsThroughTheStream:
    def test_a_full_refund_takes_the_bonus_back_once(  # type: ignore[no-untyped-def]
        self, demo, client, shopify, consumer, db_session
    ) -> None:
        send_order(client, shopify)
        drain(consumer)
        send_refund(client, shopify, amount="150.00")
        send_refund(client, shopify, amount="150.00")  # the same refund delivered again under another event id
        drain(consumer)
        assert balance(client, shopify) == 0
        kinds = db_session.execute(
            select(PointsTransaction.kind, PointsTransaction.points).order_by(PointsTransaction.id)
        ).all()
        assert [tuple(row) for row in kinds] == [("earn", 500), ("reversal", -500)]

    def test_a_partial_refund_takes_back_its_share(self, demo, client, shopify, consumer) -> None:  # type: ignore[no-untyped-def]
        send_order(client, shopify, total="150.00")
        drain(consumer)
        send_refund(client, shopify, amount="30.00")  # a fifth of the order
        drain(consumer)
        assert balance(client, shopify) == 400

    def test_a_waiting_refund_is_set_aside_and_its_batch_mates_commit_in_one_go(  # type: ignore[no-untyped-def]
        self, demo, client, shopify, consumer, db_session, caplog
    ) -> None:
        """Not split down to the refund (a rollback per halving, per waiting refund): the refund alone is rolled back
        to its savepoint, and the batch commits without it."""
        send_refund(client, shopify, amount="150.00")  # its order has not come yet
        for n in range(1, 6):
            send_order(client, shopify, order_id=n, customer_id=900 + n)
        Relay(consumer.sessions.kw["bind"], consumer.client, consumer.keys).turn()
        with caplog.at_level("INFO", logger="app.events.consumer"):
            assert consumer.run_once() == 6
        assert consumer.processed == 5
        assert "splitting" not in caplog.text
        assert "waits: order 820982911946154508 has not been processed yet" in caplog.text
        waiting = db_session.execute(
            select(EventQueue.status).where(EventQueue.event_type == "refund_created")
        ).scalar_one()
        assert waiting == "pending"
        # Nothing of the refund stayed, not even its dedupe row: its retry must find the event new.
        refund_id = select(EventQueue.event_id).where(EventQueue.event_type == "refund_created").scalar_subquery()
        kept = select(func.count()).select_from(ProcessedEvent).where(ProcessedEvent.event_id == refund_id)
        assert db_session.execute(kept).scalar_one() == 0
        reversals = select(func.count()).select_from(PointsTransaction).where(PointsTransaction.kind == "reversal")
        assert db_session.execute(reversals).scalar_one() == 0
        assert [balance(client, shopify, str(900 + n)) for n in range(1, 6)] == [500] * 5

    def test_a_refund_that_arrives_before_its_order_waits_for_it(  # type: ignore[no-untyped-def]
        self, demo, client, shopify, consumer, db_session
    ) -> None:
        send_refund(client, shopify, amount="150.00")
        # The refund is tried more times than max_deliveries while its order is held back: waiting is not failing.
        for _ in range(consumer.settings.max_deliveries + 2):
            consumer.run_once()
            time.sleep(0.01)
        assert db_session.execute(select(func.count()).select_from(DeadLetter)).scalar_one() == 0
        send_order(client, shopify)
        drain(consumer, rounds=200)
        assert balance(client, shopify) == 0
        assert db_session.execute(select(func.count()).select_from(DeadLetter)).scalar_one() == 0

    def test_a_refund_of_an_order_placed_before_the_install_waits_a_day_then_gives_up(  # type: ignore[no-untyped-def]
        self, demo, client, shopify, consumer, db_session
    ) -> None:
        refund = {"id": 77, "order_id": 123, "refund_line_items": [], "transactions": []}
        old = shopify.signed_webhook("refunds/create", refund, shop=DEMO_SHOP, triggered_at="2026-01-01T00:00:00Z")
        assert client.post("/webhooks", data=old.body, headers=old.headers).status_code == 200
        drain(consumer)
        row = db_session.execute(select(EventQueue).where(EventQueue.event_type == "refund_created")).scalar_one()
        assert (row.status, row.attempts) == ("processed", 0)

    def test_a_guest_orders_refund_is_settled_at_once(self, demo, client, shopify, consumer, db_session) -> None:  # type: ignore[no-untyped-def]
        send_order(client, shopify, customer_id=None)
        send_refund(client, shopify, amount="150.00")
        drain(consumer)
        statuses = db_session.execute(select(EventQueue.status, EventQueue.attempts)).all()
        assert sorted(tuple(row) for row in statuses) == [("processed", 0), ("processed", 0)]

    def test_a_cancelled_order_gives_back_its_points(self, demo, client, shopify, consumer) -> None:  # type: ignore[no-untyped-def]
        send_order(client, shopify)
        drain(consumer)
        cancelled = order_payload(cancelled_at="2026-03-03T10:00:00-05:00", cancel_reason="customer")
        delivery = shopify.signed_webhook("orders/cancelled", cancelled, shop=DEMO_SHOP)
        assert client.post("/webhooks", data=delivery.body, headers=delivery.headers).status_code == 200
        drain(consumer)
        assert balance(client, shopify) == 0

    @pytest.mark.parametrize("now_named", [OTHER_CUSTOMER, None], ids=["moved-to-another-customer", "customer-removed"])
    def test_a_cancellation_takes_the_points_back_from_whoever_earned_them(  # type: ignore[no-untyped-def]
        self, demo, client, shopify, consumer, db_session, now_named
    ) -> None:
        """A merchant can change or remove an order's customer in Shopify admin (orders/updated names the new one),
        and its cancellation then names that customer, or none: the points go back from the customer the order
        credited, at the first delivery."""
        send_order(client, shopify)
        drain(consumer)
        for topic, fields in (
            ("orders/updated", {}),
            ("orders/cancelled", {"cancelled_at": "2026-03-03T10:00:00-05:00", "cancel_reason": "customer"}),
        ):
            payload = order_payload(customer_id=now_named, **fields)
            delivery = shopify.signed_webhook(topic, payload, shop=DEMO_SHOP)
            assert client.post("/webhooks", data=delivery.body, headers=delivery.headers).status_code == 200
            drain(consumer)
        assert balance(client, shopify) == 0
        assert db_session.execute(select(func.count()).select_from(DeadLetter)).scalar_one() == 0
        row = db_session.execute(select(EventQueue).where(EventQueue.event_type == "order_cancelled")).scalar_one()
        assert (row.status, row.attempts) == ("processed", 0)
        if now_named is not None:
            assert balance(client, shopify, str(now_named)) == 0  # nothing taken from the customer it names now


class TestReferralsThroughTheStream:
    @pytest.fixture
    def referral(self, demo, db_session, now):  # type: ignore[no-untyped-def]
        """The demo shop pays 200 points to the advocate and 100 to the friend; the advocate has a link."""
        from app.loyalty import ledger, referrals
        from app.models import Shop

        shop = db_session.execute(select(Shop).where(Shop.domain == DEMO_SHOP)).scalar_one()
        referrals.update_settings(db_session, shop=shop, changes={"advocate_points": 200, "friend_points": 100})
        advocate = ledger.lock_profile(db_session, shop_id=shop.id, customer_id="555", now=now)
        advocate.email = "advocate@example.com"
        link = referrals.link_for(db_session, shop=shop, profile=advocate, now=now)
        db_session.commit()
        return link.code

    def test_a_referred_first_order_rewards_both_and_its_cancellation_takes_both_back(  # type: ignore[no-untyped-def]
        self, referral, client, shopify, consumer, db_session
    ) -> None:
        from app.models import ReferralConversion

        send_order(client, shopify, landing_site=f"/?ref={referral}")
        drain(consumer)
        assert balance(client, shopify) == 500 + 100  # first order bonus + friend's referral points
        assert balance(client, shopify, "555") == 200

        cancelled = order_payload(landing_site=f"/?ref={referral}", cancelled_at="2026-03-03T10:00:00-05:00")
        for _ in range(2):  # delivered twice: taken back once
            delivery = shopify.signed_webhook("orders/cancelled", cancelled, shop=DEMO_SHOP)
            assert client.post("/webhooks", data=delivery.body, headers=delivery.headers).status_code == 200
        drain(consumer)
        assert balance(client, shopify) == 0
        assert balance(client, shopify, "555") == 0
        conversion = db_session.execute(select(ReferralConversion)).scalar_one()
        assert (conversion.status, conversion.block_reason) == (
            "reversed",
            "the referred order 820982911946154508 was cancelled",
        )

    def test_a_partial_refund_leaves_the_referral_standing(  # type: ignore[no-untyped-def]
        self, referral, client, shopify, consumer
    ) -> None:
        send_order(client, shopify, landing_site=f"/?ref={referral}")
        drain(consumer)
        send_refund(client, shopify, amount="30.00")
        drain(consumer)
        assert balance(client, shopify, "555") == 200
        send_refund(client, shopify, amount="120.00", refund_id=2)  # the rest: now refunded in full
        drain(consumer)
        assert balance(client, shopify, "555") == 0
        assert balance(client, shopify) == 0


def test_the_demo_token_reads_the_demo_shoppers_profile(demo, client, shopify, consumer, runner) -> None:  # type: ignore[no-untyped-def]
    send_order(client, shopify)
    drain(consumer)
    token = runner.invoke(args=["demo", "token", "--customer", CUSTOMER]).output.strip()
    response = client.post(
        "/graphql",
        json={"query": GET_LOYALTY_PROFILE, "variables": {"customerId": CUSTOMER}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.get_json()["data"]["loyaltyProfile"]["points_balance"] == 500


def test_a_rule_can_listen_to_the_apps_own_tier_changed_event(demo, client, shopify, consumer, db_session, now) -> None:  # type: ignore[no-untyped-def]
    """An order lifts the customer into Silver; the tier_changed event it raises flows through the stream, and a
    rule listening for it pays a welcome bonus, once."""
    from app.loyalty import rulebook
    from app.models import Shop

    shop = db_session.execute(select(Shop).where(Shop.domain == DEMO_SHOP)).scalar_one()
    for definition in (
        {"name": "Ten per dollar", "actions": [{"type": "points_per_currency", "rate": 10}]},
        {
            "name": "Silver welcome",
            "event_types": ["tier_changed"],
            "conditions": {
                "operator": "and",
                "conditions": [{"type": "attribute", "path": "event_data.to_tier.name", "value": "Silver"}],
            },
            "actions": [{"type": "points", "amount": 100, "reason": "Welcome to Silver"}],
        },
    ):
        rulebook.save_rule(db_session, shop_id=shop.id, definition=definition, actor="test", now=now)
    db_session.commit()

    send_order(client, shopify, total="150.00")
    drain(consumer)
    assert balance(client, shopify) == 500 + 1_500 + 100
    profile = loyalty_profile(client, shopify).get_json()["data"]["loyaltyProfile"]
    assert profile["current_tier"] == {"name": "Silver", "level": 2}
    reasons = db_session.execute(select(PointsTransaction.reason).order_by(PointsTransaction.id)).scalars().all()
    assert reasons == ["First order bonus", "Ten per dollar", "Welcome to Silver"]
