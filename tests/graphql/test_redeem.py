"""The fixed RedeemReward mutation over POST /graphql: a shopper spends only their own points, failures come back in
the result (success false, a message), and nothing of a refused redemption stays."""

from __future__ import annotations

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import func, select

from app.loyalty import rewards
from app.models import CustomerLoyaltyProfile, EventQueue, Outbox, PointsTransaction, RedemptionLog
from tests.helpers import REDEEM_REWARD
from tests.loyalty.rewards_helpers import give_points

SHOPPER = "7393829330"


def funded_reward(db_session, shop, now, spec: rewards.RewardSpec) -> int:  # type: ignore[no-untyped-def]
    """The shopper holds 1,200 points and the shop offers this reward: its id."""
    give_points(db_session, shop, SHOPPER, 1_200, now)
    reward = rewards.create_reward(db_session, shop_id=shop.id, spec=spec)
    db_session.commit()
    return reward.id


@pytest.fixture
def reward_id(app, db_session, shop, now) -> int:  # type: ignore[no-untyped-def]
    return funded_reward(
        db_session, shop, now, rewards.RewardSpec(name="$5 off", kind="fixed_amount", points_cost=500, value="5.00")
    )


def redeem(client, shopify, *, token_customer=SHOPPER, shop="test-shop.myshopify.com", **fields):  # type: ignore[no-untyped-def]
    token = shopify.session_token(shop=shop, customer_id=token_customer)
    response = client.post(
        "/graphql",
        json={"query": REDEEM_REWARD, "variables": {"input": {"customerId": SHOPPER, **fields}}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.get_json()
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    return response.get_json()["data"]["redeemReward"]


def ledger_state(db_session) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    db_session.expire_all()
    balance = db_session.execute(
        select(CustomerLoyaltyProfile.points_balance).where(CustomerLoyaltyProfile.customer_id == SHOPPER)
    ).scalar_one()
    entries = db_session.execute(select(func.count()).select_from(PointsTransaction)).scalar_one()
    redemptions = db_session.execute(select(func.count()).select_from(RedemptionLog)).scalar_one()
    return balance, entries, redemptions


def test_a_shopper_redeems_their_points_and_a_retry_with_the_same_key_spends_once(  # type: ignore[no-untyped-def]
    client, shopify, db_session, reward_id
) -> None:
    first = redeem(client, shopify, rewardId=str(reward_id), idempotencyKey="checkout-42")
    assert first == {"success": True, "message": "Reward redeemed", "points_deducted": 500, "new_balance": 700}
    again = redeem(client, shopify, rewardId=str(reward_id), idempotencyKey="checkout-42")
    assert again["success"] and (again["points_deducted"], again["new_balance"]) == (500, 700)
    assert "already redeemed" in again["message"]
    assert ledger_state(db_session) == (700, 2, 1)
    # The discount code is staged for the Admin API (and the new balance for the customer's metafields), and the
    # app event waits in the inbox for the relay (app/events/relay.py), which puts it on the stream.
    staged = db_session.execute(select(Outbox.kind).order_by(Outbox.kind)).scalars().all()
    assert staged == ["customer.sync", "discount_code.create"]
    inbox = db_session.execute(select(EventQueue.event_type, EventQueue.status, EventQueue.published_at)).all()
    assert [tuple(row) for row in inbox] == [("reward_redeemed", "pending", None)]


@pytest.mark.parametrize(
    ("make_input", "message"),
    [
        (lambda reward: {"rewardId": "999999"}, "reward 999999"),
        (lambda reward: {"rewardId": "not-a-number"}, "unknown reward not-a-number"),
        (lambda reward: {"rewardId": str(reward), "steps": 3}, "is not redeemed in steps"),
        # The reward's own id in Arabic-Indic digits: int() reads them, and the reward was redeemed.
        (lambda reward: {"rewardId": "".join(chr(0x660 + int(d)) for d in str(reward))}, "unknown reward"),
    ],
    ids=["unknown-reward", "malformed-reward-id", "steps-on-a-fixed-reward", "other-script-digits"],
)
def test_refused_redemptions_say_why_and_change_nothing(  # type: ignore[no-untyped-def]
    client, shopify, db_session, reward_id, make_input, message
) -> None:
    before = ledger_state(db_session)
    result = redeem(client, shopify, **make_input(reward_id))
    assert result["success"] is False
    assert message in result["message"]
    # A refusal reports the shopper's real balance, untouched.
    assert (result["points_deducted"], result["new_balance"]) == (0, 1200)
    assert ledger_state(db_session) == before


def test_spending_more_than_the_balance_is_refused_with_the_numbers(client, shopify, db_session, reward_id) -> None:  # type: ignore[no-untyped-def]
    assert redeem(client, shopify, rewardId=str(reward_id))["new_balance"] == 700
    assert redeem(client, shopify, rewardId=str(reward_id))["new_balance"] == 200
    before = ledger_state(db_session)
    refused = redeem(client, shopify, rewardId=str(reward_id))
    assert refused["success"] is False
    assert refused["message"] == f"customer {SHOPPER} has 200 points; this needs 500"
    assert (refused["points_deducted"], refused["new_balance"]) == (0, 200)
    assert ledger_state(db_session) == before


def test_steps_whose_value_a_redemption_cannot_hold_are_refused(client, shopify, db_session, shop, now) -> None:  # type: ignore[no-untyped-def]
    """Without max_steps, the two steps a balance of 1,200 affords come to 1,999,999,999,999.98 off: more than a
    redemption's value (NUMERIC(14, 2)) holds, which was an internal error from the INSERT."""
    whole = funded_reward(
        db_session,
        shop,
        now,
        rewards.RewardSpec(name="All of it", kind="points_to_amount", points_cost=500, value="999999999999.99"),
    )
    before = ledger_state(db_session)
    refused = redeem(client, shopify, rewardId=str(whole), steps=2)
    assert refused["success"] is False
    assert refused["message"] == (
        f"reward {whole}: 2 steps of 999,999,999,999.99 come to 1,999,999,999,999.98 off, and one redemption must "
        "be less than 1,000,000,000,000 off; redeem at most 1 at once"
    )
    assert (refused["points_deducted"], refused["new_balance"]) == (0, 1200)
    assert ledger_state(db_session) == before


@pytest.mark.parametrize("key", ["k\x00", "\ud800"], ids=["nul", "lone-surrogate"])
def test_a_key_postgresql_cannot_store_is_refused_with_a_reason(client, shopify, db_session, reward_id, key) -> None:  # type: ignore[no-untyped-def]
    before = ledger_state(db_session)
    refused = redeem(client, shopify, rewardId=str(reward_id), idempotencyKey=key)  # was "internal error"
    assert refused["success"] is False
    assert refused["message"] == "idempotency_key must be 1-255 characters, none of them NUL or half a UTF-16 pair"
    assert ledger_state(db_session) == before


def test_the_same_key_with_another_reward_is_a_conflict(client, shopify, db_session, shop, reward_id) -> None:  # type: ignore[no-untyped-def]
    assert redeem(client, shopify, rewardId=str(reward_id), idempotencyKey="k")["success"]
    other = rewards.create_reward(
        db_session,
        shop_id=shop.id,
        spec=rewards.RewardSpec(name="Free shipping", kind="free_shipping", points_cost=100),
    )
    db_session.commit()
    before = ledger_state(db_session)
    conflict = redeem(client, shopify, rewardId=str(other.id), idempotencyKey="k")
    assert conflict["success"] is False and "idempotency key" in conflict["message"]
    assert ledger_state(db_session) == before


def test_a_shopper_cannot_spend_someone_elses_points(client, shopify, db_session, reward_id) -> None:  # type: ignore[no-untyped-def]
    before = ledger_state(db_session)
    result = redeem(client, shopify, token_customer="111", rewardId=str(reward_id))
    assert result == {
        "success": False,
        "message": "you can only redeem your own points",
        "points_deducted": 0,
        "new_balance": 0,
    }
    assert ledger_state(db_session) == before


def test_another_shops_reward_is_unknown(client, shopify, db_session, reward_id, other_shop, now) -> None:  # type: ignore[no-untyped-def]
    give_points(db_session, other_shop, SHOPPER, 1_000, now)
    db_session.commit()
    result = redeem(client, shopify, shop="other-shop.myshopify.com", rewardId=str(reward_id))
    assert result["success"] is False and f"reward {reward_id}" in result["message"]
    assert db_session.execute(select(func.count()).select_from(RedemptionLog)).scalar_one() == 0


def test_a_redemption_succeeds_when_the_worker_cannot_be_woken(  # type: ignore[no-untyped-def]
    client, shopify, db_session, reward_id, monkeypatch
) -> None:
    """The enqueue of deliver_outbox is only a nudge: with the queue's Redis unreachable the redemption still succeeds
    and its code waits in the outbox for the worker's every-minute drain."""
    from app.tasks.queue import huey

    unreachable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    monkeypatch.setattr(huey.storage, "conn", unreachable)
    redeemed = redeem(client, shopify, rewardId=str(reward_id), idempotencyKey="checkout-offline-queue")
    assert (redeemed["success"], redeemed["new_balance"]) == (True, 700)
    staged = db_session.execute(select(Outbox.kind).where(Outbox.kind == "discount_code.create")).scalars().all()
    assert staged == ["discount_code.create"]
