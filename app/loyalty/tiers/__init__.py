"""VIP tiers: the ladder a shop defines, a member's tier and progress, upgrades the moment a threshold is met,
downgrades only when a period ends, and recalculation after the ladder changes."""

from app.loyalty.tiers.configuration import TierSpec, save_ladder
from app.loyalty.tiers.membership import (
    LADDER_MEMO,
    TierView,
    earn_multiplier,
    evaluate_upgrade,
    ladder,
    qualified_tier,
    tier_status,
)
from app.loyalty.tiers.sweeps import recalculate_all, roll_period

__all__ = [
    "LADDER_MEMO",
    "TierSpec",
    "TierView",
    "earn_multiplier",
    "evaluate_upgrade",
    "ladder",
    "qualified_tier",
    "recalculate_all",
    "roll_period",
    "save_ladder",
    "tier_status",
]
