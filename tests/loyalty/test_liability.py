"""Points liability: positive balances at the shop's redemption rate, pending apart, in Decimal cents."""

from __future__ import annotations

import uuid
from decimal import Decimal

from app.loyalty import ledger
from app.loyalty.ledger.liability import Liability, points_liability, points_value
from tests.loyalty.ledger_helpers import add_order, earn, profile, spend


def test_liability_counts_positive_balances_at_the_rate(db_session, make_shop, now):
    shop = make_shop(
        redemption_points_per_unit=Decimal(100), return_window_days=7, negative_balance_policy="allow", currency="EUR"
    )
    a, b, c = (profile(db_session, shop, now, customer_id=str(n)) for n in (1, 2, 3))
    earn(db_session, shop, a, 1234, "a", now)
    earn(db_session, shop, b, 1, "b", now)
    earn(db_session, shop, c, 500, "c", now, hold=True)
    # Customer 2 spends nothing but goes negative through a refund of an order larger than the balance.
    add_order(db_session, shop, b, "9", "10.00", now)
    earn(db_session, shop, b, 10, "b-order", now, order_id="9")

    spend(db_session, shop, b, 11, "spend", now)
    ledger.apply_cancellation(db_session, shop=shop, profile=b, order_id="9", event_id=uuid.uuid4(), now=now)
    result = points_liability(db_session, shop=shop)
    assert result == Liability(
        currency="EUR",
        points=1234,
        value=Decimal("12.34"),
        pending_points=500,
        pending_value=Decimal("5.00"),
        customers=1,
    )


def test_empty_shop_owes_nothing(db_session, shop):
    assert points_liability(db_session, shop=shop) == Liability("USD", 0, Decimal("0.00"), 0, Decimal("0.00"), 0)


def test_value_rounds_half_up_to_cents():
    assert points_value(1, Decimal(200)) == Decimal("0.01")  # 0.005 -> 0.01
    assert points_value(1, Decimal(300)) == Decimal("0.00")  # 0.0033 -> 0.00
    assert points_value(1000, Decimal("7.5")) == Decimal("133.33")
