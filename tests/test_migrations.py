"""Migrations build an empty database up to the models exactly, and tear it down again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from app.migrations import downgrade, upgrade
from app.models import Base


@pytest.fixture
def empty_database(database_url: str) -> Iterator[str]:
    url = make_url(database_url)
    name = f"{url.database}_migrations"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def test_upgrade_builds_the_models_schema_and_downgrade_removes_it(empty_database: str) -> None:
    engine = create_engine(empty_database)
    try:
        upgrade(empty_database)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
            assert diff == [], f"models and migrations disagree: {diff}"
            triggers = (
                conn.execute(
                    text(
                        "SELECT tgname FROM pg_trigger"
                        " WHERE tgrelid = 'points_transactions'::regclass AND NOT tgisinternal ORDER BY tgname"
                    )
                )
                .scalars()
                .all()
            )
            # The ledger refuses updates and deletes; each entry may be a merchant's webhook (migration 0025).
            assert triggers == ["points_transactions_append_only", "points_transactions_stage_webhooks"]

        downgrade(empty_database, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}

        upgrade(empty_database)  # and up again: downgrade left nothing behind that blocks it
        assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def one_entry(db_session, shop, now, *, reason: str | None = None) -> None:  # type: ignore[no-untyped-def]
    """A committed 10-point entry for customer 1."""
    from app.loyalty import ledger

    profile = ledger.lock_profile(db_session, shop_id=shop.id, customer_id="1", now=now)
    ledger.post_entry(
        db_session,
        shop_id=shop.id,
        profile_id=profile.id,
        kind="earn",
        points=10,
        idempotency_key="k1",
        cause=ledger.Cause("system"),
        now=now,
        reason=reason,
    )
    db_session.commit()


def test_ledger_entries_cannot_be_updated_or_deleted(engine, shop, db_session, now) -> None:  # type: ignore[no-untyped-def]
    one_entry(db_session, shop, now)
    for statement in ("UPDATE points_transactions SET points = 1000", "DELETE FROM points_transactions"):
        with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
            conn.exec_driver_sql(statement)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT sum(points) FROM points_transactions").scalar_one() == 10


def test_gdpr_redaction_may_rewrite_only_an_entrys_free_text(engine, shop, db_session, now) -> None:  # type: ignore[no-untyped-def]
    one_entry(db_session, shop, now, reason="for Jon Snow")
    announce = "SET LOCAL loyalty.gdpr_redact = 'on'"
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        conn.exec_driver_sql("UPDATE points_transactions SET reason = '[redacted]'")  # not announced
    for statement in (
        "UPDATE points_transactions SET points = 1000, reason = '[redacted]'",
        "UPDATE points_transactions SET idempotency_key = 'other'",
    ):
        with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
            conn.exec_driver_sql(announce)
            conn.exec_driver_sql(statement)
    with engine.begin() as conn:
        conn.exec_driver_sql(announce)
        conn.exec_driver_sql("UPDATE points_transactions SET reason = '[redacted]'")
    with engine.connect() as conn:
        row = conn.exec_driver_sql("SELECT points, reason FROM points_transactions").one()
    assert tuple(row) == (10, "[redacted]")


# Migration 0024 makes reward names unique ignoring case; the revision before it.
CASELESS_REWARD_NAMES, BEFORE_CASELESS_REWARD_NAMES = "0024", "0023"


def test_reward_names_differing_only_in_case_are_renamed_then_unique_ignoring_case(empty_database: str) -> None:
    """A shop may hold "Free shipping" and "free shipping" from before: the oldest keeps its name, the others get the
    first free " (n)" (ignoring case as well, and within the column's 255 characters); another shop is left alone."""
    engine = create_engine(empty_database)
    long_name = "x" * 255
    names = ["Free shipping", "free shipping", "FREE SHIPPING", "Free shipping (2)", "Ten off", long_name, "X" * 255]
    try:
        upgrade(empty_database, BEFORE_CASELESS_REWARD_NAMES)
        with engine.begin() as conn:
            shop, other = conn.execute(
                text("INSERT INTO shops (domain) VALUES ('a.myshopify.com'), ('b.myshopify.com') RETURNING id")
            ).scalars()
            add = text(
                "INSERT INTO reward_definitions (shop_id, name, kind, points_cost)"
                " VALUES (:shop, :name, 'free_shipping', 10)"
            )
            for name in names:
                conn.execute(add, {"shop": shop, "name": name})
            conn.execute(add, {"shop": other, "name": "free shipping"})

        upgrade(empty_database, CASELESS_REWARD_NAMES)

        query = text("SELECT shop_id, name FROM reward_definitions ORDER BY id")
        with engine.connect() as conn:
            assert [tuple(row) for row in conn.execute(query)] == [
                (shop, "Free shipping"),
                (shop, "free shipping (3)"),
                (shop, "FREE SHIPPING (4)"),
                (shop, "Free shipping (2)"),
                (shop, "Ten off"),
                (shop, long_name),
                (shop, "X" * 251 + " (2)"),
                (other, "free shipping"),
            ]
        with pytest.raises(IntegrityError, match="uq_reward_definitions_shop_id_lower_name"), engine.begin() as conn:
            conn.execute(add, {"shop": shop, "name": "TEN OFF"})

        downgrade(empty_database, BEFORE_CASELESS_REWARD_NAMES)  # back to names unique by exact case; they stay
        with engine.connect() as conn:
            assert len(conn.execute(query).all()) == 8
    finally:
        engine.dispose()


# Migration 0026 stores the earned tier apart; the revision before it.
EARNED_TIER, BEFORE_EARNED_TIER = "0026", "0025"


def test_the_earned_tier_backfill_keeps_earned_tiers_and_rebuilds_those_an_override_hid(empty_database: str) -> None:
    """0026: a member with no override, or above it, earned the tier they are on; one on the tier set by hand gets
    what an override ending now would give (never above the tier they are on), reached now, reviewed at the period's
    end; with nothing earned, no tier and no dates."""
    engine = create_engine(empty_database)
    try:
        upgrade(empty_database, BEFORE_EARNED_TIER)
        with engine.begin() as conn:
            sql = conn.exec_driver_sql
            rolling = sql(
                "INSERT INTO shops (domain, tier_period, tier_basis) VALUES"
                " ('r.myshopify.com', 'rolling_12_months', 'amount_spent') RETURNING id"
            ).scalar_one()
            # A zone PostgreSQL does not know is UTC, as shop_zone reads it.
            yearly = sql(
                "INSERT INTO shops (domain, tier_period, timezone) VALUES"
                " ('y.myshopify.com', 'calendar_year', 'Nowhere/Atlantis') RETURNING id"
            ).scalar_one()
            tier = {}
            for shop_id in (rolling, yearly):
                for name, level, threshold in (("Silver", 1, 100), ("Gold", 2, 1000), ("Platinum", 3, 5000)):
                    tier[shop_id, name] = sql(
                        "INSERT INTO tier_definitions (shop_id, name, level, threshold) VALUES"
                        f" ({shop_id}, '{name}', {level}, {threshold}) RETURNING id"
                    ).scalar_one()

            def member(shop_id: int, customer_id: str, current: str, manual: str | None) -> int:
                manual_id = tier[shop_id, manual] if manual else "NULL"
                until = "now() + interval '1 month'" if manual else "NULL"
                return sql(
                    "INSERT INTO customer_loyalty_profiles (shop_id, customer_id, current_tier_id, tier_achieved_at,"
                    " tier_review_at, manual_tier_id, manual_tier_until) VALUES"
                    f" ({shop_id}, '{customer_id}', {tier[shop_id, current]}, '2026-01-05', '2026-07-05',"
                    f" {manual_id}, {until}) RETURNING id"
                ).scalar_one()

            plain = member(rolling, "1", "Gold", None)
            above = member(rolling, "2", "Gold", "Silver")
            hidden = member(rolling, "3", "Platinum", "Platinum")
            nothing = member(rolling, "4", "Platinum", "Platinum")
            last_year = member(yearly, "5", "Gold", "Gold")
            for order_id, profile_id, total, age in (
                ("o1", hidden, 400, "1 month"),  # in the window: Silver
                ("o2", hidden, 700, "13 months"),  # out of it
                ("o3", hidden, 9000, "2 months"),  # cancelled
            ):
                sql(
                    "INSERT INTO orders (shop_id, profile_id, order_id, total, subtotal, placed_at, cancelled_at)"
                    f" VALUES ({rolling}, {profile_id}, '{order_id}', {total}, {total}, now() - interval '{age}',"
                    f" {'now()' if order_id == 'o3' else 'NULL'})"
                )
            sql(
                "INSERT INTO points_transactions (shop_id, profile_id, kind, points, idempotency_key, cause_type,"
                f" created_at) VALUES ({yearly}, {last_year}, 'earn', 150, 'k1', 'system',"
                " date_trunc('year', now()) - interval '1 month')"
            )

        upgrade(empty_database, EARNED_TIER)
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT p.id, t.name, p.tier_achieved_at = '2026-01-05', p.tier_review_at,"
                " p.tier_review_at = (p.tier_achieved_at AT TIME ZONE 'UTC' + interval '12 months')"
                " AT TIME ZONE 'UTC',"  # a year after it was reached: the rolling window's review
                " p.tier_review_at = date_trunc('year', now() AT TIME ZONE 'UTC' + interval '1 year')"
                " AT TIME ZONE 'UTC'"  # the next new year: the calendar year's review
                " FROM customer_loyalty_profiles p LEFT JOIN tier_definitions t ON t.id = p.earned_tier_id"
            ).all()
        found = {row[0]: tuple(row[1:]) for row in rows}
        kept = datetime(2026, 7, 5, tzinfo=timezone.utc)
        assert found[plain] == ("Gold", True, kept, False, False)
        assert found[above] == ("Gold", True, kept, False, False)
        assert found[hidden][:2] == ("Silver", False) and found[hidden][3] is True
        assert found[nothing] == (None, None, None, None, None)
        assert found[last_year][:2] == ("Silver", False) and found[last_year][4] is True
    finally:
        engine.dispose()
