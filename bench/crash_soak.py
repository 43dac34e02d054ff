"""Crash soak: stream processes SIGKILLed at random moments (mid-batch, between commit and acknowledge), restarted,
then the ledger compared with an independent calculation. Nothing may be lost, nothing credited twice.

The events: orders of `--customers` customers, one or two orders each (a customer's orders all qualify for the demo
shop's First Order Bonus or none does, so the expected bonus does not depend on which is processed first), plus
re-deliveries on the stream (the same event again) and backfills (the same order under a new event id).
Expected: 500 points for each qualifying customer, 0 for the others; every inbox event processed exactly once;
stored balances = sum of entries; nothing pending in the group, nothing dead-lettered.

Needs PostgreSQL and Redis (BENCH_DATABASE_URL / BENCH_REDIS_URL, default 127.0.0.1); uses its own database and
Redis namespace, and never restarts the servers themselves (they are shared).
Run: python bench/crash_soak.py [--customers 2000] [--processes 3] [--kills 30]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import redis
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from pipeline import BIN, Servers, publish  # noqa: E402

from app.commands.demo import DEMO_SHOP  # noqa: E402
from app.events.stream import GROUP  # noqa: E402
from app.loyalty.base.inbound import InboundEvent  # noqa: E402
from app.migrations import upgrade  # noqa: E402
from tests.helpers import order_payload  # noqa: E402

BONUS = 500


def build_events(shop_id: int, customers: int, rng: random.Random) -> tuple[list[InboundEvent], dict[str, int]]:
    """The inbox events (each once) and the expected points per customer."""
    events, expected = [], {}
    order_id = 5 * 10**12
    for n in range(customers):
        customer = str(7 * 10**9 + n)
        qualifies = n % 3 == 0
        expected[customer] = BONUS if qualifies else 0
        for _ in range(rng.choice((1, 1, 2))):
            order_id += 1
            payload = order_payload(order_id, customer_id=int(customer), total="150.00" if qualifies else "40.00")
            copies = 2 if rng.random() < 0.05 else 1  # a backfill: the same order under another event id
            for _copy in range(copies):
                events.append(
                    InboundEvent(
                        event_id=uuid.uuid4(),
                        event_type="order_created",
                        shop_domain=DEMO_SHOP,
                        customer_id=customer,
                        timestamp=datetime.now(timezone.utc),
                        event_data=payload,
                    )
                )
    rng.shuffle(events)
    return events, expected


def store(dsn: str, shop_id: int, events: list[InboundEvent]) -> None:
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY event_queue (event_id, shop_id, event_type, topic, customer_id, payload, occurred_at) FROM STDIN"
        ) as copy:
            for event in events:
                copy.write_row(
                    (
                        str(event.event_id),
                        shop_id,
                        event.event_type,
                        "orders/create",
                        event.customer_id,
                        json.dumps(event.event_data),
                        event.timestamp,
                    )
                )
        conn.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument(
        "--pause",
        type=float,
        nargs=2,
        default=(1.5, 5.0),
        metavar=("MIN", "MAX"),
        help="seconds between kills, drawn at random (a restarted process needs about 1 s to start reading)",
    )
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--timeout", type=int, default=1800, help="seconds to wait for the backlog to drain")
    args = parser.parse_args()
    rng = random.Random(args.seed)

    admin_url = make_url(os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    run = secrets.token_hex(4)
    database, namespace = f"loyalty_soak_{run}", f"loyalty-soak-{run}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{database}"')
    url = admin_url.set(database=database).render_as_string(hide_password=False)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    client = redis.Redis.from_url(redis_url)
    logs = Path(tempfile.mkdtemp(prefix="loyalty-soak-"))
    env = {
        **os.environ,
        "APP_ENV": "development",
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "LOYALTY_REDIS_NAMESPACE": namespace,
        "SHOPIFY_API_SECRET": "shpss_soak_secret_0123456789abcdef",
        "PYTHONPATH": str(ROOT),
    }
    servers = Servers(env, logs)
    failures: list[str] = []
    try:
        upgrade(url)
        subprocess.run([str(BIN / "flask"), "--app", "app", "demo"], cwd=ROOT, env=env, check=True, capture_output=True)
        with psycopg.connect(dsn) as conn:
            shop_id = conn.execute("SELECT id FROM shops WHERE domain = %s", (DEMO_SHOP,)).fetchone()[0]
        events, expected = build_events(shop_id, args.customers, rng)
        store(dsn, shop_id, events)
        redelivered = [event for event in events if rng.random() < 0.05]  # the stream hands some out twice
        publish(client, namespace, events + redelivered)
        print(f"soak: {len(events)} inbox events, {len(redelivered)} re-deliveries, {args.customers} customers")

        def start(name: str) -> subprocess.Popen[bytes]:
            return servers.start(
                f"{name}-{time.monotonic_ns()}",
                str(BIN / "flask"),
                *("--app", "app", "stream", "run", "--name", name, "--batch-size", "100"),
            )

        names = [f"soak-{i}" for i in range(args.processes)]
        running = {name: start(name) for name in names}
        started, kills = time.monotonic(), 0
        with psycopg.connect(dsn, autocommit=True) as conn:

            def left() -> int:
                return conn.execute("SELECT count(*) FROM event_queue WHERE status = 'pending'").fetchone()[0]

            while kills < args.kills and left():
                time.sleep(rng.uniform(*args.pause))
                name = rng.choice(names)
                running[name].send_signal(signal.SIGKILL)  # no clean-up: mid-batch, or between commit and ack
                running[name].wait()
                kills += 1
                running[name] = start(name)  # the same name: it first redoes what it held
            print(f"soak: {kills} SIGKILLs in {time.monotonic() - started:.0f} s; draining the rest")
            while left():
                if time.monotonic() - started > args.timeout:
                    failures.append(f"{left()} events still pending after {args.timeout} s")
                    break
                time.sleep(0.5)
            time.sleep(2)  # let the last acknowledgements land
            elapsed = time.monotonic() - started

            processed, dead, rows = conn.execute(
                "SELECT count(*) FILTER (WHERE status = 'processed'), count(*) FILTER (WHERE status = 'dead'),"
                " count(*) FROM event_queue WHERE event_type = 'order_created'"
            ).fetchone()
            claims = conn.execute(
                "SELECT count(*), count(DISTINCT event_id) FROM processed_events p"
                " WHERE EXISTS (SELECT 1 FROM event_queue q WHERE q.event_id = p.event_id"
                " AND q.event_type = 'order_created')"
            ).fetchone()
            letters = conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0]
            points = dict(
                conn.execute(
                    "SELECT p.customer_id, coalesce(sum(t.points), 0) FROM customer_loyalty_profiles p"
                    " LEFT JOIN points_transactions t ON t.profile_id = p.id GROUP BY p.customer_id"
                ).fetchall()
            )
            drift = conn.execute(
                "SELECT count(*) FROM customer_loyalty_profiles p WHERE points_balance <>"
                " (SELECT coalesce(sum(points), 0) FROM points_transactions t WHERE t.profile_id = p.id)"
            ).fetchone()[0]
            orders = conn.execute("SELECT count(*), count(DISTINCT order_id) FROM orders").fetchone()
        pending = client.xpending(f"{namespace}:events", GROUP)["pending"]
        wrong = {c: (points.get(c, 0), want) for c, want in expected.items() if points.get(c, 0) != want}
        print(
            f"soak: {processed}/{rows} processed, {dead} dead, {letters} dead letters, dedupe rows {claims[0]}"
            f" for {claims[1]} events, {orders[1]} orders ({orders[0]} rows), {pending} pending in the group,"
            f" {len(wrong)} customers with the wrong points, {drift} balances off their entries;"
            f" {elapsed:.0f} s, {len(events) / elapsed:,.0f} events/s through {kills} kills"
        )
        if processed != rows or dead or letters:
            failures.append("not every event processed exactly once without dead letters")
        if claims[0] != claims[1] or claims[1] != rows:
            failures.append("dedupe rows do not match the inbox one to one")
        if orders[0] != orders[1]:
            failures.append("an order was recorded twice")
        if wrong:
            failures.append(f"wrong points (got, expected): {dict(list(wrong.items())[:10])}")
        if drift:
            failures.append("stored balances differ from their entries")
        if pending:
            failures.append("messages left pending in the consumer group")
    finally:
        servers.stop()
        for key in client.scan_iter(match=f"{namespace}*"):
            client.delete(key)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    if failures:
        sys.exit("soak FAILED: " + "; ".join(failures) + f" (logs in {logs})")
    print("soak passed")


if __name__ == "__main__":
    main()
