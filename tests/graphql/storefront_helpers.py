"""A shop with a programme (tiers, rewards, a rule, referrals) and two shoppers, for the storefront API tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy.orm import Session

from app.loyalty import referrals, rulebook, tiers
from app.loyalty.rulebook import FIRST_ORDER_BONUS
from app.models import Shop
from tests.loyalty.rewards_helpers import give_points, make_reward

OPERATIONS = Path(__file__).resolve().parents[2] / "extensions" / "shared" / "operations"
SHOPPER_A = "7393829330"
SHOPPER_B = "9007199254740993"  # beyond 2^53


def operation(name: str) -> str:
    return (OPERATIONS / f"{name}.graphql").read_text()


@dataclass(frozen=True)
class Programme:
    cheap_reward: int
    dear_reward: int


def seed_programme(session: Session, shop: Shop, *, a_points: int = 1_200, b_points: int = 40) -> Programme:
    """Tiers Bronze (0) and Silver (1000), two rewards, the first-order rule, referrals on; A and B with points."""
    now = datetime.now(timezone.utc) - timedelta(minutes=5)
    tiers.save_ladder(
        session,
        shop_id=shop.id,
        specs=[
            tiers.TierSpec(name="Bronze", level=1, threshold=0, benefits={"items": ["Birthday gift"]}),
            tiers.TierSpec(
                name="Silver", level=2, threshold=2_000, earn_multiplier="1.5", benefits={"items": ["Free shipping"]}
            ),
        ],
        actor="test",
        now=now,
    )
    rulebook.save_rule(session, shop_id=shop.id, definition=dict(FIRST_ORDER_BONUS), actor="test", now=now)
    referrals.update_settings(session, shop=shop, changes={"friend_points": 200, "advocate_points": 300})
    cheap = make_reward(session, shop, name="$5 off", points_cost=500, value="5.00")
    dear = make_reward(session, shop, name="$50 off", points_cost=5_000, value="50.00")
    earn_points(session, shop, SHOPPER_A, a_points, now)
    earn_points(session, shop, SHOPPER_B, b_points, now)
    session.commit()
    return Programme(cheap_reward=cheap, dear_reward=dear)


def earn_points(session: Session, shop: Shop, customer_id: str, points: int, now: datetime) -> None:
    """Points earned as an order event earns them, with the tier upgrade that processing applies after it."""
    profile = give_points(session, shop, customer_id, points, now, kind="earn")
    tiers.evaluate_upgrade(session, shop=shop, profile=profile, now=now, reason="test")
