"""VIP tiers: the ladder a shop defines, a member's tier and progress, upgrades the moment a threshold is met,
downgrades only when a period ends, recalculation after the ladder changes, and a tier set by hand until a date."""

from app.loyalty.tiers.configuration import TierSpec, save_ladder
from app.loyalty.tiers.membership import (
    LADDER_MEMO,
    TierView,
    earn_multiplier,
    evaluate_upgrade,
    ladder,
    qualified_tier,
    tier_of,
    tier_status,
    upgrade_target,
)
from app.loyalty.tiers.overrides import (
    clear_tier_override,
    held_override,
    override_last_day,
    review_day,
    set_tier_by_hand,
)
from app.loyalty.tiers.sweeps import recalculate_all, roll_period

__all__ = [
    "LADDER_MEMO",
    "TierSpec",
    "TierView",
    "clear_tier_override",
    "held_override",
    "earn_multiplier",
    "evaluate_upgrade",
    "ladder",
    "override_last_day",
    "qualified_tier",
    "recalculate_all",
    "review_day",
    "roll_period",
    "save_ladder",
    "set_tier_by_hand",
    "tier_of",
    "tier_status",
    "upgrade_target",
]
