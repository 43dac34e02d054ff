"""Rewards: what points buy (definitions), spending points on them in two phases (redeem, then settle, fail,
cancel, expire or use), and the discount codes that the Shopify adapter creates for them."""

from app.loyalty.rewards.definitions import (
    RewardSpec,
    create_reward,
    get_reward,
    list_rewards,
    set_active,
    update_reward,
)
from app.loyalty.rewards.redemptions import RedemptionResult, issue_reward, redeem_reward
from app.loyalty.rewards.settlement import cancel, expire_due, fail, mark_used, settle

__all__ = [
    "RedemptionResult",
    "RewardSpec",
    "cancel",
    "create_reward",
    "expire_due",
    "fail",
    "get_reward",
    "issue_reward",
    "list_rewards",
    "mark_used",
    "redeem_reward",
    "set_active",
    "settle",
    "update_reward",
]
