"""The worker's side: outbox rows of the two webhook kinds drained by the outbox dispatcher, delivered to a real
receiver; and the task monitoring's record of a failed task, retried from /monitoring/tasks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from app.integrations import endpoints as service
from app.integrations import signing
from app.models import Outbox, WebhookDelivery
from tests.integrations.receiver import Receiver, serve
from tests.worker_fixtures import run_next_task

# A merchant_webhook outbox row's payload: customer 7 reached Silver.
SILVER_REACHED = {
    "topic": "tier.changed",
    "data": {"customer_id": "7", "from": "Bronze", "to": "Silver"},
    "occurred_at": "2026-03-02T15:30:00+00:00",
}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from serve()


@pytest.fixture
def secret(worker, db_session, shop, receiver) -> str:  # type: ignore[no-untyped-def]
    from app.tasks.outbound_webhooks import _cipher

    created = service.create_endpoint(
        db_session, _cipher(), shop_id=shop.id, url=receiver.url, topics=["tier.changed"], allow_private=True
    )
    db_session.commit()
    return created.secret


def stage(db_session, shop, kind: str, payload: dict) -> int:  # type: ignore[no-untyped-def]
    row = Outbox(shop_id=shop.id, kind=kind, dedupe_key=f"{kind}:1", payload=payload)
    db_session.add(row)
    db_session.commit()
    return row.id


def drain_outbox(worker) -> None:  # type: ignore[no-untyped-def]
    from app.tasks.outbox import deliver_due_outbox

    deliver_due_outbox()
    assert run_next_task(worker) == "deliver_due_outbox"


def delivered_and_drained(client) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(successful webhook deliveries, completed outbox drains) as /monitoring/metrics reports them."""
    found = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(client.get("/monitoring/metrics").get_data(as_text=True))
        for sample in family.samples
    }
    return (
        found.get(("loyalty_outbound_webhook_deliveries_total", (("outcome", "delivered"),)), 0.0),
        found.get(("loyalty_tasks_total", (("outcome", "complete"), ("task", "deliver_due_outbox"))), 0.0),
    )


def test_a_merchant_webhook_row_reaches_the_subscribed_endpoint_signed(  # type: ignore[no-untyped-def]
    worker, client, db_session, shop, receiver, secret
) -> None:
    outbox_id = stage(
        db_session,
        shop,
        "merchant_webhook",
        SILVER_REACHED,
    )
    before = delivered_and_drained(client)
    drain_outbox(worker)

    (request,) = receiver.requests
    assert json.loads(request.body)["data"] == {"customer_id": "7", "from": "Bronze", "to": "Silver"}
    delivered, drained = delivered_and_drained(client)
    assert (delivered - before[0], drained - before[1]) == (1, 1)  # the worker's figures moved
    timestamp = int(request.headers[signing.TIMESTAMP_HEADER])
    assert signing.verify_signature(secret, request.headers, request.body, now=timestamp)
    db_session.expire_all()
    assert db_session.get(Outbox, outbox_id).status == "done"
    drain_outbox(worker)  # nothing due: no second request
    assert len(receiver.requests) == 1


def test_the_rule_action_webhook_goes_to_the_endpoint_it_names(worker, db_session, shop, receiver, secret) -> None:  # type: ignore[no-untyped-def]
    stage(db_session, shop, "rule.webhook", {"url": receiver.url, "rule": "VIP", "event_type": "order_created"})
    drain_outbox(worker)
    (request,) = receiver.requests
    assert request.headers[signing.TOPIC_HEADER] == "rule.webhook"
    assert json.loads(request.body)["data"] == {"rule": "VIP", "event_type": "order_created"}


def test_a_rule_webhook_to_an_unregistered_url_fails_with_a_reason(worker, db_session, shop, receiver, secret) -> None:  # type: ignore[no-untyped-def]
    outbox_id = stage(db_session, shop, "rule.webhook", {"url": "https://elsewhere.example/hook", "rule": "VIP"})
    drain_outbox(worker)
    db_session.expire_all()
    row = db_session.get(Outbox, outbox_id)
    assert row.status == "failed" and "not an active webhook endpoint of this shop" in row.last_error
    assert receiver.requests == [] and db_session.execute(select(WebhookDelivery)).first() is None


def test_a_webhook_row_sends_at_once_only_the_deliveries_it_made(  # type: ignore[no-untyped-def]
    worker, db_session, shop, other_shop, receiver, secret
) -> None:
    """Another shop's due delivery and an earlier one of this shop are left to the every-minute sweep: a row's run
    must not wait on other endpoints (each up to 15 s) and outlast its lease."""
    from app.integrations import outbound_webhooks as outbound
    from app.tasks.outbound_webhooks import _cipher, deliver_due_webhooks

    other_url = receiver.url.replace("/hooks/loyalty", "/hooks/other-shop")
    service.create_endpoint(
        db_session, _cipher(), shop_id=other_shop.id, url=other_url, topics=["tier.changed"], allow_private=True
    )
    db_session.commit()
    due = datetime.now(timezone.utc) - timedelta(minutes=5)
    for owner, key in ((other_shop, "other-shop:earlier"), (shop, "this-shop:earlier")):
        with db_session.begin():
            outbound.fan_out(
                db_session,
                shop_id=owner.id,
                topic="tier.changed",
                data={"customer_id": "8", "from": None, "to": "Bronze"},
                dedupe_key=key,
                occurred_at=due,
            )
    outbox_id = stage(
        db_session,
        shop,
        "merchant_webhook",
        SILVER_REACHED,
    )
    drain_outbox(worker)

    (request,) = receiver.requests
    assert request.path == "/hooks/loyalty"
    assert json.loads(request.body)["data"] == {"customer_id": "7", "from": "Bronze", "to": "Silver"}
    db_session.expire_all()
    assert db_session.get(Outbox, outbox_id).status == "done"
    waiting = db_session.execute(
        select(WebhookDelivery.dedupe_key, WebhookDelivery.status, WebhookDelivery.attempts).where(
            WebhookDelivery.dedupe_key != f"outbox:{outbox_id}"
        )
    ).all()
    assert sorted(waiting) == [("other-shop:earlier", "pending", 0), ("this-shop:earlier", "pending", 0)]

    deliver_due_webhooks()
    assert run_next_task(worker) == "deliver_due_webhooks"
    assert sorted(request.path for request in receiver.requests) == [
        "/hooks/loyalty",
        "/hooks/loyalty",
        "/hooks/other-shop",
    ]


def test_a_failed_task_is_listed_and_retried_from_the_monitoring_page(worker, client, redis_namespace) -> None:  # type: ignore[no-untyped-def]
    from app.tasks import records

    @worker.task(retries=0, name="explode_for_the_test")
    def explode(shop_id: int) -> None:
        raise RuntimeError(f"boom for {shop_id}")

    try:
        explode(42)
        task = worker.dequeue()
        worker.execute(task)
        listed = client.get("/monitoring/tasks", headers={"Accept": "application/json"}).get_json()
        (failure,) = listed["failed"]
        assert (failure["task"], failure["error"]) == ("explode_for_the_test", "RuntimeError: boom for 42")
        last = next(row for row in listed["other_tasks"] if row["task"] == "explode_for_the_test")["last_run"]
        assert last["outcome"] == "error" and last["duration_s"] >= 0
        assert "explode_for_the_test" in client.get("/monitoring/tasks").get_data(as_text=True)  # the HTML page

        retried = client.post(f"/monitoring/tasks/failed/{failure['id']}/retry")
        assert retried.status_code == 202 and worker.pending_count() == 1
        again = client.post(f"/monitoring/tasks/failed/{failure['id']}/retry")
        assert again.status_code == 404 and worker.pending_count() == 1  # a second click enqueues nothing
        assert worker.dequeue().args == (42,)
    finally:
        worker._registry.unregister(explode.task_class)
        worker.storage.conn.delete(records.failed_key(redis_namespace), records.last_runs_key(redis_namespace))


def test_a_kept_failure_whose_message_is_unreadable_is_a_422_and_stays_listed(worker, client, redis_namespace) -> None:  # type: ignore[no-untyped-def]
    from app.tasks import records

    key = records.failed_key(redis_namespace)
    entry = {"id": "t-1", "task": "sync_customer", "at": "2026-12-01T06:00:00+00:00", "error": "E", "message": "**"}
    worker.storage.conn.lpush(key, json.dumps(entry))
    try:
        response = client.post("/monitoring/tasks/failed/t-1/retry")
        assert response.status_code == 422
        assert response.get_json()["message"] == "failed task 't-1' cannot be retried: its kept message is unreadable"
        assert worker.pending_count() == 0
        assert [json.loads(raw)["id"] for raw in worker.storage.conn.lrange(key, 0, -1)] == ["t-1"]  # not dropped
    finally:
        worker.storage.conn.delete(key)
