"""A real `flask stream run` process told to stop with SIGTERM (what a deploy or a scale-down sends): it finishes the
batch in hand, commits and acknowledges it, gives its partitions back and exits 0. Every event it was handed is
processed; every other one is still waiting on the stream for the next process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import redis
from sqlalchemy.engine import make_url

from app.events import stream
from app.models import Shop
from app.paths import PROJECT_ROOT
from tests.events.stream_helpers import order_event, pending

pytestmark = pytest.mark.processes

EVENTS = 4000


def accept_all(database_url: str, shop: Shop, count: int) -> list:  # type: ignore[type-arg]
    """`count` orders of 400 customers in the inbox (one COPY: the webhook's row, many times over), marked streamed:
    the test puts them on the stream itself, so the stream process's relay leaves them alone."""
    events = [order_event(shop.domain, n, customer_id=5000 + n % 400) for n in range(1, count + 1)]
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY event_queue (event_id, shop_id, event_type, topic, customer_id, payload, occurred_at, published_at)"
            " FROM STDIN"
        ) as copy:
            for event in events:
                copy.write_row(
                    (
                        str(event.event_id),
                        shop.id,
                        event.event_type,
                        "orders/create",
                        event.customer_id,
                        json.dumps(event.event_data),
                        event.timestamp,
                        event.timestamp,
                    )
                )
    return events


def processed_ids(database_url: str) -> set[str]:
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as conn:
        return {str(row[0]) for row in conn.execute("SELECT event_id FROM processed_events")}


def undelivered_ids(client: redis.Redis, keys: stream.StreamKeys) -> set[str]:
    """Event ids of entries the group has not handed to anyone yet."""
    left = set()
    for partition in keys.partitions:
        [group] = client.xinfo_groups(partition.events)
        after = "(" + group["last-delivered-id"].decode()
        left |= {fields[b"event_id"].decode() for _id, fields in client.xrange(partition.events, min=after)}
    return left


def test_sigterm_finishes_the_batch_in_hand_acknowledges_it_and_exits(  # type: ignore[no-untyped-def]
    database_url, redis_url, redis_namespace, redis_client, keys, shop, tmp_path: Path
) -> None:
    events = accept_all(database_url, shop, EVENTS)
    stream.ensure_group(redis_client, keys)
    stream.publish_many(redis_client, keys, events)
    env = {
        **os.environ,
        "APP_ENV": "development",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "LOYALTY_REDIS_NAMESPACE": redis_namespace,
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp_path / "stream.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "flask"), "--app", "app", "stream", "run", "--name", "sigterm-1"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 90
            while len(processed_ids(database_url)) < 100 and time.monotonic() < deadline:
                time.sleep(0.05)
            processed_before = len(processed_ids(database_url))
            process.send_signal(signal.SIGTERM)
            returncode = process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
    output_text = log.read_text(errors="replace")
    assert 100 <= processed_before < EVENTS, output_text  # stopped mid-stream
    assert returncode == 0, output_text
    assert "stream consumer sigterm-1 stopped after" in output_text

    # Nothing left pending: what it was handed is committed and acknowledged, and nothing else was touched.
    assert pending(redis_client, keys) == {}
    processed = processed_ids(database_url)
    assert processed == {str(event.event_id) for event in events} - undelivered_ids(redis_client, keys)
    assert len(processed) < EVENTS
    # Its partitions are free at once for the process that replaces it.
    assert all(redis_client.get(partition.lease) is None for partition in keys.partitions)
