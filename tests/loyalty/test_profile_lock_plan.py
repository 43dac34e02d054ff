"""The batch lock of profiles (ledger.lock_profiles) finds each (shop, customer) pair through the unique index, also
on a profiles table younger than its statistics: a new install's backfill creates thousands of profiles before
autovacuum analyzes the table. With an index of (shop_id, email) the planner took that one for the lock and read every
profile of the shop for each pair (migration 0020): about 70 of a batch's 130 ms in the pipeline bench."""

from __future__ import annotations

import re

from psycopg import sql
from sqlalchemy import text

from app.loyalty.ledger.profiles import lock_profiles, release_profiles
from tests.loyalty.ledger_helpers import sent_statements


def test_the_lock_of_a_batch_reads_each_profile_by_its_key_on_a_young_table(db_session, shop, now) -> None:  # type: ignore[no-untyped-def]
    db_session.execute(text("ANALYZE customer_loyalty_profiles"))  # statistics of a table with next to no rows
    # Profiles as the consumer creates them for new customers: no email until a customer event brings one.
    db_session.execute(
        text(
            "INSERT INTO customer_loyalty_profiles (shop_id, customer_id, created_at, updated_at)"
            " SELECT :shop, n::text, :now, :now FROM generate_series(1, 5000) AS n"
        ),
        {"shop": shop.id, "now": now},
    )
    with sent_statements(db_session) as sent:
        held = lock_profiles(db_session, [(shop.id, str(n)) for n in range(1, 201)], now=now)
    assert len(held) == 200
    ((statement, parameters),) = [(sql, values) for sql, values in sent if "FOR UPDATE" in sql]
    connection = db_session.connection()
    # The consumer runs it as a prepared statement, which PostgreSQL soon plans once for any arrays (a generic plan,
    # blind to their length): that is the plan to look at.
    names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", statement)))
    for number, name in enumerate(names, start=1):
        statement = statement.replace(f"%({name})s", f"${number}")
    connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
    connection.exec_driver_sql("PREPARE lock_plan AS " + statement)
    # EXPLAIN takes no bound parameters: the arrays go in as literals.
    arguments = sql.SQL(", ").join(sql.Literal(parameters[name]) for name in names)
    explain = (
        sql.SQL("EXPLAIN EXECUTE lock_plan({})").format(arguments).as_string(connection.connection.driver_connection)
    )
    plan = "\n".join(row[0] for row in connection.exec_driver_sql(explain.replace("%", "%%")))
    connection.exec_driver_sql("DEALLOCATE lock_plan")
    release_profiles(db_session)
    assert "uq_customer_loyalty_profiles_shop_id_customer_id" in plan, plan
    assert "email" not in plan, plan
