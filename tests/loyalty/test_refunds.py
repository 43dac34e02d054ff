"""Refunds and cancellations take back what the order earned, in proportion, once per refund (real PostgreSQL)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.loyalty import ledger
from app.loyalty.base.errors import InvalidInput
from app.models import (
    LedgerReversal,
    Order,
    PendingCredit,
    PointsLot,
    RedemptionLog,
    RewardDefinition,
)
from tests.loyalty.ledger_helpers import (
    add_order,
    assert_sound,
    earn,
    entries,
    profile,
    refund,
    spend,
    stored,
)


def credit_id(db_session, prof, key: str) -> int:
    return next(e.id for e in entries(db_session, prof.id) if e.idempotency_key == key)


@pytest.fixture
def earned_order(db_session, shop, now):
    """Customer 1001 with order 5001 (subtotal 100.00) that earned 100 + 33 points under two rule actions."""
    prof = profile(db_session, shop, now)
    add_order(db_session, shop, prof, "5001", "110.00", now, subtotal="100.00")
    earn(db_session, shop, prof, 100, "rule:1:a0:order:5001", now, order_id="5001")
    earn(db_session, shop, prof, 33, "rule:2:a0:order:5001", now, order_id="5001")
    return prof


def test_partial_refund_takes_back_the_floor_of_its_share(db_session, shop, now, earned_order):
    result = refund(db_session, shop, earned_order, "5001", "r1", "25.00", now)
    # floor(133 * 25/100) = 33, taken from the oldest credit first.
    assert (result.points_claimed, result.points_reversed, result.shortfall, result.duplicate) == (33, 33, 0, False)
    first_credit = credit_id(db_session, earned_order, "rule:1:a0:order:5001")
    assert [(e.kind, e.points, e.reverses_id) for e in result.entries] == [("reversal", -33, first_credit)]
    assert stored(db_session, earned_order.id).points_balance == 100
    row = db_session.execute(select(Order)).scalar_one()
    db_session.refresh(row)
    assert (row.points_earned, row.points_reversed, row.refunded_amount) == (133, 33, Decimal("25.00"))
    assert_sound(db_session, shop)


def test_the_same_refund_twice_takes_back_once(db_session, shop, now, earned_order):
    refund(db_session, shop, earned_order, "5001", "r1", "50.00", now)
    again = refund(db_session, shop, earned_order, "5001", "r1", "50.00", now)
    assert again == ledger.ReversalResult(order_found=True, duplicate=True)
    assert stored(db_session, earned_order.id).points_balance == 133 - 66
    assert len(db_session.execute(select(LedgerReversal)).all()) == 1


def test_partial_refunds_then_the_rest_take_back_exactly_what_was_earned(db_session, shop, now, earned_order):
    taken = [refund(db_session, shop, earned_order, "5001", f"r{i}", "33.33", now).points_claimed for i in range(3)]
    last = refund(db_session, shop, earned_order, "5001", "r3", "0.01", now)
    # cumulative floors: floor(133*.3333)=44, floor(133*.6666)=88, floor(133*.9999)=132, then the last point.
    assert taken == [44, 44, 44] and last.points_claimed == 1
    assert stored(db_session, earned_order.id).points_balance == 0
    more = refund(db_session, shop, earned_order, "5001", "r4", "10.00", now)
    assert more.points_claimed == 0 and more.entries == ()
    reversed_by_entry = {}
    for entry in entries(db_session, earned_order.id):
        if entry.kind == "reversal":
            reversed_by_entry[entry.reverses_id] = reversed_by_entry.get(entry.reverses_id, 0) - entry.points
    credits = [credit_id(db_session, earned_order, key) for key in ("rule:1:a0:order:5001", "rule:2:a0:order:5001")]
    assert reversed_by_entry == {credits[0]: 100, credits[1]: 33}  # L8: never more than each credit
    assert_sound(db_session, shop)


def test_refund_prorates_from_what_the_order_earned_not_from_later_credits_of_other_orders(
    db_session, shop, now, earned_order
):
    add_order(db_session, shop, earned_order, "5002", "100.00", now)
    earn(db_session, shop, earned_order, 1000, "rule:1:a0:order:5002", now, order_id="5002")
    result = refund(db_session, shop, earned_order, "5001", "r1", "100.00", now)
    assert result.points_claimed == 133
    assert stored(db_session, earned_order.id).points_balance == 1000


def test_total_basis_compares_with_the_order_total(db_session, shop, now, earned_order):
    result = refund(db_session, shop, earned_order, "5001", "r1", "55.00", now, basis="total")
    assert result.points_claimed == 66  # floor(133 * 55/110)


def test_cancellation_takes_back_whatever_is_left(db_session, shop, now, earned_order):
    refund(db_session, shop, earned_order, "5001", "r1", "50.00", now)
    result = ledger.apply_cancellation(
        db_session, shop=shop, profile=earned_order, order_id="5001", event_id=uuid.uuid4(), now=now
    )
    assert result.points_claimed == 133 - 66
    again = ledger.apply_cancellation(
        db_session, shop=shop, profile=earned_order, order_id="5001", event_id=uuid.uuid4(), now=now
    )
    assert again.duplicate is True
    row = db_session.execute(select(Order)).scalar_one()
    db_session.refresh(row)
    assert row.cancelled_at == now and row.points_reversed == 133
    assert stored(db_session, earned_order.id).points_balance == 0
    assert_sound(db_session, shop)


def test_cap_policy_stops_at_zero_and_records_the_shortfall(db_session, shop, now, earned_order):
    spend(db_session, shop, earned_order, 120, "spend", now)
    result = refund(db_session, shop, earned_order, "5001", "r1", "100.00", now)
    assert (result.points_claimed, result.points_reversed, result.shortfall) == (133, 13, 120)
    assert [(e.points, e.shortfall) for e in result.entries] == [(-13, 87)]
    assert stored(db_session, earned_order.id).points_balance == 0
    request = db_session.execute(select(LedgerReversal)).scalar_one()
    assert (request.points_claimed, request.points_reversed, request.shortfall) == (133, 13, 120)
    assert_sound(db_session, shop)


def test_a_fully_capped_reversal_is_recorded_without_an_entry(db_session, shop, now, earned_order):
    spend(db_session, shop, earned_order, 133, "spend", now)
    result = refund(db_session, shop, earned_order, "5001", "r1", "50.00", now)
    assert (result.points_claimed, result.points_reversed, result.shortfall, result.entries) == (66, 0, 66, ())
    request = db_session.execute(select(LedgerReversal)).scalar_one()
    assert (request.refund_id, request.shortfall, request.amount) == ("r1", 66, Decimal("50.00"))
    # The forgiven claim counts as taken back: the rest of the order is all a later full refund may claim.
    assert refund(db_session, shop, earned_order, "5001", "r2", "50.00", now).points_claimed == 67
    assert stored(db_session, earned_order.id).points_balance == 0
    assert_sound(db_session, shop)


def test_allow_policy_goes_negative_and_later_credits_repay_first(db_session, make_shop, now):
    shop = make_shop(negative_balance_policy="allow")
    prof = profile(db_session, shop, now)
    add_order(db_session, shop, prof, "5001", "100.00", now)
    earn(db_session, shop, prof, 100, "rule:1:a0:order:5001", now, order_id="5001")
    spend(db_session, shop, prof, 80, "spend", now)
    result = refund(db_session, shop, prof, "5001", "r1", "100.00", now)
    assert (result.points_reversed, result.shortfall) == (100, 0)
    assert stored(db_session, prof.id).points_balance == -80
    assert_sound(db_session, shop)  # lots sum to max(balance, 0) = 0
    earn(db_session, shop, prof, 50, "later", now)
    assert stored(db_session, prof.id).points_balance == -30
    assert_sound(db_session, shop)
    earn(db_session, shop, prof, 50, "later-2", now)
    remaining = db_session.execute(select(PointsLot.remaining).order_by(PointsLot.id)).scalars().all()
    assert remaining == [0, 0, 20]
    assert_sound(db_session, shop)
    with pytest.raises(Exception, match="has 20 points; this needs 21"):
        spend(db_session, shop, prof, 21, "spend-2", now)


def test_refund_inside_the_return_window_cancels_pending_points(db_session, make_shop, now):
    shop = make_shop(return_window_days=14)
    prof = profile(db_session, shop, now)
    add_order(db_session, shop, prof, "5001", "100.00", now)
    earn(db_session, shop, prof, 100, "rule:1:a0:order:5001", now, order_id="5001", hold=True)
    partial = refund(db_session, shop, prof, "5001", "r1", "30.00", now)
    assert (partial.pending_cancelled, partial.points_reversed, partial.entries) == (30, 0, ())
    row = stored(db_session, prof.id)
    assert (row.points_balance, row.points_pending) == (0, 70)
    full = ledger.apply_cancellation(
        db_session, shop=shop, profile=prof, order_id="5001", event_id=uuid.uuid4(), now=now
    )
    assert full.pending_cancelled == 70
    pending = db_session.execute(select(PendingCredit)).scalar_one()
    db_session.refresh(pending)
    assert (pending.status, pending.points_cancelled) == ("cancelled", 100)
    assert stored(db_session, prof.id).points_pending == 0
    assert entries(db_session, prof.id) == []


def test_used_redemption_comes_back_in_the_same_share_when_enabled(db_session, make_shop, now):
    shop = make_shop(refund_redeemed_points=True)
    prof = profile(db_session, shop, now)
    earn(db_session, shop, prof, 500, "opening", now)
    reward = RewardDefinition(shop_id=shop.id, name="5 off", kind="fixed_amount", points_cost=500, value=Decimal(5))
    db_session.add(reward)
    db_session.flush()
    redemption = RedemptionLog(
        shop_id=shop.id,
        profile_id=prof.id,
        reward_id=reward.id,
        points_spent=500,
        code="LOYAL-1",
        status="used",
        used_on_order_id="5001",
    )
    db_session.add(redemption)
    db_session.flush()
    debit = ledger.debit(
        db_session,
        shop=shop,
        profile_id=prof.id,
        points=500,
        idempotency_key="redeem:1",
        cause=ledger.Cause("redemption", redemption_id=redemption.id),
        now=now,
    )
    add_order(db_session, shop, prof, "5001", "40.00", now)
    earn(db_session, shop, prof, 40, "rule:1:a0:order:5001", now, order_id="5001")
    first = refund(db_session, shop, prof, "5001", "r1", "10.00", now)
    # A quarter of the order: 125 of the 500 redeemed points back, 10 of the 40 earned taken.
    assert first.redeemed_returned == 125 and first.points_claimed == 10
    returned = next(e for e in first.entries if e.kind == "redemption_refund")
    assert (returned.reverses_id, returned.redemption_id, returned.cause_type) == (
        debit.entry.id,
        redemption.id,
        "redemption",
    )
    rest = ledger.apply_cancellation(
        db_session, shop=shop, profile=prof, order_id="5001", event_id=uuid.uuid4(), now=now
    )
    assert rest.redeemed_returned == 375 and rest.points_claimed == 30
    assert stored(db_session, prof.id).points_balance == 500
    assert_sound(db_session, shop)


def test_used_redemption_is_not_returned_when_the_shop_does_not_enable_it(db_session, shop, now, earned_order):
    result = refund(db_session, shop, earned_order, "5001", "r1", "100.00", now)
    assert result.redeemed_returned == 0


def test_unknown_order_writes_nothing(db_session, shop, now):
    prof = profile(db_session, shop, now)
    result = refund(db_session, shop, prof, "404", "r1", "10.00", now)
    assert result == ledger.ReversalResult(order_found=False)
    assert db_session.execute(select(LedgerReversal)).all() == []


def test_order_of_another_customer_is_refused(db_session, shop, now, earned_order):
    other = profile(db_session, shop, now, customer_id="2002")
    with pytest.raises(InvalidInput, match="order 5001 belongs to another customer"):
        refund(db_session, shop, other, "5001", "r1", "10.00", now)
    assert stored(db_session, earned_order.id).points_balance == 133


@pytest.mark.parametrize(
    ("amount", "basis", "message"),
    [
        (Decimal(-1), "subtotal", "must be a Decimal >= 0"),
        (Decimal("NaN"), "subtotal", "must be a Decimal >= 0"),
        (Decimal(1), "shipping", "basis must be one of subtotal, total"),
    ],
)
def test_bad_refund_input_is_refused(db_session, shop, now, earned_order, amount, basis, message):
    with pytest.raises(InvalidInput, match=message):
        ledger.apply_refund(
            db_session,
            shop=shop,
            profile=earned_order,
            order_id="5001",
            refund_id="r1",
            refunded_amount=amount,
            event_id=uuid.uuid4(),
            now=now,
            basis=basis,
        )
    assert stored(db_session, earned_order.id).points_balance == 133
    assert db_session.execute(select(LedgerReversal)).all() == []


def test_refund_amount_from_line_items_then_transactions():
    lines = {
        "refund_line_items": [
            {"subtotal": 10.0, "subtotal_set": {"shop_money": {"amount": "19.99", "currency_code": "USD"}}},
            {"subtotal_set": {"shop_money": {"amount": "0.01"}}},
        ],
        "transactions": [{"kind": "refund", "status": "success", "amount": "99.00"}],
    }
    assert ledger.refund_amount(lines) == ledger.RefundAmount(Decimal("20.00"), "subtotal")
    shipping_only = {
        "refund_line_items": [],
        "transactions": [
            {"kind": "refund", "status": "success", "amount": "5.50"},
            {"kind": "refund", "status": "failure", "amount": "5.50"},
            {"kind": "sale", "status": "success", "amount": "100.00"},
        ],
    }
    assert ledger.refund_amount(shipping_only) == ledger.RefundAmount(Decimal("5.50"), "total")
    with pytest.raises(InvalidInput, match="'abc' is not a decimal number"):
        ledger.refund_amount({"transactions": [{"kind": "refund", "amount": "abc"}]})


def test_refund_amounts_that_each_fit_but_add_up_past_an_orders_largest_total_are_refused():
    half = {"subtotal_set": {"shop_money": {"amount": "600000000000.00"}}}
    with pytest.raises(InvalidInput, match="refund amounts add up to 1200000000000.00, larger than 999999999999.99"):
        ledger.refund_amount({"refund_line_items": [half, half]})
    many = [{"kind": "refund", "status": "success", "amount": "600000000000.00"}] * 2
    with pytest.raises(InvalidInput, match="add up to 1200000000000.00"):
        ledger.refund_amount({"refund_line_items": [], "transactions": many})
