"""app.loyalty.base.bulk on real PostgreSQL: a value longer than its column is refused, never cut to fit.

A cast of the array parameter to VARCHAR(64)[] would cut it without a word (SQL's rule for explicit casts): an order
id or idempotency key cut to its column's length could become another row's, and the batch would skip it as a
duplicate."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DataError

from app.loyalty.base.bulk import insert_rows, update_rows
from app.models import Order

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)


def order_row(shop_id: int, order_id: str, name: str = "#1001") -> dict[str, object]:
    return {
        "shop_id": shop_id,
        "order_id": order_id,
        "name": name,
        "total": Decimal("1.00"),
        "subtotal": Decimal("1.00"),
        "placed_at": NOW,
        "created_at": NOW,
    }


def test_insert_rows_refuses_a_value_longer_than_its_column(db_session, shop) -> None:  # type: ignore[no-untyped-def]
    first = "1" * 65  # "1" * 64, another order's id, once cut to VARCHAR(64)
    with pytest.raises(DataError, match="value too long for type character varying\\(64\\)"):
        insert_rows(db_session, Order.__table__, [order_row(shop.id, first)], conflict=("shop_id", "order_id"))
    db_session.rollback()
    assert db_session.execute(select(Order)).scalars().all() == []
    written = insert_rows(
        db_session, Order.__table__, [order_row(shop.id, "1" * 64)], returning=("order_id",), conflict=()
    )
    assert written == [("1" * 64,)]


def test_update_rows_refuses_a_value_longer_than_its_column(db_session, shop) -> None:  # type: ignore[no-untyped-def]
    insert_rows(db_session, Order.__table__, [order_row(shop.id, "1001")])
    db_session.commit()
    with pytest.raises(DataError, match="value too long for type character varying\\(64\\)"):
        update_rows(
            db_session,
            Order.__table__,
            [{"shop_id": shop.id, "order_id": "1001", "name": "n" * 65}],
            match=("shop_id", "order_id"),
        )
    db_session.rollback()
    assert db_session.execute(select(Order.name)).scalar_one() == "#1001"
