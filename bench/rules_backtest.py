"""Benchmark: a backtest of a draft rule set over 100,000 stored events (issue 4: "must stay fast").

Run: python bench/rules_backtest.py [--events N] [--drafts N]

Creates a scratch database (loyalty_bench_<random>) next to DATABASE_URL (default: PostgreSQL on 127.0.0.1),
migrates it, stores N order events for 20,000 customers over 90 days, saves 10 live rules, then backtests
--drafts rules of mixed types from bench/rules.py against them and prints the time and events per second.
The scratch database is dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rules import CODES, COUNTRIES, SKUS, TAGS, build_rules  # noqa: E402
from sqlalchemy import create_engine, insert  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from app.loyalty import rulebook  # noqa: E402
from app.migrations import upgrade  # noqa: E402
from app.models import CustomerLoyaltyProfile, EventQueue, Shop  # noqa: E402

ADMIN_URL = os.environ.get("DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
START = datetime(2026, 1, 1, tzinfo=timezone.utc)
CUSTOMERS = 20_000


def seed(session: Session, rng: random.Random, events: int) -> Shop:
    """Store the shop, its customers, 10 live rules and `events` order events (1 in 10 from guests)."""
    now = START + timedelta(days=90)
    shop = Shop(domain="bench.myshopify.com", timezone="America/New_York", installed_at=START)
    session.add(shop)
    session.flush()
    session.execute(
        insert(CustomerLoyaltyProfile),
        [
            {
                "shop_id": shop.id,
                "customer_id": str(n),
                "tags": rng.sample(TAGS, rng.randint(0, 2)),
                "created_at": START,
                "updated_at": START,
            }
            for n in range(CUSTOMERS)
        ],
    )
    for rule, _ in build_rules(random.Random(1))[:10]:
        rulebook.save_rule(session, shop_id=shop.id, definition=rule, actor="bench", now=now)
    rows = []
    for n in range(events):
        customer = None if rng.random() < 0.1 else str(rng.randrange(CUSTOMERS))
        total = Decimal(min(rng.lognormvariate(4.2, 0.7), 5000)).quantize(Decimal("0.01"))
        payload = {
            "id": 10**12 + n,
            "total_price": str(total),
            "subtotal_price": str(total),
            "currency": "USD",
            "source_name": rng.choice(["web", "pos"]),
            "shipping_address": {"country_code": rng.choice(COUNTRIES)},
            "discount_codes": [{"code": rng.choice(CODES)}] if rng.random() < 0.25 else [],
            "line_items": [
                {
                    "sku": rng.choice(SKUS),
                    "quantity": rng.randint(1, 3),
                    "price": "20.00",
                    "product_id": rng.randint(1, 10**12),
                }
                for _ in range(rng.randint(1, 4))
            ],
        }
        when = START + timedelta(seconds=rng.randrange(90 * 86400))
        rows.append(
            {
                "event_id": uuid.uuid4(),
                "shop_id": shop.id,
                "event_type": "order_created",
                "customer_id": customer,
                "payload": payload,
                "occurred_at": when,
                "received_at": when,
                "status": "processed",
            }
        )
        if len(rows) == 5_000:
            session.execute(insert(EventQueue), rows)
            rows = []
    if rows:
        session.execute(insert(EventQueue), rows)
    session.commit()
    return shop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--drafts", type=int, default=20, help="draft rules (mixed types) to backtest")
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
            shop = seed(session, random.Random(4), args.events)
            print(f"seeded {args.events:,} events in {time.perf_counter() - started:.1f} s", flush=True)
            drafts = [rule for rule, _ in build_rules(random.Random(2))[: args.drafts]]

            def progress(done: int, total: int) -> None:
                print(f"\r{done:,}/{total:,} events", end="\n" if done >= total else "", file=sys.stderr, flush=True)

            result = rulebook.backtest(
                session, shop=shop, drafts=drafts, start=START, end=START + timedelta(days=90), progress=progress
            )
            session.rollback()
        engine.dispose()
        print(
            f"backtest: {result.events:,} events x 2 rule sets ({len(drafts)} drafts + 10 live) in "
            f"{result.seconds:.2f} s = {result.events / result.seconds:,.0f} events/s"
        )
        print(
            f"points {result.points:,} vs {result.baseline_points:,} live ({result.points_change:+,}); "
            f"customers affected {result.customers_affected:,}; liability change {result.liability_change:+} "
            f"{result.currency}"
        )
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


if __name__ == "__main__":
    main()
