"""ix_event_queue_queued_orders is only as good as its agreement with three other spellings of "an order event still
queued": ORDER_EVENT_TYPES, the migration that built it, and lifecycle._wait_for_order's query. Any of them drifting
leaves every refund of an unrecorded order reading the payload of every queued order of the shop; these tests fail
instead (real PostgreSQL)."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from psycopg import sql
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from app.loyalty.base.inbound import ORDER_EVENT_TYPES, InboundEvent
from app.loyalty.base.outcome import Outcome, RetryLater
from app.loyalty.processing.lifecycle import handle_refund
from app.models import EventQueue
from app.models.events import WAITING_ORDERS

INDEX = "ix_event_queue_queued_orders"


def index_definition(session: Session) -> str:
    query = text("SELECT indexdef FROM pg_indexes WHERE indexname = :name")
    return session.execute(query, {"name": INDEX}).scalar_one()


def test_the_predicate_names_exactly_the_order_event_types() -> None:
    [listed] = re.findall(r"event_type IN \(([^)]*)\)", WAITING_ORDERS)
    assert set(re.findall(r"'([^']*)'", listed)) == ORDER_EVENT_TYPES


def test_the_migrated_index_is_the_one_the_model_declares(db_session: Session) -> None:
    """Built once by the migrations (the test database) and once by SQLAlchemy from the model, in a transaction that
    is rolled back: PostgreSQL's own rendering of the two must be the same."""
    migrated = index_definition(db_session)
    [declared] = [index for index in EventQueue.__table__.indexes if index.name == INDEX]
    try:
        db_session.execute(text(f"DROP INDEX {INDEX}"))
        declared.create(db_session.connection())
        assert index_definition(db_session) == migrated
    finally:
        db_session.rollback()
    assert "WHERE" in migrated and "payload ->> 'id'" in migrated


@pytest.fixture
def queued_order_id(db_session: Session, shop) -> str:  # type: ignore[no-untyped-def]
    """The id of a queued order, in a shop whose inbox holds 19,800 processed order events and 200 queued ones,
    analysed as autovacuum would: the planner sees an inbox of mostly history, as in production."""
    db_session.execute(
        text(
            "INSERT INTO event_queue (event_id, shop_id, event_type, payload, occurred_at, status)"
            " SELECT gen_random_uuid(), :shop, (CAST(:types AS text[]))[1 + n % :type_count],"
            " jsonb_build_object('id', n), now(), CASE WHEN n % 100 = 0 THEN 'pending' ELSE 'processed' END"
            " FROM generate_series(1, 20000) AS n"
        ),
        {"shop": shop.id, "types": sorted(ORDER_EVENT_TYPES), "type_count": len(ORDER_EVENT_TYPES)},
    )
    db_session.commit()
    db_session.execute(text("ANALYZE event_queue"))
    db_session.commit()
    return "5000"


def test_the_wait_for_an_order_probes_the_index(db_session: Session, shop, now, queued_order_id) -> None:  # type: ignore[no-untyped-def]
    """The statement a refund of an unrecorded order runs, as it ran (parameters included), is planned on the index."""
    statements: list[tuple[str, object]] = []

    def capture(_connection, _cursor, statement, parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        if "FROM event_queue" in statement:
            statements.append((statement, parameters))

    refund = InboundEvent(
        event_id=uuid.uuid4(),
        event_type="refund_created",
        shop_domain=shop.domain,
        customer_id=None,
        timestamp=now - timedelta(minutes=1),
        event_data={"id": 1, "order_id": int(queued_order_id)},
    )
    engine = db_session.get_bind()
    event.listen(engine, "before_cursor_execute", capture)
    try:
        with pytest.raises(RetryLater, match=f"order {queued_order_id} has not been processed yet"):
            handle_refund(db_session, shop, refund, now, Outcome(str(refund.event_id), refund.event_type))
    finally:
        event.remove(engine, "before_cursor_execute", capture)
        db_session.rollback()

    [(statement, parameters)] = statements
    plan = db_session.connection().exec_driver_sql(f"EXPLAIN {statement}", parameters).scalars().all()
    db_session.rollback()
    assert any(INDEX in line for line in plan), "\n".join(plan)

    # And as a generic plan, which PostgreSQL may settle on for a statement psycopg has prepared: the values are
    # unknowns then, so only what the query spells as literals can prove the index's predicate.
    assert isinstance(parameters, dict)
    names = list(parameters)
    numbered = re.sub(r"%\((.*?)\)s", lambda found: f"${names.index(found.group(1)) + 1}", statement)
    connection = db_session.connection()
    connection.exec_driver_sql(f"PREPARE waiting_order AS {numbered}")
    connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
    # As literals: EXECUTE's own parameters would have no type to be read as.
    raw = connection.connection.dbapi_connection
    arguments = ", ".join(sql.Literal(parameters[name]).as_string(raw) for name in names)
    generic = connection.exec_driver_sql(f"EXPLAIN EXECUTE waiting_order({arguments})").scalars().all()
    db_session.rollback()
    assert any(INDEX in line for line in generic), "\n".join(generic)
