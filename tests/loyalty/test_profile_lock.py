"""L11 (DESIGN ledger invariant 6): each event locks its customer's profile row before rules see history.

Two order events of one customer race on two real PostgreSQL connections, in a window that is made, not hoped
for: event A is held right after it has read (and so locked) the profile, event B is started, and A is let go only
once PostgreSQL reports B waiting for A, or B has finished. With the lock B always waits; without it B runs through
the rules while A is held.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from app.commands.demo import FIRST_ORDER_BONUS
from app.loyalty import rulebook
from app.loyalty.base.inbound import InboundEvent
from app.loyalty.base.outcome import Outcome
from app.loyalty.processing.event import process_event
from app.models import PointsTransaction, Shop
from tests.helpers import order_payload

CUSTOMER = 115310627314723954
# The same bonus with "first" read from the customer's order count instead of the event history: the count lives on
# the profile row, which only the lock keeps current for the second event.
FIRST_ORDER_BY_COUNT = {
    **FIRST_ORDER_BONUS,
    "conditions": {
        "operator": "and",
        "conditions": [
            {"type": "order_total", "operator": ">=", "value": 100},
            {"type": "customer_order_count", "value": 1},
        ],
    },
}
WAIT_S = 30


class HoldAfterProfileRead:
    """A cursor hook that holds its connection right after the first SELECT of a customer profile, until released.

    In process_event that SELECT is lock_profile's; nothing between it and the order's insert writes the profile
    row when the customer is already known, so while held, the row lock is the only thing that can stop another
    event of the customer.
    """

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.released = threading.Event()

    def __call__(self, conn: Connection, cursor: Any, statement: str, *args: Any) -> None:
        is_profile_read = statement.lstrip().startswith("SELECT") and "FROM customer_loyalty_profiles" in statement
        if is_profile_read and not self.reached.is_set():
            self.reached.set()
            self.released.wait(WAIT_S)


@dataclass
class EventRun:
    """One event applied in its own thread, transaction and connection."""

    pid: int | None = None
    outcome: Outcome | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


def apply_in_thread(
    sessions: sessionmaker[Session], inbound: InboundEvent, now: datetime, hook: Callable[..., None] | None = None
) -> tuple[EventRun, threading.Thread]:
    run = EventRun()

    def work() -> None:
        try:
            with sessions.begin() as session:
                connection = session.connection()
                run.pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
                if hook is not None:
                    event.listen(connection, "after_cursor_execute", hook)
                run.outcome = process_event(session, inbound, consumer_group="test", now=now)
        except BaseException as exc:  # noqa: BLE001 - reported by the test's assertions
            run.error = exc
        finally:
            run.done.set()

    thread = threading.Thread(target=work)
    thread.start()
    return run, thread


def waits_for(engine: Engine, waiter: EventRun, holder_pid: int) -> bool:
    """True once PostgreSQL reports `waiter` blocked by `holder_pid`; False if `waiter` finishes first."""
    deadline = time.monotonic() + WAIT_S
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            if waiter.done.is_set():
                return False
            if waiter.pid is not None:
                blockers = conn.execute(text("SELECT pg_blocking_pids(:pid)"), {"pid": waiter.pid}).scalar_one()
                if holder_pid in blockers:
                    return True
            time.sleep(0.005)
    raise AssertionError(f"the second event neither finished nor waited for the first within {WAIT_S}s")


def order_event(shop: Shop, order_id: int) -> InboundEvent:
    return InboundEvent(
        event_id=uuid.uuid4(),
        event_type="order_created",
        shop_domain=shop.domain,
        customer_id=str(CUSTOMER),
        timestamp=datetime(2026, 3, 2, 15, tzinfo=timezone.utc),
        event_data=order_payload(order_id=order_id, customer_id=CUSTOMER, total="150.00"),
    )


def known_customer(sessions: sessionmaker[Session], shop: Shop, now: datetime) -> None:
    """customers/create arrived first: the profile exists with the contact fields the orders carry."""
    customer = order_payload(customer_id=CUSTOMER)["customer"]
    with sessions.begin() as session:
        process_event(
            session,
            InboundEvent(uuid.uuid4(), "customer_created", shop.domain, str(CUSTOMER), now, customer),
            consumer_group="test",
            now=now,
        )


@pytest.mark.parametrize(
    "rule", [FIRST_ORDER_BONUS, FIRST_ORDER_BY_COUNT], ids=["frequency_order_created", "customer_order_count"]
)
def test_two_first_orders_racing_earn_one_bonus_for_the_order_that_locked_first(
    db_session: Session,
    session_factory: sessionmaker[Session],
    engine: Engine,
    shop: Shop,
    now: datetime,
    rule: dict[str, Any],
) -> None:
    rulebook.save_rule(db_session, shop_id=shop.id, definition=rule, actor="admin@shop", now=now)
    db_session.commit()
    known_customer(session_factory, shop, now)

    hold = HoldAfterProfileRead()
    first, first_thread = apply_in_thread(session_factory, order_event(shop, 1001), now, hook=hold)
    assert hold.reached.wait(WAIT_S), "the first event never read the profile"
    assert first.pid is not None
    second, second_thread = apply_in_thread(session_factory, order_event(shop, 1002), now)
    second_waited = waits_for(engine, second, first.pid)
    hold.released.set()
    first_thread.join(WAIT_S)
    second_thread.join(WAIT_S)

    assert (first.error, second.error) == (None, None)
    bonuses = db_session.execute(
        select(PointsTransaction.source_id, PointsTransaction.points).where(PointsTransaction.rule_id.is_not(None))
    ).all()
    assert sorted(tuple(row) for row in bonuses) == [("1001", 500)]
    assert second_waited, "the second event went through the rules while the first held the profile"
