"""`flask shopify backfill`: a bulk operation in the fake Shopify pages the shop's past orders into the inbox as
historical events (processed, no points), once, skipping what live webhooks already brought; bad input is refused."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine

from app.events import inbox
from app.models import EventQueue, PointsTransaction, Shop, event_history
from tests.helpers import order_payload
from tests.shopify.conftest import SHOP
from tests.shopify_fake.bulk import order_node

CUSTOMER = 115310627314723954


@pytest.fixture
def paid_shop(admin, db_session) -> None:  # type: ignore[no-untyped-def]
    admin.install()
    db_session.execute(
        update(Shop).where(Shop.domain == SHOP).values(billing_plan="growth", subscription_status="ACTIVE")
    )
    db_session.commit()


def seed_orders(shopify_fake) -> None:  # type: ignore[no-untyped-def]
    state = shopify_fake.state
    state.add_order(
        SHOP, order_node(9007199254740995, created_at="2025-12-20T10:00:00Z", total="40.00", customer_id=CUSTOMER)
    )
    state.add_order(
        SHOP,
        order_node(
            9007199254740997,
            created_at="2026-01-05T10:00:00Z",
            total="120.50",
            customer_id=CUSTOMER,
            line_items=[{"id": 9007199254741001, "title": "Mug", "quantity": 2, "price": "60.25", "sku": "MUG"}],
        ),
    )
    state.add_order(SHOP, order_node(9007199254740999, created_at="2026-02-01T10:00:00Z", total="15.00"))


def backfill(runner, since: str = "2026-01-01", shop: str = SHOP):  # type: ignore[no-untyped-def]
    return runner.invoke(args=["shopify", "backfill", "--shop", shop, "--since", since])


def test_past_orders_become_historical_events_once(runner, shopify_fake, db_session, paid_shop) -> None:  # type: ignore[no-untyped-def]
    seed_orders(shopify_fake)
    result = backfill(runner)
    assert result.exit_code == 0, result.output
    assert "2 order(s) since 2026-01-01: 2 recorded as historical, 0 already in the inbox" in result.output
    assert len(shopify_fake.recorder.graphql("bulkOperationRunQuery")) == 1
    rows = db_session.execute(select(EventQueue).order_by(EventQueue.occurred_at)).scalars().all()
    assert [(row.event_type, row.status, row.customer_id) for row in rows] == [
        ("order_created", "processed", str(CUSTOMER)),
        ("order_created", "processed", None),
    ]
    first = rows[0].payload
    assert first["historical"] is True and first["id"] == 9007199254740997
    assert (first["total_price"], first["currency"], first["customer"]["id"]) == ("120.5", "USD", CUSTOMER)
    assert first["line_items"] == [
        {
            "id": 9007199254741001,
            "title": "Mug",
            "sku": "MUG",
            "vendor": None,
            "quantity": 2,
            "product_id": None,
            "variant_id": None,
            "price": "60.25",
        }
    ]
    assert db_session.execute(select(func.count()).select_from(PointsTransaction)).scalar_one() == 0  # no points

    again = backfill(runner)
    assert "0 recorded as historical, 2 already in the inbox" in again.output
    assert db_session.execute(select(func.count()).select_from(EventQueue)).scalar_one() == 2


@pytest.mark.parametrize(
    ("earn_on", "earned", "waiting", "expected"),
    [
        (
            "paid",
            {"displayFinancialStatus": "PARTIALLY_REFUNDED", "processedAt": "2026-01-05T10:05:00Z"},
            {"displayFinancialStatus": "PENDING"},
            ("order_paid", "orders/paid", datetime(2026, 1, 5, 10, 5, tzinfo=timezone.utc)),
        ),
        (
            "fulfilled",
            {
                "displayFulfillmentStatus": "FULFILLED",
                "fulfillments": [
                    {"id": "gid://shopify/Fulfillment/2", "createdAt": "2026-01-09T08:00:00Z", "status": "SUCCESS"},
                    {"id": "gid://shopify/Fulfillment/1", "createdAt": "2026-01-07T08:00:00Z", "status": "SUCCESS"},
                ],
            },
            {"displayFulfillmentStatus": "PARTIALLY_FULFILLED"},
            ("order_fulfilled", "orders/fulfilled", datetime(2026, 1, 7, 8, 0, tzinfo=timezone.utc)),
        ),
    ],
)
def test_a_shop_that_earns_later_gets_the_earning_event_of_each_order_that_reached_it(  # type: ignore[no-untyped-def]
    runner, shopify_fake, db_session, paid_shop, earn_on, earned, waiting, expected
) -> None:
    """As the live webhook would have been: replays (which read orders through orders_earn_on) then credit the past
    order that was paid (or shipped) at that moment, and not the one still waiting."""
    db_session.execute(update(Shop).where(Shop.domain == SHOP).values(orders_earn_on=earn_on))
    db_session.commit()
    state = shopify_fake.state
    state.add_order(
        SHOP,
        order_node(9007199254740997, created_at="2026-01-05T10:00:00Z", total="120.50", customer_id=CUSTOMER, **earned),
    )
    state.add_order(SHOP, order_node(9007199254740999, created_at="2026-02-01T10:00:00Z", total="15.00", **waiting))

    for _ in range(2):  # a second run adds nothing
        assert backfill(runner).exit_code == 0
        rows = db_session.execute(
            select(
                EventQueue.event_type, EventQueue.topic, EventQueue.occurred_at, EventQueue.payload["id"].astext
            ).order_by(EventQueue.occurred_at)
        ).all()
        assert rows == [
            ("order_created", "orders/create", datetime(2026, 1, 5, 10, 0, tzinfo=timezone.utc), "9007199254740997"),
            (*expected, "9007199254740997"),
            ("order_created", "orders/create", datetime(2026, 2, 1, 10, 0, tzinfo=timezone.utc), "9007199254740999"),
        ]
    assert db_session.execute(select(func.count()).select_from(PointsTransaction)).scalar_one() == 0  # no points


def test_a_run_after_the_shop_switched_to_earning_on_payment_adds_each_missing_paid_event_once(  # type: ignore[no-untyped-def]
    runner, shopify_fake, db_session, paid_shop
) -> None:
    """The first run recorded the orders while the shop earned at creation (no orders/paid); once it earns on
    payment, a re-run must add the paid event of each paid order (or a retroactive run credits nothing for them),
    and neither the orders/create events already in the archive nor the paid events of the previous run again."""
    seed_orders(shopify_fake)  # two orders since 2026-01-01, both paid
    shopify_fake.state.add_order(
        SHOP,
        order_node(9007199254741003, created_at="2026-02-03T10:00:00Z", total="9.00", displayFinancialStatus="PENDING"),
    )
    assert "3 recorded as historical, 0 already in the inbox; 0 earning event(s)" in backfill(runner).output
    assert inbox.archive_processed(db_session, older_than=datetime.now(timezone.utc) + timedelta(days=1)) == 3
    db_session.execute(update(Shop).where(Shop.domain == SHOP).values(orders_earn_on="paid"))
    db_session.commit()

    for summary in ("2 earning event(s) recorded", "0 earning event(s) recorded"):  # the third run adds nothing
        result = backfill(runner)
        assert result.exit_code == 0, result.output
        assert f"0 recorded as historical, 3 already in the inbox; {summary}" in result.output
        rows = db_session.execute(
            select(event_history.c.event_type, event_history.c.payload["id"].astext).order_by(
                event_history.c.payload["id"].astext, event_history.c.event_type
            )
        ).all()
        assert rows == [
            ("order_created", "9007199254740997"),
            ("order_paid", "9007199254740997"),
            ("order_created", "9007199254740999"),
            ("order_paid", "9007199254740999"),
            ("order_created", "9007199254741003"),
        ]
    assert db_session.execute(select(func.count()).select_from(PointsTransaction)).scalar_one() == 0  # no points


def test_orders_already_moved_to_the_archive_are_not_recorded_again(  # type: ignore[no-untyped-def]
    runner, shopify_fake, db_session, paid_shop
) -> None:
    seed_orders(shopify_fake)
    assert backfill(runner).exit_code == 0
    moved = inbox.archive_processed(db_session, older_than=datetime.now(timezone.utc) + timedelta(days=1))
    db_session.commit()
    assert moved == 2

    again = backfill(runner)
    assert "0 recorded as historical, 2 already in the inbox" in again.output
    assert db_session.execute(select(func.count()).select_from(EventQueue)).scalar_one() == 0
    assert db_session.execute(select(func.count()).select_from(event_history)).scalar_one() == 2


def test_a_paid_event_dated_before_its_orders_creation_is_still_found_in_the_archive(  # type: ignore[no-untyped-def]
    runner, shopify_fake, db_session, paid_shop
) -> None:
    """The known-check reads the inbox and archive from the earliest time the run records an event at: an imported
    order's paid event is dated at its processing, years before its creation, and must still be found there."""
    db_session.execute(update(Shop).where(Shop.domain == SHOP).values(orders_earn_on="paid"))
    db_session.commit()
    seed_orders(shopify_fake)
    shopify_fake.state.add_order(
        SHOP,
        order_node(
            9007199254741003, created_at="2026-01-02T10:00:00Z", total="9.00", processedAt="2019-06-01T09:00:00Z"
        ),
    )
    assert "3 recorded as historical, 0 already in the inbox; 3 earning event(s)" in backfill(runner).output
    assert inbox.archive_processed(db_session, older_than=datetime.now(timezone.utc) + timedelta(days=1)) == 6
    db_session.commit()

    again = backfill(runner)
    assert "0 recorded as historical, 3 already in the inbox; 0 earning event(s) recorded" in again.output
    assert db_session.execute(select(func.count()).select_from(EventQueue)).scalar_one() == 0
    paid_at = db_session.execute(
        select(event_history.c.occurred_at).where(
            event_history.c.event_type == "order_paid", event_history.c.payload["id"].astext == "9007199254741003"
        )
    ).scalar_one()
    assert paid_at == datetime(2019, 6, 1, 9, 0, tzinfo=timezone.utc)


def test_the_known_check_reads_the_archive_through_its_time_index(  # type: ignore[no-untyped-def]
    runner, shopify_fake, db_session, paid_shop
) -> None:
    """The look-up of what the inbox and its archive already hold is bounded by time, so on the archive (a shop's
    whole past) it is an index range from the backfill's window on, not every row of the shop. Planned with
    sequential and bitmap scans priced out, as on an archive too large to read whole."""
    seed_orders(shopify_fake)
    assert backfill(runner).exit_code == 0
    inbox.archive_processed(db_session, older_than=datetime.now(timezone.utc) + timedelta(days=1))
    db_session.commit()
    statements: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if "FROM event_history" in statement:
            statements.append((statement, parameters))

    sqlalchemy.event.listen(Engine, "before_cursor_execute", capture)
    try:
        assert backfill(runner).exit_code == 0
    finally:
        sqlalchemy.event.remove(Engine, "before_cursor_execute", capture)
    [(statement, parameters)] = statements

    connection = db_session.connection()
    connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    connection.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
    [plan] = connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters).scalar_one()
    db_session.rollback()
    archive_reads = [
        node
        for node in _plan_nodes(plan["Plan"])
        if node.get("Relation Name") == "event_queue_archive" and "shop_id" in node.get("Index Cond", "")
    ]
    assert archive_reads and all("occurred_at >=" in node["Index Cond"] for node in archive_reads), archive_reads


def test_the_known_check_is_one_statement_text_for_any_number_of_orders(  # type: ignore[no-untyped-def]
    runner, shopify_fake, db_session, paid_shop
) -> None:
    """Order ids and event types go as arrays: two runs over different numbers of orders send the same text (an IN
    list took a parameter per order, so a backfill of more than 65535 orders could not run it at all)."""
    seed_orders(shopify_fake)
    statements: list[str] = []

    def capture(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if "FROM event_history" in statement:
            statements.append(statement)

    sqlalchemy.event.listen(Engine, "before_cursor_execute", capture)
    try:
        assert "2 order(s) since 2026-01-01: 2 recorded" in backfill(runner).output
        assert "3 order(s) since 2025-12-01: 1 recorded" in backfill(runner, since="2025-12-01").output
    finally:
        sqlalchemy.event.remove(Engine, "before_cursor_execute", capture)
    assert len(statements) == 2 and statements[0] == statements[1], statements


def _plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)


def test_an_order_a_live_webhook_brought_is_not_recorded_twice(
    client, runner, shopify_fake, db_session, paid_shop
) -> None:  # type: ignore[no-untyped-def]
    seed_orders(shopify_fake)
    live = order_payload(order_id=9007199254740997, created_at="2026-01-05T05:00:00-05:00")
    delivery = shopify_fake.signer.signed_webhook("orders/create", live, shop=SHOP, event_id=str(uuid.uuid4()))
    assert client.post("/webhooks", data=delivery.body, headers=delivery.headers).status_code == 200
    result = backfill(runner)
    assert "1 recorded as historical, 1 already in the inbox" in result.output
    assert db_session.execute(select(func.count()).select_from(EventQueue)).scalar_one() == 2


def test_a_live_orders_paid_event_still_on_its_way_is_not_recorded_beside_it(
    client, runner, shopify_fake, db_session, paid_shop
) -> None:  # type: ignore[no-untyped-def]
    """Both orders came by live webhooks, so Shopify sends their orders/paid live too. The one paid an hour ago may
    still be on its way (recorded now, history would hold it twice when it comes); the one paid three days ago is
    later than any webhook comes, so it is missing and recorded."""
    db_session.execute(update(Shop).where(Shop.domain == SHOP).values(orders_earn_on="paid"))
    db_session.commit()
    now = datetime.now(timezone.utc).replace(microsecond=0)
    for order_id, created, paid in (
        (9007199254741011, now - timedelta(days=3), now - timedelta(days=3) + timedelta(minutes=5)),
        (9007199254741013, now - timedelta(hours=2), now - timedelta(hours=1)),
    ):
        stamp = created.isoformat().replace("+00:00", "Z")
        node = order_node(order_id, created_at=stamp, total="20.00", customer_id=CUSTOMER)
        shopify_fake.state.add_order(SHOP, {**node, "processedAt": paid.isoformat().replace("+00:00", "Z")})
        live = order_payload(order_id=order_id, created_at=stamp)
        delivery = shopify_fake.signer.signed_webhook("orders/create", live, shop=SHOP, event_id=str(uuid.uuid4()))
        assert client.post("/webhooks", data=delivery.body, headers=delivery.headers).status_code == 200

    result = backfill(runner, since=(now - timedelta(days=5)).date().isoformat())
    assert result.exit_code == 0, result.output
    assert "0 recorded as historical, 2 already in the inbox; 1 earning event(s) recorded" in result.output
    paid_events = db_session.execute(
        select(EventQueue.payload["id"].astext).where(EventQueue.event_type == "order_paid")
    ).scalars()
    assert list(paid_events) == ["9007199254741011"]


@pytest.mark.parametrize(
    ("shop", "since", "message"),
    [
        ("evil.example.com", "2026-01-01", "is not a myshopify.com shop domain"),
        (SHOP, "2999-01-01", "is in the future"),
        (SHOP, "yesterday", "does not match the format"),
        ("never-installed.myshopify.com", "2026-01-01", "has not installed loyalty"),
    ],
)
def test_bad_input_is_refused_before_anything_is_sent(runner, shopify_fake, paid_shop, shop, since, message) -> None:  # type: ignore[no-untyped-def]
    shopify_fake.recorder.clear()
    result = backfill(runner, since=since, shop=shop)
    assert result.exit_code != 0 and message in result.output
    assert shopify_fake.recorder.graphql() == []


def test_the_free_plan_does_not_include_the_backfill(runner, shopify_fake, admin) -> None:  # type: ignore[no-untyped-def]
    admin.install()
    shopify_fake.recorder.clear()
    result = backfill(runner)
    assert result.exit_code != 0 and "free plan" in result.output
    assert shopify_fake.recorder.graphql() == []
