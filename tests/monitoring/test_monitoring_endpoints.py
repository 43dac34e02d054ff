"""/monitoring/stream-info, system-metrics and metrics against known states, behind the monitoring token."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from app.events import stream
from tests.events.test_end_to_end import demo, drain, make_consumer, send_order  # noqa: F401 (demo is a fixture)

TOKEN = "monitor-me-please"
LOOPBACK = {"REMOTE_ADDR": "127.0.0.1"}
ELSEWHERE = {"REMOTE_ADDR": "10.1.2.3"}


@pytest.fixture
def tokened_app(settings_overrides, clean_state):  # type: ignore[no-untyped-def]
    from app import create_app

    flask_app = create_app({**settings_overrides, "monitoring_token": TOKEN})
    with flask_app.app_context():
        yield flask_app
        from app.extensions import db

        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize("path", ["/monitoring/stream-info", "/monitoring/system-metrics", "/monitoring/metrics"])
class TestAccess:
    def test_with_a_token_set_it_is_required_even_from_loopback(self, tokened_app, worker_huey, path) -> None:  # type: ignore[no-untyped-def]
        client = tokened_app.test_client()
        refused = client.get(path, environ_base=LOOPBACK)
        assert refused.status_code == 401
        assert "MONITORING_TOKEN" in refused.get_json()["message"]
        wrong = client.get(path, headers={"Authorization": "Bearer nope"}, environ_base=LOOPBACK)
        assert wrong.status_code == 401
        allowed = client.get(path, headers={"Authorization": f"Bearer {TOKEN}"}, environ_base=ELSEWHERE)
        assert allowed.status_code == 200

    def test_without_a_token_only_loopback_may_read(self, client, worker_huey, path) -> None:  # type: ignore[no-untyped-def]
        assert client.get(path, environ_base=ELSEWHERE).status_code == 403
        assert client.get(path, environ_base=LOOPBACK).status_code == 200

    def test_in_production_without_a_token_nobody_may_read(self, settings_overrides, clean_state, path) -> None:  # type: ignore[no-untyped-def]
        from app import create_app

        production = create_app({**settings_overrides, "app_env": "production", "graphql_introspection": False})
        response = production.test_client().get(path, environ_base=LOOPBACK)
        assert response.status_code == 403
        assert "MONITORING_TOKEN" in response.get_json()["message"]


def test_health_stays_open_when_a_token_is_set(tokened_app) -> None:  # type: ignore[no-untyped-def]
    assert tokened_app.test_client().get("/monitoring/health", environ_base=ELSEWHERE).status_code == 200


def test_stream_info_shows_a_backlog_a_stuck_pending_entry_and_a_dead_letter(
    client, redis_client, redis_namespace
) -> None:  # type: ignore[no-untyped-def]
    keys = stream.StreamKeys.for_namespace(redis_namespace)
    stream.ensure_group(redis_client, keys)
    first, second = keys.partitions[0], keys.partitions[1]
    for number in range(3):
        redis_client.xadd(first.events, {"n": str(number)})
    for number in range(2):
        redis_client.xadd(second.events, {"n": str(number)})
    redis_client.xreadgroup(stream.GROUP, "stuck-consumer", {first.events: ">"}, count=2)  # two taken, never acked
    redis_client.xadd(first.dead, {"error": "poison"})
    redis_client.set(second.lease, "stream-host-7")
    time.sleep(0.05)

    body = client.get("/monitoring/stream-info").get_json()

    by_key = {partition["stream"]: partition for partition in body["partitions"]}
    assert sorted(by_key) == sorted(partition.events for partition in keys.partitions)
    assert (by_key[first.events]["length"], by_key[second.events]["length"]) == (3, 2)
    assert (by_key[first.events]["holder"], by_key[second.events]["holder"]) == (None, "stream-host-7")
    (group,) = by_key[first.events]["groups"]
    assert (group["name"], group["pending"], group["lag"]) == (stream.GROUP, 2, 1)
    assert [g["lag"] for g in by_key[second.events]["groups"]] == [2]
    oldest = group["oldest_pending"]
    assert oldest["consumer"] == "stuck-consumer" and oldest["deliveries"] == 1
    assert oldest["age_s"] >= 0.05 and oldest["idle_s"] >= 0.05
    (consumer,) = group["consumers"]
    assert consumer["name"] == "stuck-consumer" and consumer["pending"] == 2
    assert body["dead_letters"] == [{"stream": first.dead, "length": 1, "newest_age_s": pytest.approx(0.05, abs=5)}]
    assert body["totals"] == {  # summed over the partitions
        "length": 5,
        "lag": 3,
        "pending": 2,
        "dead_letters": 1,
        "oldest_pending_age_s": oldest["age_s"],
    }


def test_system_metrics_after_real_orders_and_a_failing_event(  # type: ignore[no-untyped-def]
    app,
    client,
    shopify,
    demo,  # noqa: F811 (the fixture imported above)
    redis_client,
    redis_namespace,
    db_session,
    worker_huey,  # noqa: F811
) -> None:
    consumer = make_consumer(app, redis_client, redis_namespace)
    for order_id in (1, 2, 3):
        send_order(client, shopify, order_id=order_id, customer_id=7000 + order_id, total_price="150.00")
    drain(consumer)
    with db_session.begin():  # one accepted event that failed once (as the consumer records a failure)
        db_session.execute(
            text(
                "UPDATE event_queue SET attempts = 1, last_error = 'boom' WHERE id = (SELECT min(id) FROM event_queue)"
            )
        )
        db_session.execute(
            text(
                "INSERT INTO outbox (shop_id, kind, dedupe_key, payload, created_at) "
                "SELECT id, 'merchant_webhook', 'k1', '{}'::jsonb, now() - interval '90 seconds' FROM shops"
            )
        )

    from app.tasks.monitoring import announce_tasks

    announce_tasks()  # as the worker does when it starts
    body = client.get("/monitoring/system-metrics?window=600").get_json()

    events = body["events"]  # three orders, and the events the app raised itself while processing them
    received = db_session.execute(text("SELECT count(*) FROM event_queue")).scalar_one()
    assert received > 3 and events["received"] == events["processed"] == received
    assert events["error_rate"] == pytest.approx(1 / received, abs=1e-4)
    assert events["per_second"] == pytest.approx(received / 600, abs=1e-3)
    assert body["events"]["latency_p95_s"] is not None
    rules = body["rule_execution_ms"]
    assert rules["evaluations"] >= 3 and 0 <= rules["p50"] <= rules["p95"] <= rules["p99"]
    (outbox,) = [row for row in body["outbox"] if row["kind"] == "merchant_webhook"]
    assert outbox["kind"] == "merchant_webhook" and outbox["depth"] == 1 and outbox["oldest_age_s"] >= 90
    assert body["tasks"]["queued"] == 0 and {row["task"] for row in body["tasks"]["periodic"]} >= {
        "sweep_all_shops",
        "check_alerts",
    }
    assert body["database_pool"]["size"] == 10
    assert set(body["alerts"]) == {
        "high_error_rate",
        "slow_processing",
        "stream_lag",
        "webhook_failures",
        "ledger_drift",
    }


# "\u00b2" (a superscript two) is a digit to str.isdigit() but not to int(), nor are 5,000 digits (int() reads 4,300).
@pytest.mark.parametrize("window", ["0", "59", "86401", "abc", "-5", "\u00b2", "6" * 5000])
def test_a_bad_window_is_a_400_that_says_why(client, window) -> None:  # type: ignore[no-untyped-def]
    response = client.get(f"/monitoring/system-metrics?window={window}")
    assert response.status_code == 400
    assert "window must be a number of seconds from 60 to 86400" in response.get_json()["message"]


def samples(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:  # type: ignore[no-untyped-def]
    response = client.get("/monitoring/metrics")
    assert response.status_code == 200 and response.content_type.startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found, name: str, **labels: str) -> float:  # type: ignore[no-untyped-def]
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_move_with_web_traffic_and_live_state(client, redis_client, redis_namespace, worker_huey) -> None:  # type: ignore[no-untyped-def]
    before = samples(client)
    client.get("/monitoring/health")
    client.get("/no/such/page")
    keys = stream.StreamKeys.for_namespace(redis_namespace)
    stream.ensure_group(redis_client, keys)
    first, second = keys.partitions[0], keys.partitions[1]
    for number in range(4):
        redis_client.xadd(first.events, {"n": str(number)})
    redis_client.xadd(second.events, {"n": "4"})
    redis_client.xadd(first.dead, {"error": "poison"})

    after = samples(client)

    health = {"endpoint": "/monitoring/health", "method": "GET", "status": "2xx"}
    assert (
        value(after, "loyalty_http_requests_total", **health)
        == value(before, "loyalty_http_requests_total", **health) + 1
    )
    unmatched = {"endpoint": "unmatched", "method": "GET", "status": "4xx"}
    assert (
        value(after, "loyalty_http_requests_total", **unmatched)
        == value(before, "loyalty_http_requests_total", **unmatched) + 1
    )
    assert value(after, "loyalty_stream_lag", stream=first.events, group=stream.GROUP) == 4
    assert value(after, "loyalty_stream_lag", stream=second.events, group=stream.GROUP) == 1
    assert value(after, "loyalty_stream_length", stream=first.events) == 4
    assert value(after, "loyalty_dead_letters", stream=first.dead) == 1
    assert value(after, "loyalty_huey_queue_depth") == 0
    for name, _labels in after:
        assert "shop" not in dict(_labels) and "customer" not in dict(_labels), name


def test_the_consumers_figures_move_through_the_functions_it_calls(client, worker_huey) -> None:  # type: ignore[no-untyped-def]
    """The functions the stream consumer calls, fed what one processed event yields."""
    from app.monitoring.metrics import record_event, record_rule_evaluation

    before = samples(client)
    record_event("order_created", "processed", seconds=0.004, age_s=0.2)
    record_event("some_future_type", "failed")
    record_rule_evaluation(0.0007)
    after = samples(client)

    processed = {"event_type": "order_created", "outcome": "processed"}
    assert value(after, "loyalty_events_total", **processed) == value(before, "loyalty_events_total", **processed) + 1
    other = {"event_type": "other", "outcome": "failed"}
    assert value(after, "loyalty_events_total", **other) == value(before, "loyalty_events_total", **other) + 1
    assert (
        value(after, "loyalty_rule_evaluation_seconds_count")
        == value(before, "loyalty_rule_evaluation_seconds_count") + 1
    )
    assert (
        value(after, "loyalty_event_age_seconds_bucket", le="0.25")
        == value(before, "loyalty_event_age_seconds_bucket", le="0.25") + 1
    )


def test_an_unknown_outcome_is_refused() -> None:
    from app.monitoring.metrics import record_event, record_webhook_delivery

    with pytest.raises(ValueError, match="event outcome must be one of"):
        record_event("order_created", "exploded")
    with pytest.raises(ValueError, match="delivery outcome must be one of"):
        record_webhook_delivery("maybe")


def test_multiprocess_mode_sums_what_other_processes_recorded(client, worker_huey, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A separate process (as a stream or worker process on the same host) records into PROMETHEUS_MULTIPROC_DIR;
    the web's /monitoring/metrics reads it from there."""
    import subprocess
    import sys

    from app.paths import PROJECT_ROOT

    probe = (
        "from app.monitoring.metrics import record_event, record_task, record_webhook_delivery\n"
        "for _ in range(3): record_event('order_paid', 'processed', seconds=0.01, age_s=1)\n"
        "record_task('sweep_all_shops', 'complete', 0.5)\n"
        "record_webhook_delivery('delivered', 0.2)\n"
    )
    environment = {**__import__("os").environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_ROOT, env=environment, check=True)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))

    found = samples(client)

    assert value(found, "loyalty_events_total", event_type="order_paid", outcome="processed") == 3
    assert value(found, "loyalty_tasks_total", task="sweep_all_shops", outcome="complete") == 1
    assert value(found, "loyalty_outbound_webhook_deliveries_total", outcome="delivered") == 1
    assert value(found, "loyalty_stream_lag", stream="x", group="y") == 0  # the live gauges are still added


def test_a_busy_window_takes_its_rate_over_the_span_the_sample_covers(db_session, shop, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The newest SAMPLE_ROWS rows are read (by primary key); when the window holds more, the rate is over its span."""
    from datetime import datetime, timezone

    from app.monitoring import system_metrics as figures

    now = datetime.now(timezone.utc)
    for seconds_ago in (100, 50, 10):
        db_session.execute(
            text(
                "INSERT INTO event_queue (event_id, shop_id, event_type, payload, occurred_at, received_at, status,"
                " processed_at) VALUES (gen_random_uuid(), :shop, 'order_created', '{}'::jsonb, :at, :at, 'processed',"
                " :at)"
            ),
            {"shop": shop.id, "at": now - timedelta(seconds=seconds_ago)},
        )
    db_session.commit()
    monkeypatch.setattr(figures, "SAMPLE_ROWS", 2)

    events = figures.system_metrics(db_session, now=now, window_s=300)["events"]

    assert (events["received"], events["span_s"]) == (2, 50.0)
    assert events["per_second"] == pytest.approx(2 / 50, abs=1e-3)
    monkeypatch.setattr(figures, "SAMPLE_ROWS", 10)
    assert figures.system_metrics(db_session, now=now, window_s=300)["events"]["span_s"] == 300


def test_the_stream_consumer_counts_what_it_commits(  # type: ignore[no-untyped-def]
    app,
    client,
    shopify,
    demo,  # noqa: F811 (the fixture imported above)
    redis_client,
    redis_namespace,
    worker_huey,  # noqa: F811
) -> None:
    """Orders through the real webhook -> stream -> consumer path move the event counters and the age histogram,
    one sample per committed event."""
    consumer = make_consumer(app, redis_client, redis_namespace)
    processed = {"event_type": "order_created", "outcome": "processed"}
    before = samples(client)
    for order_id in (11, 12, 13):
        send_order(client, shopify, order_id=order_id, customer_id=7100 + order_id, total_price="40.00")
    drain(consumer)
    after = samples(client)

    assert value(after, "loyalty_events_total", **processed) == value(before, "loyalty_events_total", **processed) + 3
    committed = consumer.processed
    assert committed >= 3
    for histogram in ("loyalty_event_age_seconds_count", "loyalty_event_processing_seconds_count"):
        assert value(after, histogram) == value(before, histogram) + committed, histogram
    # The demo shop's rules ran on each order (and on the app events they raised, when a rule listens to them).
    evaluations = "loyalty_rule_evaluation_seconds_count"
    assert value(after, evaluations) >= value(before, evaluations) + 3
