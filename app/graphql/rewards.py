"""Mutation.redeemReward: the shopper spends points; failures come back in the result (success false, message)."""

from __future__ import annotations

from typing import Any

from ariadne import MutationType
from graphql import GraphQLResolveInfo

from app.events.unit_of_work import unit_of_work
from app.graphql.context import ShopperContext
from app.loyalty import ledger, rewards
from app.loyalty.base.errors import LoyaltyError
from app.loyalty.read_models import redemption_view
from app.rules.values import is_ascii_digits
from app.tasks.wake import wake_outbox

mutation = MutationType()


@mutation.field("redeemReward")
def resolve_redeem_reward(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    context: ShopperContext = info.context
    customer_id = context.own_customer_id(str(input["customer_id"]))
    if customer_id is None:
        # Not the verified shopper: say nothing about anyone's balance.
        return _failure("you can only redeem your own points", balance=0)
    assert context.shop is not None
    session = context.session
    raw_id = str(input["reward_id"])
    if not is_ascii_digits(raw_id):  # int() also reads other scripts' digits: a reward nobody asked for
        return _failure(f"unknown reward {raw_id[:40]}", balance=_balance(context, customer_id))
    reward_id = int(raw_id)
    try:
        with unit_of_work(session):
            result = rewards.redeem_reward(
                session,
                shop=context.shop,
                customer_id=customer_id,
                reward_id=reward_id,
                now=context.now,
                idempotency_key=input.get("idempotency_key"),
                steps=input.get("steps"),
            )
    except LoyaltyError as exc:  # rolled back: nothing of a refused redemption stays
        return _failure(str(exc), balance=_balance(context, customer_id))
    # The code goes to Shopify from the outbox (app/tasks/outbox.py); until Shopify has it the status is pending
    # and no code is shown. Redeeming again with the same idempotencyKey answers the status as it is then.
    view = redemption_view(result.redemption, reward_name="")
    if view.status == "pending":
        wake_outbox(context.shop.id)
    return {
        "success": True,
        "message": "Reward redeemed" + (" (already redeemed with this key)" if result.replayed else ""),
        "points_deducted": result.points_deducted,
        "new_balance": result.new_balance,
        "redemption_id": str(view.id),
        "status": view.status,
        "code": view.code,
    }


def _balance(context: ShopperContext, customer_id: str) -> int:
    """The shopper's balance as it stands, for a refusal to report (0 for a shopper with no profile yet)."""
    assert context.shop is not None
    profile = ledger.find_profile(context.session, shop_id=context.shop.id, customer_id=customer_id)
    return profile.points_balance if profile is not None else 0


def _failure(message: str, *, balance: int) -> dict[str, Any]:
    return {
        "success": False,
        "message": message,
        "points_deducted": 0,
        "new_balance": balance,
        "redemption_id": None,
        "status": None,
        "code": None,
    }
