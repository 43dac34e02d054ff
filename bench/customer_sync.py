"""Benchmark: what staging the customer sync costs a balance change, against the same change without it, same run.

Migration 0003's trigger upserts the customer's `customer.sync` outbox row whenever a profile's balance, pending
points or tier changes. This times transactions that each change one profile's balance (as each event's transaction
does), with the trigger enabled and disabled, in alternating rounds on one scratch database, and prints the ratio
(enabled / disabled; 1.0 = free). Also prints how many outbox rows a burst leaves: one per customer, not one per change.

Needs PostgreSQL (BENCH_DATABASE_URL, default 127.0.0.1). Run: python bench/customer_sync.py [--changes 3000]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

import psycopg
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.migrations import upgrade  # noqa: E402

TRIGGER = "customer_loyalty_profiles_stage_sync"
CUSTOMERS = 50


def changes_per_second(conn: psycopg.Connection, profile_ids: list[int], count: int) -> float:
    """`count` transactions, each adding a point to one profile (round robin), committed one by one."""
    started = time.perf_counter()
    for index in range(count):
        conn.execute(
            "UPDATE customer_loyalty_profiles SET points_balance = points_balance + 1 WHERE id = %s",
            (profile_ids[index % len(profile_ids)],),
        )
        conn.commit()
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=3000, help="balance changes per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    admin_url = make_url(os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    database = f"loyalty_bench_sync_{secrets.token_hex(4)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{database}"')
    url = admin_url.set(database=database)
    try:
        upgrade(url.render_as_string(hide_password=False))
        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(dsn) as conn:
            shop_id = conn.execute(
                "INSERT INTO shops (domain, installed_at) VALUES ('bench.myshopify.com', now()) RETURNING id"
            ).fetchone()[0]
            profile_ids = [
                conn.execute(
                    "INSERT INTO customer_loyalty_profiles (shop_id, customer_id) VALUES (%s, %s) RETURNING id",
                    (shop_id, str(10_000_000 + index)),
                ).fetchone()[0]
                for index in range(CUSTOMERS)
            ]
            conn.commit()
            with_trigger, without = [], []
            for _ in range(args.rounds):
                conn.execute(f"ALTER TABLE customer_loyalty_profiles DISABLE TRIGGER {TRIGGER}")
                conn.commit()
                without.append(changes_per_second(conn, profile_ids, args.changes))
                conn.execute(f"ALTER TABLE customer_loyalty_profiles ENABLE TRIGGER {TRIGGER}")
                conn.commit()
                with_trigger.append(changes_per_second(conn, profile_ids, args.changes))
            rows = conn.execute("SELECT count(*) FROM outbox WHERE kind = 'customer.sync'").fetchone()[0]
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.dispose()

    base, staged = statistics.median(without), statistics.median(with_trigger)
    print(f"balance changes/s without the sync trigger (baseline): {base:,.0f}")
    print(f"balance changes/s with the sync trigger:               {staged:,.0f}")
    print(f"ratio (with / without): {staged / base:.2f}")
    print(f"outbox rows after {args.changes * args.rounds:,} changes of {CUSTOMERS} customers: {rows}")


if __name__ == "__main__":
    main()
