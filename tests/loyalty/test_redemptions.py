"""redeem_reward and its second phase: bad input, tenant boundaries, idempotency keys, settle/fail/cancel/expire."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.loyalty import rewards
from app.loyalty.base.errors import (
    Conflict,
    InsufficientPoints,
    InvalidInput,
    RedemptionNotFound,
    RewardNotFound,
    RewardUnavailable,
)
from app.models import EventQueue, Outbox, PointsTransaction, RedemptionLog, Shop
from tests.loyalty.rewards_helpers import balance, entry_count, give_points, ledger_sum, make_reward, make_tier


def _state(session: Session, shop: Shop, profile_id: int) -> tuple[int, int, int, int]:
    """Balance, ledger entries, redemptions and outbox rows: what a refused request must leave unchanged."""
    session.expire_all()
    return (
        balance(session, profile_id),
        entry_count(session, shop.id),
        session.execute(select(func.count(RedemptionLog.id))).scalar_one(),
        session.execute(select(func.count(Outbox.id))).scalar_one(),
    )


def test_redeem_debits_writes_a_pending_redemption_and_an_outbox_row(
    db_session: Session, shop: Shop, now: datetime
) -> None:
    profile = give_points(db_session, shop, "123", 1_200, now)
    reward_id = make_reward(
        db_session, shop, name="Five off", points_cost=500, value="5.00", code_expiry_days=30, min_order_amount="20"
    )

    result = rewards.redeem_reward(db_session, shop=shop, customer_id="123", reward_id=reward_id, now=now)

    redemption = result.redemption
    assert (result.points_deducted, result.new_balance, result.replayed) == (500, 700, False)
    assert (redemption.status, redemption.points_spent, str(redemption.value)) == ("pending", 500, "5.00")
    assert re.fullmatch(r"LOYAL(-[A-Z2-7]{4}){4}", redemption.code)
    assert redemption.expires_at == now + timedelta(days=30)
    assert balance(db_session, profile.id) == 700 == ledger_sum(db_session, profile.id)
    debit = db_session.execute(
        select(PointsTransaction).where(PointsTransaction.redemption_id == redemption.id)
    ).scalar_one()
    assert (debit.kind, debit.points, debit.cause_type, debit.idempotency_key) == (
        "redeem",
        -500,
        "redemption",
        f"redemption:{redemption.id}",
    )
    outbox = db_session.execute(select(Outbox).where(Outbox.kind == "discount_code.create")).scalar_one()
    assert (outbox.kind, outbox.dedupe_key, outbox.status) == (
        "discount_code.create",
        f"redemption:{redemption.id}",
        "pending",
    )
    assert outbox.payload["mutation"] == "discountCodeBasicCreate"
    assert outbox.payload["input"] == {
        "title": "Loyalty reward: Five off (500 points)",
        "code": redemption.code,
        "startsAt": "2026-03-02T15:30:00Z",
        "endsAt": "2026-04-01T15:30:00Z",
        "context": {"customers": {"add": ["gid://shopify/Customer/123"]}},
        "usageLimit": 1,
        "appliesOncePerCustomer": True,
        "minimumRequirement": {"subtotal": {"greaterThanOrEqualToSubtotal": "20.00"}},
        "customerGets": {
            "value": {"discountAmount": {"amount": "5.00", "appliesOnEachItem": False}},
            "items": {"all": True},
        },
        "combinesWith": {"orderDiscounts": False, "productDiscounts": True, "shippingDiscounts": True},
    }
    event = db_session.execute(select(EventQueue).where(EventQueue.event_type == "reward_redeemed")).scalar_one()
    assert (event.customer_id, event.payload["redemption_id"], event.status) == ("123", redemption.id, "pending")


@pytest.mark.parametrize(
    ("kind", "extra", "mutation", "value"),
    [
        ("percentage", {"value": "15"}, "discountCodeBasicCreate", {"percentage": 0.15}),
        ("free_product", {"variant_id": "4401"}, "discountCodeBasicCreate", {"percentage": 1.0}),
        ("free_shipping", {}, "discountCodeFreeShippingCreate", None),
    ],
)
def test_each_kind_gets_the_matching_shopify_input(
    db_session: Session,
    shop: Shop,
    now: datetime,
    kind: str,
    extra: dict[str, object],
    mutation: str,
    value: dict[str, object] | None,
) -> None:
    give_points(db_session, shop, "123", 500, now)
    reward_id = make_reward(db_session, shop, kind=kind, points_cost=500, **{"value": None, **extra})
    rewards.redeem_reward(db_session, shop=shop, customer_id="123", reward_id=reward_id, now=now)
    payload = db_session.execute(select(Outbox.payload).where(Outbox.kind == "discount_code.create")).scalar_one()
    assert payload["mutation"] == mutation
    assert payload["input"]["usageLimit"] == 1
    if value is None:
        assert payload["input"]["destination"] == {"all": True}
    else:
        assert payload["input"]["customerGets"]["value"] == value


def test_points_to_amount_is_bought_in_steps(db_session: Session, shop: Shop, now: datetime) -> None:
    give_points(db_session, shop, "123", 1_000, now)
    reward_id = make_reward(db_session, shop, kind="points_to_amount", points_cost=100, value="1.00", max_steps=5)
    result = rewards.redeem_reward(db_session, shop=shop, customer_id="123", reward_id=reward_id, now=now, steps=4)
    assert (result.points_deducted, result.new_balance, str(result.redemption.value)) == (400, 600, "4.00")
    with pytest.raises(InvalidInput, match="allows at most 5 steps, got 6"):
        rewards.redeem_reward(db_session, shop=shop, customer_id="123", reward_id=reward_id, now=now, steps=6)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        ({"reward_id": "missing"}, RewardNotFound, "reward 999999 does not exist"),
        ({"reward_id": "other-shop"}, RewardNotFound, None),
        ({"reward_id": "inactive"}, RewardUnavailable, None),
        ({"reward_id": "expensive"}, InsufficientPoints, "customer 123 has 300 points; this needs 5000"),
        (
            {"customer_id": "no-such-customer"},
            InsufficientPoints,
            "customer no-such-customer has 0 points; this needs 100",
        ),
        ({"steps": 0}, InvalidInput, "steps must be a whole number of at least 1, got 0"),
        ({"steps": 2}, InvalidInput, None),
        ({"customer_id": ""}, InvalidInput, "customer_id must be a Shopify customer id (a non-empty string), got ''"),
        (
            {"idempotency_key": ""},
            InvalidInput,
            "idempotency_key must be 1-255 characters, none of them NUL or half a UTF-16 pair",
        ),
    ],
)
def test_refused_redemptions_change_nothing(
    db_session: Session,
    shop: Shop,
    other_shop: Shop,
    now: datetime,
    call: dict[str, object],
    error: type[Exception],
    message: str | None,
) -> None:
    profile = give_points(db_session, shop, "123", 300, now)
    ids = {
        "cheap": make_reward(db_session, shop, points_cost=100),
        "missing": 999_999,
        "other-shop": make_reward(db_session, other_shop, points_cost=100),
        "inactive": make_reward(db_session, shop, points_cost=100, active=False),
        "expensive": make_reward(db_session, shop, points_cost=5_000),
    }
    db_session.commit()
    before = _state(db_session, shop, profile.id)
    arguments = {"customer_id": "123", "reward_id": "cheap", **call}
    arguments["reward_id"] = ids[arguments["reward_id"]]  # type: ignore[index]
    with pytest.raises(error) as refused:
        rewards.redeem_reward(db_session, shop=shop, now=now, **arguments)  # type: ignore[arg-type]
    if message is not None:
        assert str(refused.value) == message
    if arguments["reward_id"] == ids["other-shop"]:
        assert str(refused.value) == f"reward {ids['other-shop']} does not exist"
    db_session.rollback()
    assert _state(db_session, shop, profile.id) == before


def test_same_key_same_input_replays_and_other_input_conflicts(db_session: Session, shop: Shop, now: datetime) -> None:
    profile = give_points(db_session, shop, "123", 2_000, now)
    reward_id = make_reward(db_session, shop, points_cost=500)
    other_reward = make_reward(db_session, shop, points_cost=100)
    first = rewards.redeem_reward(
        db_session, shop=shop, customer_id="123", reward_id=reward_id, now=now, idempotency_key="k-1"
    )
    give_points(db_session, shop, "123", 50, now)  # the balance moves on; the replay still answers the first result

    again = rewards.redeem_reward(
        db_session,
        shop=shop,
        customer_id="123",
        reward_id=reward_id,
        now=now + timedelta(minutes=1),
        idempotency_key="k-1",
    )
    assert (again.redemption.id, again.points_deducted, again.new_balance, again.replayed) == (
        first.redemption.id,
        500,
        1_500,
        True,
    )
    with pytest.raises(Conflict) as conflict:
        rewards.redeem_reward(
            db_session, shop=shop, customer_id="123", reward_id=other_reward, now=now, idempotency_key="k-1"
        )
    assert conflict.value.status == 409
    assert "idempotency key 'k-1' was already used for a different redemption request" == str(conflict.value)
    # The same key from another customer is that customer's own key.
    give_points(db_session, shop, "456", 500, now)
    theirs = rewards.redeem_reward(
        db_session, shop=shop, customer_id="456", reward_id=reward_id, now=now, idempotency_key="k-1"
    )
    assert theirs.replayed is False and theirs.redemption.id != first.redemption.id
    assert balance(db_session, profile.id) == 1_550 == ledger_sum(db_session, profile.id)


def test_tier_restriction_and_per_customer_limit(db_session: Session, shop: Shop, now: datetime) -> None:
    profile = give_points(db_session, shop, "123", 5_000, now)
    gold = make_tier(db_session, shop, "Gold", 2, "1000")
    vip_reward = make_reward(db_session, shop, points_cost=100, min_tier_level=2)
    limited = make_reward(db_session, shop, points_cost=100, per_customer_limit=2)
    with pytest.raises(RewardUnavailable) as refused:
        rewards.redeem_reward(db_session, shop=shop, customer_id="123", reward_id=vip_reward, now=now)
    assert str(refused.value) == f"reward {vip_reward} needs tier level 2; customer 123 is at no tier"
    profile.current_tier_id = gold.id
    db_session.flush()
    assert rewards.redeem_reward(db_session, shop=shop, customer_id="123", reward_id=vip_reward, now=now)

    first = rewards.redeem_reward(db_session, shop=shop, customer_id="123", reward_id=limited, now=now)
    rewards.redeem_reward(db_session, shop=shop, customer_id="123", reward_id=limited, now=now)
    with pytest.raises(RewardUnavailable, match="has already redeemed reward .* 2 time\\(s\\); the limit is 2"):
        rewards.redeem_reward(db_session, shop=shop, customer_id="123", reward_id=limited, now=now)
    # A failed redemption gave its points back and does not count toward the limit.
    rewards.fail(db_session, shop_id=shop.id, redemption_id=first.redemption.id, reason="userErrors", now=now)
    assert rewards.redeem_reward(db_session, shop=shop, customer_id="123", reward_id=limited, now=now)


def test_settle_and_fail_are_idempotent_and_exclusive(db_session: Session, shop: Shop, now: datetime) -> None:
    profile = give_points(db_session, shop, "123", 1_000, now)
    reward_id = make_reward(db_session, shop, points_cost=400)
    posted = rewards.redeem_reward(db_session, shop=shop, customer_id="123", reward_id=reward_id, now=now)
    failing = rewards.redeem_reward(db_session, shop=shop, customer_id="123", reward_id=reward_id, now=now)
    assert balance(db_session, profile.id) == 200

    for _ in range(2):
        settled = rewards.settle(
            db_session,
            shop_id=shop.id,
            redemption_id=posted.redemption.id,
            now=now,
            shopify_discount_id="gid://shopify/DiscountCodeNode/1",
        )
        failed = rewards.fail(
            db_session, shop_id=shop.id, redemption_id=failing.redemption.id, reason="code already taken", now=now
        )
    assert (settled.status, settled.shopify_discount_id) == ("posted", "gid://shopify/DiscountCodeNode/1")
    assert (failed.status, failed.failure_reason) == ("failed", "code already taken")
    assert balance(db_session, profile.id) == 600 == ledger_sum(db_session, profile.id)
    refund = db_session.execute(
        select(PointsTransaction).where(PointsTransaction.kind == "redemption_refund")
    ).scalar_one()
    debit_id = db_session.execute(
        select(PointsTransaction.id).where(
            PointsTransaction.redemption_id == failing.redemption.id, PointsTransaction.kind == "redeem"
        )
    ).scalar_one()
    assert (refund.points, refund.reverses_id, refund.redemption_id) == (400, debit_id, failing.redemption.id)
    with pytest.raises(Conflict, match="is posted; only a pending redemption can fail"):
        rewards.fail(db_session, shop_id=shop.id, redemption_id=posted.redemption.id, reason="x", now=now)
    with pytest.raises(Conflict, match="is failed; only a pending redemption can settle"):
        rewards.settle(db_session, shop_id=shop.id, redemption_id=failing.redemption.id, now=now)


def test_cancel_returns_points_once_and_expiry_does_not(
    db_session: Session, shop: Shop, other_shop: Shop, now: datetime
) -> None:
    profile = give_points(db_session, shop, "123", 1_000, now)
    reward_id = make_reward(db_session, shop, points_cost=300, code_expiry_days=7)
    kept = rewards.redeem_reward(db_session, shop=shop, customer_id="123", reward_id=reward_id, now=now)
    returned = rewards.redeem_reward(db_session, shop=shop, customer_id="123", reward_id=reward_id, now=now)
    with pytest.raises(Conflict, match="is pending; only an unused code can be cancelled"):
        rewards.cancel(db_session, shop_id=shop.id, redemption_id=returned.redemption.id, now=now, actor="x")
    for result in (kept, returned):
        rewards.settle(db_session, shop_id=shop.id, redemption_id=result.redemption.id, now=now)
    with pytest.raises(RedemptionNotFound):
        rewards.cancel(db_session, shop_id=other_shop.id, redemption_id=returned.redemption.id, now=now, actor="x")
    with pytest.raises(RedemptionNotFound):
        rewards.cancel(
            db_session,
            shop_id=shop.id,
            redemption_id=returned.redemption.id,
            now=now,
            actor="shopper",
            customer_id="456",
        )
    for _ in range(2):
        rewards.cancel(
            db_session,
            shop_id=shop.id,
            redemption_id=returned.redemption.id,
            now=now,
            actor="shopper",
            customer_id="123",
        )
    assert balance(db_session, profile.id) == 700 == ledger_sum(db_session, profile.id)
    deactivate = db_session.execute(select(Outbox).where(Outbox.kind == "discount_code.deactivate")).scalar_one()
    assert deactivate.payload["code"] == returned.redemption.code

    assert rewards.expire_due(db_session, shop_id=shop.id, now=now + timedelta(days=6)) == []
    assert rewards.expire_due(db_session, shop_id=shop.id, now=now + timedelta(days=7)) == [kept.redemption.id]
    assert rewards.expire_due(db_session, shop_id=shop.id, now=now + timedelta(days=8)) == []
    db_session.expire_all()
    assert db_session.get(RedemptionLog, kept.redemption.id).status == "expired"
    assert balance(db_session, profile.id) == 700


def test_an_order_using_the_code_marks_it_used(db_session: Session, shop: Shop, now: datetime) -> None:
    give_points(db_session, shop, "123", 500, now)
    reward_id = make_reward(db_session, shop, points_cost=500)
    result = rewards.redeem_reward(db_session, shop=shop, customer_id="123", reward_id=reward_id, now=now)
    rewards.settle(db_session, shop_id=shop.id, redemption_id=result.redemption.id, now=now)
    used = rewards.mark_used(db_session, shop_id=shop.id, code=result.redemption.code.lower(), order_id="9001", now=now)
    assert used is not None and (used.status, used.used_on_order_id) == ("used", "9001")
    assert rewards.mark_used(db_session, shop_id=shop.id, code="SUMMER10", order_id="9002", now=now) is None
    with pytest.raises(Conflict, match="is used; only an unused code can be cancelled"):
        rewards.cancel(db_session, shop_id=shop.id, redemption_id=result.redemption.id, now=now, actor="x")


def test_issue_reward_grants_a_code_without_points_once_per_key(db_session: Session, shop: Shop, now: datetime) -> None:
    profile = give_points(db_session, shop, "123", 10, now)
    reward_id = make_reward(db_session, shop, points_cost=500)
    first = rewards.issue_reward(
        db_session, shop=shop, profile=profile, reward_id=reward_id, idempotency_key="rule:1:a0:order:77", now=now
    )
    again = rewards.issue_reward(
        db_session, shop=shop, profile=profile, reward_id=reward_id, idempotency_key="rule:1:a0:order:77", now=now
    )
    assert (first.points_deducted, first.replayed, again.replayed) == (0, False, True)
    assert again.redemption.id == first.redemption.id
    assert balance(db_session, profile.id) == 10
    assert (
        db_session.execute(select(func.count(Outbox.id)).where(Outbox.kind == "discount_code.create")).scalar_one() == 1
    )


@pytest.mark.parametrize("operation", ["settle", "fail", "cancel"])
def test_another_shops_redemption_is_unknown(
    db_session: Session, shop: Shop, other_shop: Shop, now: datetime, operation: str
) -> None:
    profile = give_points(db_session, other_shop, "123", 500, now)
    reward_id = make_reward(db_session, other_shop, points_cost=500)
    theirs = rewards.redeem_reward(db_session, shop=other_shop, customer_id="123", reward_id=reward_id, now=now)
    calls = {
        "settle": lambda: rewards.settle(db_session, shop_id=shop.id, redemption_id=theirs.redemption.id, now=now),
        "fail": lambda: rewards.fail(
            db_session, shop_id=shop.id, redemption_id=theirs.redemption.id, reason="x", now=now
        ),
        "cancel": lambda: rewards.cancel(
            db_session, shop_id=shop.id, redemption_id=theirs.redemption.id, now=now, actor="x"
        ),
    }
    with pytest.raises(RedemptionNotFound) as refused:
        calls[operation]()
    assert str(refused.value) == f"redemption {theirs.redemption.id} does not exist"
    db_session.expire_all()
    assert db_session.get(RedemptionLog, theirs.redemption.id).status == "pending"
    assert balance(db_session, profile.id) == 0
