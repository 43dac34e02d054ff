"""The inbox archive: processed rows older than the cutoff leave the hot event_queue for event_queue_archive, and
the event_history view (what backtests and history queries read) still has every one of them."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from sqlalchemy import Table, func, select, text, update

from app.events import inbox
from app.loyalty.rulebook.history import stored_events
from app.models import EventQueue, EventQueueArchive, event_history
from tests.worker_fixtures import run_next_task


def test_old_processed_rows_move_to_the_archive_and_stay_readable_through_event_history(  # type: ignore[no-untyped-def]
    accept_order, session_factory, shop
) -> None:
    now = datetime.now(timezone.utc)
    old_processed, old_pending, old_dead, young_processed = (accept_order(n, customer_id=4000 + n) for n in range(4))
    with session_factory.begin() as session:
        for event, status, age in (
            (old_processed, "processed", 40),
            (old_pending, "pending", 40),
            (old_dead, "dead", 40),
            (young_processed, "processed", 1),
        ):
            session.execute(
                update(EventQueue)
                .where(EventQueue.event_id == event.event_id)
                .values(status=status, received_at=now - timedelta(days=age), processed_at=now - timedelta(days=age))
            )
        [before] = session.execute(select(EventQueue).where(EventQueue.event_id == old_processed.event_id)).scalars()
        kept = {column.name: getattr(before, column.key) for column in EventQueue.__table__.columns}

    with session_factory.begin() as session:
        assert inbox.archive_processed(session, older_than=now - timedelta(days=30)) == 1
    with session_factory.begin() as session:
        assert inbox.archive_processed(session, older_than=now - timedelta(days=30)) == 0  # nothing left to move

    with session_factory() as session:
        hot = set(session.execute(select(EventQueue.event_id)).scalars())
        assert hot == {old_pending.event_id, old_dead.event_id, young_processed.event_id}
        [archived] = session.execute(select(EventQueueArchive)).scalars()
        assert {column.name: getattr(archived, column.key) for column in EventQueueArchive.__table__.columns} == kept
        assert session.execute(select(func.count()).select_from(event_history)).scalar_one() == 4
        # The backtests' query path finds the archived order where it happened.
        replayed = session.execute(stored_events(shop.id, now - timedelta(days=400), now + timedelta(days=1))).all()
        assert old_processed.event_id in {row.event_id for row in replayed}
        assert old_dead.event_id not in {row.event_id for row in replayed}


def age_as_processed(session_factory, event_id, days: int) -> None:  # type: ignore[no-untyped-def]
    """Mark the inbox row of `event_id` processed, received and processed `days` ago."""
    at = datetime.now(timezone.utc) - timedelta(days=days)
    with session_factory.begin() as session:
        session.execute(
            update(EventQueue)
            .where(EventQueue.event_id == event_id)
            .values(status="processed", received_at=at, processed_at=at)
        )


def test_an_event_id_already_archived_that_came_back_is_archived_again_without_a_conflict(  # type: ignore[no-untyped-def]
    accept_order, inbox_connection, session_factory
) -> None:
    """Once a row left the hot table, a re-delivery of its event id is a new inbox row; when that one is archived
    too, the archive keeps the first and the hot row still goes, so the next run does not fail on event_id forever."""
    cutoff = datetime.now(timezone.utc) - timedelta(days=30)
    event = accept_order(1)
    age_as_processed(session_factory, event.event_id, 40)
    with session_factory.begin() as session:
        assert inbox.archive_processed(session, older_than=cutoff) == 1
        [first_id] = session.execute(select(EventQueueArchive.id)).scalars()

    again = inbox.record_event(
        inbox_connection, event, topic="orders/create", webhook_id="again", payload_json=json.dumps(event.event_data)
    )
    assert again  # the hot table no longer has the event id: the re-delivery is a new row
    with session_factory() as session:
        # Until it is archived in its turn, history shows the event once: the archived row, the one applied.
        shown = session.execute(select(event_history.c.id).where(event_history.c.event_id == event.event_id)).all()
        assert shown == [(first_id,)]
    other = accept_order(2)
    age_as_processed(session_factory, event.event_id, 35)
    age_as_processed(session_factory, other.event_id, 35)

    with session_factory.begin() as session:
        assert inbox.archive_processed(session, older_than=cutoff) == 2  # both left the hot table
    with session_factory() as session:
        assert session.execute(select(func.count()).select_from(EventQueue)).scalar_one() == 0
        archived = dict(session.execute(select(EventQueueArchive.event_id, EventQueueArchive.id)).all())
        assert archived[event.event_id] == first_id  # the first archived row is the one kept
        assert set(archived) == {event.event_id, other.event_id}


def test_the_hourly_task_moves_every_old_processed_row_a_chunk_per_transaction(  # type: ignore[no-untyped-def]
    worker, accept_order, inbox_connection, session_factory, monkeypatch
) -> None:
    """archive_inbox run as the worker runs it: with one row per chunk, it goes on past a repeated event id (a chunk
    that archived nothing new still emptied its rows from event_queue) until every old processed row has moved."""
    from app.tasks import sweeps

    monkeypatch.setattr(sweeps, "ARCHIVE_CHUNK", 1)
    repeated = accept_order(1)
    age_as_processed(session_factory, repeated.event_id, 40)
    with session_factory.begin() as session:
        assert inbox.archive_processed(session, older_than=datetime.now(timezone.utc) - timedelta(days=30)) == 1
    inbox.record_event(
        inbox_connection, repeated, topic="orders/create", webhook_id=None, payload_json=json.dumps(repeated.event_data)
    )
    old, young = accept_order(2), accept_order(3)
    for event, days in ((repeated, 40), (old, 31), (young, 29)):
        age_as_processed(session_factory, event.event_id, days)

    sweeps.archive_inbox()
    assert run_next_task(worker) == "archive_inbox"

    with session_factory() as session:
        assert set(session.execute(select(EventQueue.event_id)).scalars()) == {young.event_id}
        archived = set(session.execute(select(EventQueueArchive.event_id)).scalars())
        assert archived == {repeated.event_id, old.event_id}


def test_the_archive_has_every_column_of_the_inbox_with_the_same_type(engine) -> None:  # type: ignore[no-untyped-def]
    """Rows move whole (archive_processed names every column of the model): in the models and in the migrated
    database alike, the two tables may differ only in defaults."""

    def modelled(table: Table) -> set[tuple[str, str, bool]]:
        return {(column.name, str(column.type), bool(column.nullable)) for column in table.columns}

    assert modelled(EventQueueArchive.__table__) == modelled(EventQueue.__table__)
    migrated = text(
        "SELECT column_name, data_type, character_maximum_length, is_nullable FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = :table"
    )
    with engine.connect() as connection:
        inbox_columns, archive_columns = (
            set(connection.execute(migrated, {"table": table}).all())
            for table in ("event_queue", "event_queue_archive")
        )
    assert archive_columns == inbox_columns
    assert len(inbox_columns) == len(EventQueue.__table__.columns)
