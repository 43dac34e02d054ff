"""Migrations build an empty database up to the models exactly, and tear it down again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

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
                        " WHERE tgrelid = 'points_transactions'::regclass AND NOT tgisinternal"
                    )
                )
                .scalars()
                .all()
            )
            assert triggers == ["points_transactions_append_only"]

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
