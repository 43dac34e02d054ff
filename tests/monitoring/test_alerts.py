"""The app's own alerts: an episode opens once when a threshold is crossed (poison events raise the error rate, a
paused consumer lets lag grow), the operator hears once per change, and the episode closes on recovery."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from app.events import stream
from app.monitoring.alerts import active_alerts, firing, operator_notifier, update_episodes
from app.monitoring.stream_info import stream_info, totals
from app.monitoring.system_metrics import system_metrics
from tests.events.test_end_to_end import demo, drain, make_consumer, send_order  # noqa: F401 (demo is a fixture)
from tests.integrations.receiver import Receiver, serve


@pytest.fixture
def operator() -> Iterator[Receiver]:
    yield from serve()


def figures(session, redis_client, namespace: str, now: datetime) -> dict:  # type: ignore[no-untyped-def]
    try:
        system = system_metrics(session, now=now, window_s=300)
    finally:
        session.rollback()
    return {"system": system, "streams": totals(stream_info(redis_client, namespace))}


def evaluate(session, redis_client, namespace: str, now: datetime, notices: list) -> dict:  # type: ignore[no-untyped-def]
    now_firing = firing(figures(session, redis_client, namespace, now))
    update_episodes(redis_client, namespace, now_firing, now=now, notify=notices.append)
    return now_firing


def test_poison_events_open_one_error_rate_episode_that_closes_when_they_are_gone(  # type: ignore[no-untyped-def]
    app,
    client,
    shopify,
    demo,  # noqa: F811 (the fixture imported above)
    redis_client,
    redis_namespace,
    db_session,
    refuse,
) -> None:
    consumer = make_consumer(app, redis_client, redis_namespace)
    send_order(client, shopify, order_id=1, customer_id=9001, total_price="150.00")
    drain(consumer)
    # Poison: while the ledger refuses every insert, an order's processing raises on each delivery until the
    # consumer dead-letters it.
    lift = refuse("points_transactions")
    send_order(client, shopify, order_id=2, customer_id=9002, total_price="150.00")
    drain(consumer)
    lift()
    assert db_session.execute(text("SELECT count(*) FROM event_queue WHERE status = 'dead'")).scalar_one() == 1
    now = datetime.now(timezone.utc)
    notices: list[dict] = []

    assert "high_error_rate" in evaluate(db_session, redis_client, redis_namespace, now, notices)
    evaluate(db_session, redis_client, redis_namespace, now + timedelta(minutes=1), notices)  # still above: no repeat
    assert [(n["alert"], n["state"]) for n in notices] == [("high_error_rate", "firing")]
    assert active_alerts(redis_client, redis_namespace)["high_error_rate"]["value"] > 0.05

    later = now + timedelta(minutes=10)  # the failures have left the window
    assert "high_error_rate" not in evaluate(db_session, redis_client, redis_namespace, later, notices)
    evaluate(db_session, redis_client, redis_namespace, later + timedelta(minutes=1), notices)
    assert [(n["alert"], n["state"]) for n in notices] == [
        ("high_error_rate", "firing"),
        ("high_error_rate", "resolved"),
    ]
    assert active_alerts(redis_client, redis_namespace)["high_error_rate"] is None


def test_a_paused_consumer_opens_one_lag_episode_that_closes_when_it_catches_up(  # type: ignore[no-untyped-def]
    db_session, redis_client, redis_namespace, operator
) -> None:
    keys = stream.StreamKeys.for_namespace(redis_namespace)
    stream.ensure_group(redis_client, keys)
    pipe = redis_client.pipeline()
    for number in range(1001):  # spread over the partitions: the alert watches their sum
        pipe.xadd(keys.partitions[number % len(keys.partitions)].events, {"n": str(number)})
    pipe.execute()
    now = datetime.now(timezone.utc)
    notify = operator_notifier(operator.url)

    for minute in range(3):  # evaluated every minute while the consumer is paused
        now_firing = firing(figures(db_session, redis_client, redis_namespace, now + timedelta(minutes=minute)))
        update_episodes(redis_client, redis_namespace, now_firing, now=now, notify=notify)
    assert len(operator.requests) == 1
    fired = json.loads(operator.requests[0].body)
    assert (fired["alert"], fired["state"], fired["value"]) == ("stream_lag", "firing", 1001.0)
    assert fired["text"].startswith("loyalty alert stream_lag firing")

    for partition in keys.partitions:
        for _key, entries in redis_client.xreadgroup(stream.GROUP, "resumed", {partition.events: ">"}, count=2000):
            redis_client.xack(partition.events, stream.GROUP, *(stream_id for stream_id, _fields in entries))
    for minute in range(3, 5):
        now_firing = firing(figures(db_session, redis_client, redis_namespace, now + timedelta(minutes=minute)))
        update_episodes(redis_client, redis_namespace, now_firing, now=now, notify=notify)
    assert [json.loads(r.body)["state"] for r in operator.requests] == ["firing", "resolved"]


def test_the_worker_task_opens_the_episode_the_metrics_and_system_metrics_show(  # type: ignore[no-untyped-def]
    worker, client, redis_client, redis_namespace
) -> None:
    from app.tasks.alerts import check_alerts
    from tests.worker_fixtures import run_next_task

    keys = stream.StreamKeys.for_namespace(redis_namespace)
    stream.ensure_group(redis_client, keys)
    pipe = redis_client.pipeline()
    for number in range(1200):
        pipe.xadd(keys.partitions[number % len(keys.partitions)].events, {"n": str(number)})
    pipe.execute()

    check_alerts()
    assert run_next_task(worker) == "check_alerts"

    assert client.get("/monitoring/system-metrics").get_json()["alerts"]["stream_lag"]["value"] == 1200
    metrics = client.get("/monitoring/metrics").get_data(as_text=True)
    assert 'loyalty_alert_active{alert="stream_lag"} 1.0' in metrics
    assert 'loyalty_alert_active{alert="high_error_rate"} 0.0' in metrics


def test_an_unreachable_operator_webhook_does_not_stop_the_episode(redis_client, redis_namespace) -> None:  # type: ignore[no-untyped-def]
    notify = operator_notifier("http://127.0.0.1:9/unreachable", timeout_s=0.5)
    now = datetime.now(timezone.utc)
    notices = update_episodes(redis_client, redis_namespace, {"stream_lag": 5000.0}, now=now, notify=notify)
    assert [n["state"] for n in notices] == ["firing"]
    assert active_alerts(redis_client, redis_namespace)["stream_lag"]["value"] == 5000.0
