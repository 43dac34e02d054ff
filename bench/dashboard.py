"""Benchmark: the admin dashboard's aggregates on a shop with a million ledger entries (issue 9).

Run: python bench/dashboard.py [--entries N]

Creates a scratch database (loyalty_bench_<random>) next to DATABASE_URL (default: PostgreSQL on 127.0.0.1), migrates
it, and stores for the measured shop N ledger entries over 365 days for 50,000 members, 100,000 orders and 200,000
inbox events, plus a second shop with a fifth of that (the queries must not pay for it). It then times, best of 5:
- baseline: `SELECT count(*), sum(points)` over all of the shop's ledger entries (one pass over the shop's rows);
- the dashboard's figures (app.loyalty.reports.dashboard_figures) for the last 30 and the last 365 days;
- the points-per-day series (daily_points) for 30 days;
and prints each in milliseconds and as a ratio to the baseline. The scratch database is dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.loyalty import reports  # noqa: E402
from app.migrations import upgrade  # noqa: E402
from app.models import Shop  # noqa: E402

ADMIN_URL = os.environ.get("DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
MEMBERS = 50_000
NOW = datetime(2026, 11, 30, tzinfo=timezone.utc)

SEED = """
INSERT INTO shops (domain, installed_at) VALUES (:domain, now()) RETURNING id;
"""


def seed(session: Session, domain: str, entries: int) -> int:
    shop_id = session.execute(text(SEED), {"domain": domain}).scalar_one()
    members = max(entries // 20, 10)
    session.execute(
        text(
            "INSERT INTO customer_loyalty_profiles (shop_id, customer_id, email, last_activity_at)"
            " SELECT :shop, (7000000000000000000 + n)::text, 'm' || n || '@example.com',"
            " :now - (n % 90) * interval '1 day' FROM generate_series(1, :members) AS n"
        ),
        {"shop": shop_id, "members": members, "now": NOW},
    )
    first_profile = session.execute(
        text("SELECT min(id) FROM customer_loyalty_profiles WHERE shop_id = :shop"), {"shop": shop_id}
    ).scalar_one()
    session.execute(
        text(
            "INSERT INTO points_transactions (shop_id, profile_id, kind, points, idempotency_key, cause_type, actor,"
            " created_at)"
            " SELECT :shop, :first + (n % :members),"
            " CASE WHEN n % 10 < 7 THEN 'earn' WHEN n % 10 < 9 THEN 'redeem' ELSE 'expiry' END,"
            " CASE WHEN n % 10 < 7 THEN 10 + n % 200 ELSE -(5 + n % 50) END,"
            " 'bench:' || n, 'admin', 'bench', :now - (n % 365) * interval '1 day' - (n % 86400) * interval '1 second'"
            " FROM generate_series(1, :entries) AS n"
        ),
        {"shop": shop_id, "first": first_profile, "members": members, "entries": entries, "now": NOW},
    )
    session.execute(
        text(
            "INSERT INTO orders (shop_id, profile_id, order_id, total, subtotal, placed_at)"
            " SELECT :shop, CASE WHEN n % 3 = 0 THEN NULL ELSE :first + (n % :members) END, n::text,"
            " 20 + n % 300, 20 + n % 300, :now - (n % 365) * interval '1 day'"
            " FROM generate_series(1, :orders) AS n"
        ),
        {"shop": shop_id, "first": first_profile, "members": members, "orders": entries // 10, "now": NOW},
    )
    session.execute(
        text(
            "INSERT INTO event_queue (event_id, shop_id, event_type, payload, occurred_at, received_at, status,"
            " processed_at)"
            " SELECT gen_random_uuid(), :shop, 'order_created', '{}'::jsonb, :now - (n % 365) * interval '1 day',"
            " :now - (n % 365) * interval '1 day', 'processed', :now - (n % 365) * interval '1 day' + interval '2 s'"
            " FROM generate_series(1, :events) AS n"
        ),
        {"shop": shop_id, "events": entries // 5, "now": NOW},
    )
    session.commit()
    return shop_id


def best_of(runs: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    args = parser.parse_args()
    admin_url = make_url(ADMIN_URL)
    name = f"loyalty_bench_{secrets.token_hex(4)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        url = admin_url.set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        engine = create_engine(url)
        with Session(engine) as session:
            started = time.perf_counter()
            shop_id = seed(session, "bench.myshopify.com", args.entries)
            seed(session, "neighbour.myshopify.com", args.entries // 5)
            session.commit()
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")  # as autovacuum leaves a table at rest
            print(
                f"seeded {args.entries:,} ledger entries (+{args.entries // 5:,} of another shop) in "
                f"{time.perf_counter() - started:.1f} s",
                flush=True,
            )
            shop = session.get(Shop, shop_id)
            assert shop is not None
            baseline = best_of(
                5,
                lambda: session.execute(
                    text("SELECT count(*), sum(points) FROM points_transactions WHERE shop_id = :shop"),
                    {"shop": shop_id},
                ).one(),
            )
            figures = {
                "dashboard, 30 days": lambda: reports.dashboard_figures(
                    session, shop=shop, start=NOW - timedelta(days=30), end=NOW, now=NOW
                ),
                "dashboard, 365 days": lambda: reports.dashboard_figures(
                    session, shop=shop, start=NOW - timedelta(days=365), end=NOW, now=NOW
                ),
                "points per day, 30 days": lambda: reports.daily_points(
                    session, shop=shop, start=NOW - timedelta(days=30), end=NOW
                ),
            }
            print(f"baseline (one pass over the shop's {args.entries:,} entries): {baseline:.1f} ms")
            for label, work in figures.items():
                took = best_of(5, work)
                print(f"{label}: {took:.1f} ms = {took / baseline:.2f} x baseline")
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


if __name__ == "__main__":
    main()
