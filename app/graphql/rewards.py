"""Mutation.redeemReward: the shopper spends points; failures come back in the result (success false, message)."""

from __future__ import annotations

from typing import Any

import redis
from ariadne import MutationType
from graphql import GraphQLResolveInfo

from app.events import inbox, stream
from app.extensions import redis_store
from app.graphql.context import ShopperContext
from app.loyalty import redemptions
from app.loyalty.errors import LoyaltyError

mutation = MutationType()


@mutation.field("redeemReward")
def resolve_redeem_reward(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    context: ShopperContext = info.context
    customer_id = context.may_read(str(input["customer_id"]))
    if customer_id is None:
        return _failure("you can only redeem your own points")
    assert context.shop is not None
    try:
        reward_id = int(input["reward_id"])
    except ValueError:
        return _failure(f"unknown reward {input['reward_id']}")
    session = context.session
    try:
        result = redemptions.redeem_reward(
            session,
            shop=context.shop,
            customer_id=customer_id,
            reward_id=reward_id,
            now=context.now,
            idempotency_key=input.get("idempotency_key"),
            steps=input.get("steps"),
        )
        session.commit()
    except LoyaltyError as exc:
        session.rollback()  # nothing of a refused redemption stays
        return _failure(str(exc))
    keys = stream.StreamKeys.for_namespace(redis_store.namespace)
    try:
        inbox.publish_staged(session, lambda event: stream.publish(redis_store.client, keys, event))
    except redis.RedisError:
        pass  # committed in the inbox; the consumer's re-drive publishes it
    return {
        "success": True,
        "message": "Reward redeemed" + (" (already redeemed with this key)" if result.replayed else ""),
        "points_deducted": result.points_deducted,
        "new_balance": result.new_balance,
        "code": result.redemption.code,
    }


def _failure(message: str) -> dict[str, Any]:
    return {"success": False, "message": message, "points_deducted": 0, "new_balance": 0, "code": None}
