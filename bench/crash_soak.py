"""Crash soak: several stream processes SIGKILLed at random moments (mid-batch, between commit and acknowledge) and
restarted, Redis killed and restarted from its append-only file, PostgreSQL stopped in an immediate shutdown and
restarted; then the ledger compared with an independent calculation. Nothing may be lost, nothing credited twice.

The events (`--events`, 100,000 by default): orders of the demo shop's customers, one or two each (a customer's
orders all qualify for the First Order Bonus or none does, so the expected bonus does not depend on which is
processed first), backfills (the same order under a new event id), refunds of a fifth of single-order customers'
orders (some delivered twice, under two event ids), and re-deliveries on the stream (the same entry twice).
Expected: 500 points for each qualifying customer, 400 when a fifth of that order was refunded, 0 for the others;
every inbox event processed exactly once; stored balances = sum of entries; nothing pending, no dead letters.

It runs its own servers, never the shared ones: a redis-server with --appendonly yes and a throwaway PostgreSQL
cluster (initdb, pg_ctl; as the postgres user when run as root), each on a free port under a temporary folder.
The first stream process is never SIGKILLed, so its RSS at start and end shows whether memory stays flat.
Run: python bench/crash_soak.py [--events 100000] [--processes 4] [--kills 30]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psycopg
import redis
from harness import BIN, ROOT, free_port, rss_mb

sys.path.insert(0, str(ROOT))

from app.commands.demo import DEMO_SHOP  # noqa: E402
from app.events import stream  # noqa: E402
from app.loyalty.base.inbound import InboundEvent  # noqa: E402
from app.migrations import upgrade  # noqa: E402
from tests.helpers import order_payload  # noqa: E402

BONUS = 500
REFUNDED_SHARE = "30.00"  # of a 150.00 order: a fifth of the bonus goes back
NAMESPACE = "loyalty-soak"


class OwnRedis:
    """A redis-server of the soak's own, append-only, that can be SIGKILLed and restarted from its files."""

    def __init__(self, folder: Path, appendfsync: str) -> None:
        self.folder, self.port, self.appendfsync = folder, free_port(), appendfsync
        self.folder.mkdir()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                *("--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder)),
                *("--appendonly", "yes", "--appendfsync", self.appendfsync, "--save", ""),
            ],
            stdout=open(self.folder / "redis.log", "ab"),
            stderr=subprocess.STDOUT,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                return
            except (redis.ConnectionError, redis.BusyLoadingError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


class OwnPostgres:
    """A throwaway PostgreSQL cluster (initdb) of the soak's own; stop() in immediate mode is a crash."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, free_port()
        self.data = folder / "data"
        folder.mkdir()
        # initdb and the server refuse to run as root.
        self.prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.prefix:
            shutil.chown(folder, "postgres", "postgres")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/loyalty_soak"

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "loyalty_soak")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "postgres.log"), "-w", "-o", options, "start")

    def stop(self, mode: str) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def _run(self, *command: str) -> None:
        subprocess.run([*self.prefix, *command], check=True, capture_output=True, cwd=self.folder)


def build_events(customers: int, rng: random.Random) -> tuple[list[InboundEvent], dict[str, int], dict[str, str]]:
    """The inbox events (each once), the expected points per customer, and each event's topic."""
    events, expected, topics = [], {}, {}

    def add(event_type: str, topic: str, customer: str | None, payload: dict[str, Any]) -> None:
        event = InboundEvent(
            event_id=uuid.uuid4(),
            event_type=event_type,
            shop_domain=DEMO_SHOP,
            customer_id=customer,
            timestamp=datetime.now(timezone.utc),
            event_data=payload,
        )
        events.append(event)
        topics[str(event.event_id)] = topic

    order_id, refund_id = 5 * 10**12, 9 * 10**12
    for n in range(customers):
        customer = str(7 * 10**9 + n)
        qualifies = n % 3 == 0
        expected[customer] = BONUS if qualifies else 0
        orders = rng.choice((1, 1, 2))
        for _ in range(orders):
            order_id += 1
            payload = order_payload(order_id, customer_id=int(customer), total="150.00" if qualifies else "40.00")
            for _copy in range(2 if rng.random() < 0.05 else 1):  # a backfill: the same order, another event id
                add("order_created", "orders/create", customer, payload)
        if orders == 1 and rng.random() < 0.25:
            refund_id += 1
            refund = refund_payload(refund_id, order_id)
            for _copy in range(2 if rng.random() < 0.2 else 1):  # Shopify delivering the refund twice
                add("refund_created", "refunds/create", None, refund)
            if qualifies:
                expected[customer] = BONUS - BONUS // 5
    rng.shuffle(events)
    return arrival_order(events, rng), expected, topics


def arrival_order(events: list[InboundEvent], rng: random.Random) -> list[InboundEvent]:
    """Most refunds after their order, as Shopify sends them; one in ten before it, to wait for it. (A refund names
    no customer, so it travels in the shop's partition, not its order's: even after it, it may be read first.)"""
    refunds = [event for event in events if event.event_type == "refund_created"]
    ordered = [event for event in events if event.event_type != "refund_created"]
    position = {str(e.event_data["id"]): n for n, e in enumerate(ordered) if e.event_type == "order_created"}
    # Each refund picks a gap of the orders' sequence (gap n: just before ordered[n]); one pass then lays them in,
    # linear in the events (inserting one by one was quadratic: hours at 100,000 events).
    gaps: dict[int, list[InboundEvent]] = {}
    for refund in refunds:
        after = position[str(refund.event_data["order_id"])] + 1
        gap = rng.randrange(0, after) if rng.random() < 0.1 else rng.randrange(after, len(ordered) + 1)
        gaps.setdefault(gap, []).append(refund)
    arrival: list[InboundEvent] = []
    for n, event in enumerate(ordered):
        arrival += gaps.get(n, ())
        arrival.append(event)
    return arrival + gaps.get(len(ordered), [])


def refund_payload(refund_id: int, order_id: int) -> dict[str, Any]:
    """A `refunds/create` body in Shopify's shape: one line item refunded for REFUNDED_SHARE."""
    money = {"amount": REFUNDED_SHARE, "currency_code": "USD"}
    return {
        "id": refund_id,
        "order_id": order_id,
        "created_at": "2026-03-03T10:00:00-05:00",
        "refund_line_items": [
            {
                "id": refund_id,
                "line_item_id": 866550311766439020,
                "quantity": 1,
                "restock_type": "return",
                "subtotal": REFUNDED_SHARE,
                "subtotal_set": {"shop_money": money, "presentment_money": money},
            }
        ],
        "transactions": [{"id": refund_id, "kind": "refund", "status": "success", "amount": REFUNDED_SHARE}],
    }


def store(dsn: str, shop_id: int, events: list[InboundEvent], topics: dict[str, str]) -> None:
    """The inbox rows, as the webhook commits them (one COPY)."""
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
                        topics[str(event.event_id)],
                        event.customer_id,
                        json.dumps(event.event_data),
                        event.timestamp,
                    )
                )
        conn.commit()


def held_by(client: redis.Redis, keys: stream.StreamKeys, consumer: str) -> int:
    """Entries this consumer has read and not acknowledged: a batch in hand (or one backing off)."""
    held = 0
    for partition in keys.partitions:
        try:
            held += len(client.xpending_range(partition.events, stream.GROUP, "-", "+", 10_000, consumername=consumer))
        except redis.ResponseError:
            pass  # no group there yet (a restarted Redis before the processes made it again)
    return held


def group_pending(client: redis.Redis, keys: stream.StreamKeys) -> int:
    return int(stream.group_info(client, keys)["pending"] or 0)


class Soak:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args, self.work = args, work
        self.rng = random.Random(args.seed)
        self.redis = OwnRedis(work / "redis", args.appendfsync)
        self.postgres = OwnPostgres(work / "postgres")
        self.logs = work / "logs"
        self.logs.mkdir()
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.faults = {"kills": 0, "kills_mid_batch": 0, "redis_restarts": 0, "postgres_restarts": 0}

    @property
    def dsn(self) -> str:
        return self.postgres.url.replace("postgresql+psycopg://", "postgresql://")

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "APP_ENV": "development",
            "DATABASE_URL": self.postgres.url,
            "REDIS_URL": self.redis.url,
            "LOYALTY_REDIS_NAMESPACE": NAMESPACE,
            "SHOPIFY_API_SECRET": "shpss_soak_secret_0123456789abcdef",
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
        }

    def start_process(self, name: str) -> None:
        log = open(self.logs / f"{name}.log", "ab")
        self.processes[name] = subprocess.Popen(
            [
                str(BIN / "flask"),
                *("--app", "app", "stream", "run", "--name", name),
                *("--batch-size", str(self.args.batch_size), "--refeed-after", str(self.args.refeed_after)),
                *("--retry-base-ms", str(self.args.retry_base_ms)),
            ],
            cwd=ROOT,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def stop_processes(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()

    def schedule(self) -> list[str]:
        """The faults in a random order, Redis and PostgreSQL ones spread among the kills."""
        faults = ["kill"] * self.args.kills
        for fault, count in (("redis", self.args.redis_restarts), ("postgres", self.args.postgres_restarts)):
            for _ in range(count):
                faults.insert(self.rng.randrange(1, len(faults) + 1), fault)
        return faults

    def kill_one(self, client: redis.Redis, keys: stream.StreamKeys, victims: list[str]) -> None:
        """SIGKILL one of the victims, preferably one holding partitions (at work), and start it again."""
        try:
            holders = {(client.get(p.lease) or b"").decode() for p in keys.partitions}
        except redis.RedisError:
            holders = set()
        name = self.rng.choice([name for name in victims if name in holders] or victims)
        # Most kills wait (up to 2 s) for a moment the victim holds read, unacknowledged entries: in the middle of a
        # batch, or between its commit and its acknowledgement. The others land wherever they land.
        deadline = time.monotonic() + (2.0 if self.rng.random() < 0.7 else 0.0)
        while not (in_hand := self._held(client, keys, name)) and time.monotonic() < deadline:
            time.sleep(0.01)
        self.processes[name].send_signal(signal.SIGKILL)  # no clean-up: mid-batch, or between commit and ack
        self.processes[name].wait()
        self.faults["kills"] += 1
        self.faults["kills_mid_batch"] += 1 if in_hand else 0
        self.start_process(name)  # the same name: it takes its partitions back and redoes what it held

    @staticmethod
    def _held(client: redis.Redis, keys: stream.StreamKeys, name: str) -> int:
        try:
            return held_by(client, keys, name)
        except redis.RedisError:
            return 0

    def restart_redis(self) -> None:
        self.redis.kill()
        time.sleep(self.rng.uniform(0.5, 2.0))
        self.redis.start()
        self.faults["redis_restarts"] += 1

    def restart_postgres(self) -> None:
        self.postgres.stop("immediate")  # no checkpoint, connections cut: crash recovery on start
        time.sleep(self.rng.uniform(0.5, 2.0))
        self.postgres.start()
        self.faults["postgres_restarts"] += 1

    def run(self) -> list[str]:
        args = self.args
        self.redis.start()
        self.postgres.init()
        upgrade(self.postgres.url)
        subprocess.run(
            [str(BIN / "flask"), "--app", "app", "demo"], cwd=ROOT, env=self.env(), check=True, capture_output=True
        )
        with psycopg.connect(self.dsn) as conn:
            shop_id = conn.execute("SELECT id FROM shops WHERE domain = %s", (DEMO_SHOP,)).fetchone()[0]
        customers = max(3, round(args.events / 1.45))  # about 1.45 inbox events per customer
        events, expected, topics = build_events(customers, self.rng)
        store(self.dsn, shop_id, events, topics)
        client = redis.Redis.from_url(self.redis.url)
        keys = stream.StreamKeys.for_namespace(NAMESPACE)
        # The relays inside the stream processes put the inbox on the stream (and are killed with them); the soak
        # adds what a re-delivering stream would: some events twice.
        redelivered = [event for event in events if self.rng.random() < 0.05]
        stream.publish_many(client, keys, redelivered)
        refunds = sum(1 for event in events if event.event_type == "refund_created")
        print(
            f"soak: {len(events):,} inbox events ({refunds:,} refunds), {len(redelivered):,} re-deliveries,"
            f" {customers:,} customers, {len(keys.partitions)} partitions, {args.processes} stream processes"
        )

        names = [f"soak-{n}" for n in range(args.processes)]
        for name in names:
            self.start_process(name)
        started = time.monotonic()
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while conn.execute("SELECT count(*) FROM processed_events").fetchone()[0] < args.batch_size:
                time.sleep(0.2)  # RSS at start: once the processes are loaded and working
            steady = names[0]  # never SIGKILLed: its memory over the whole soak
            rss_start = {name: rss_mb(self.processes[name].pid) for name in names}
            left = self._counter(conn)
            faults = self.schedule()
            while faults and left():
                time.sleep(self.rng.uniform(*args.pause))
                fault = faults.pop(0)
                if fault == "kill":
                    self.kill_one(client, keys, names[1:] or names)
                elif fault == "redis":
                    self.restart_redis()
                else:
                    self.restart_postgres()
                    conn = psycopg.connect(self.dsn, autocommit=True)
                    left = self._counter(conn)
            print(
                f"soak: faults in {time.monotonic() - started:.0f} s: {self.faults['kills']} SIGKILLs"
                f" ({self.faults['kills_mid_batch']} with a batch in hand), {self.faults['redis_restarts']} Redis"
                f" restarts, {self.faults['postgres_restarts']} PostgreSQL restarts; draining the rest"
            )
            failures = []
            while left() or self._pending(client, keys):
                if time.monotonic() - started > args.timeout:
                    failures.append(f"{left()} events still pending after {args.timeout} s")
                    break
                time.sleep(0.5)
            elapsed = time.monotonic() - started
            rss_end = {name: rss_mb(process.pid) for name, process in self.processes.items()}
            failures += self.check(conn, client, keys, events, expected, elapsed)
        print(
            f"soak: RSS of {steady} (never killed) {rss_start[steady]:.0f} MB at start, {rss_end[steady]:.0f} MB at"
            f" end; every process at end: " + ", ".join(f"{name} {rss_end[name]:.0f} MB" for name in names)
        )
        return failures

    def _counter(self, conn: psycopg.Connection[Any]) -> Callable[[], int]:
        def left() -> int:
            try:
                return conn.execute("SELECT count(*) FROM event_queue WHERE status = 'pending'").fetchone()[0]
            except psycopg.OperationalError:
                return 1  # the server is restarting: not done

        return left

    @staticmethod
    def _pending(client: redis.Redis, keys: stream.StreamKeys) -> int:
        try:
            return group_pending(client, keys)
        except redis.RedisError:
            return 1

    def check(
        self,
        conn: psycopg.Connection[Any],
        client: redis.Redis,
        keys: stream.StreamKeys,
        events: list[InboundEvent],
        expected: dict[str, int],
        elapsed: float,
    ) -> list[str]:
        failures = []
        processed, dead, rows = conn.execute(
            "SELECT count(*) FILTER (WHERE status = 'processed'), count(*) FILTER (WHERE status = 'dead'),"
            " count(*) FROM event_queue"
        ).fetchone()
        webhooks = conn.execute("SELECT count(*) FROM event_queue WHERE topic IS NOT NULL").fetchone()[0]
        claims = conn.execute(
            "SELECT count(*), count(DISTINCT event_id) FROM processed_events p"
            " WHERE EXISTS (SELECT 1 FROM event_queue q WHERE q.event_id = p.event_id AND q.topic IS NOT NULL)"
        ).fetchone()
        letters = conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0]
        points = dict(
            conn.execute(
                "SELECT p.customer_id, coalesce(sum(t.points), 0) FROM customer_loyalty_profiles p"
                " LEFT JOIN points_transactions t ON t.profile_id = p.id GROUP BY p.customer_id"
            ).fetchall()
        )
        ledger_total = conn.execute("SELECT coalesce(sum(points), 0) FROM points_transactions").fetchone()[0]
        drift = conn.execute(
            "SELECT count(*) FROM customer_loyalty_profiles p WHERE points_balance <>"
            " (SELECT coalesce(sum(points), 0) FROM points_transactions t WHERE t.profile_id = p.id)"
        ).fetchone()[0]
        orders = conn.execute("SELECT count(*), count(DISTINCT order_id) FROM orders").fetchone()
        pending = group_pending(client, keys)
        dead_stream = sum(client.xlen(partition.dead) for partition in keys.partitions)
        duplicates = sum(
            len(re.findall(r"outcome=duplicate", (self.logs / log).read_text(errors="replace")))
            for log in os.listdir(self.logs)
        )
        wrong = {c: (points.get(c, 0), want) for c, want in expected.items() if points.get(c, 0) != want}
        print(
            f"soak: {processed:,}/{rows:,} inbox events processed (incl. the app's own), {dead} dead,"
            f" {letters} dead letters ({dead_stream} in the streams); dedupe rows {claims[0]:,} for the"
            f" {webhooks:,} webhook events; {orders[1]:,} orders ({orders[0]:,} rows); {duplicates:,} re-deliveries"
            f" absorbed as duplicates; {pending} pending in the group"
        )
        print(
            f"soak: ledger total {ledger_total:,} points, expected {sum(expected.values()):,};"
            f" {len(wrong)} customers with the wrong points, {drift} balances off their entries;"
            f" {elapsed:.0f} s, {len(events) / elapsed:,.0f} events/s through every fault"
        )
        if processed != rows or dead or letters or dead_stream:
            failures.append("not every event processed exactly once without dead letters")
        if claims[0] != claims[1] or claims[1] != webhooks:
            failures.append("dedupe rows do not match the inbox one to one")
        if orders[0] != orders[1]:
            failures.append("an order was recorded twice")
        if wrong:
            failures.append(f"wrong points (got, expected): {dict(list(wrong.items())[:10])}")
        if ledger_total != sum(expected.values()):
            failures.append("the ledger total differs from the independent calculation")
        if drift:
            failures.append("stored balances differ from their entries")
        if pending:
            failures.append("messages left pending in the consumer group")
        return failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="inbox events, about")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--redis-restarts", type=int, default=2)
    parser.add_argument("--postgres-restarts", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--refeed-after", type=int, default=15, help="the stream processes' --refeed-after")
    parser.add_argument(
        "--retry-base-ms",
        type=int,
        default=1000,
        help="the stream processes' --retry-base-ms: a refund read before its order, then redelivered after many"
        " kills, waits base * 2^(deliveries-1) before its next try",
    )
    parser.add_argument(
        "--appendfsync", default="everysec", choices=("always", "everysec"), help="of the soak's own Redis"
    )
    parser.add_argument(
        "--pause",
        type=float,
        nargs=2,
        default=(1.0, 4.0),
        metavar=("MIN", "MAX"),
        help="seconds between faults, drawn at random",
    )
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--timeout", type=int, default=3600, help="seconds for the whole run")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="loyalty-soak-"))
    os.chmod(work, 0o755)  # the postgres user must reach its folder inside
    soak = Soak(args, work)
    failures: list[str] = []
    try:
        failures = soak.run()
    finally:
        soak.stop_processes()
        soak.redis.stop()
        try:
            soak.postgres.stop("fast")
        except subprocess.CalledProcessError:
            pass  # never started
    if failures:
        sys.exit("soak FAILED: " + "; ".join(failures) + f" (logs in {work / 'logs'})")
    shutil.rmtree(work, ignore_errors=True)
    print("soak passed")


if __name__ == "__main__":
    main()
