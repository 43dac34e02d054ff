"""Reward definitions: validation of every field, shop scoping, deactivation."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.loyalty import rewards
from app.loyalty.base.errors import InvalidInput, RewardNotFound
from app.models import RewardDefinition, Shop

GOOD = {"name": "Five off", "kind": "fixed_amount", "points_cost": 500, "value": "5.00"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"points_cost": 0}, "points_cost must be greater than zero, got 0"),
        ({"points_cost": -100}, "points_cost must be greater than zero, got -100"),
        ({"points_cost": None}, "points_cost is required"),
        ({"points_cost": 1.5}, "points_cost must be a whole number, got 1.5"),
        ({"name": "  "}, "name must be 1-255 characters"),
        (
            {"kind": "gift_card"},
            "kind must be one of fixed_amount, percentage, free_shipping, free_product, "
            "points_to_amount, got 'gift_card'",
        ),
        ({"value": "0"}, "value: a fixed_amount reward needs an amount greater than zero"),
        ({"value": "-5"}, "value: a fixed_amount reward needs an amount greater than zero"),
        ({"value": "abc"}, "value: 'abc' is not a number"),
        ({"value": 5.5}, "value: pass money as a string or Decimal, not a float"),
        ({"kind": "percentage", "value": "150"}, "value: a percentage reward needs a percent in (0, 100]"),
        ({"kind": "free_shipping", "value": "5"}, "value: a free_shipping reward has no value"),
        (
            {"kind": "free_product", "value": None},
            "variant_id: a free_product reward needs the numeric Shopify variant id",
        ),
        (
            {"kind": "free_product", "value": None, "variant_id": "\u0664\u0664\u0660\u0661"},  # Arabic-Indic digits
            "variant_id: a free_product reward needs the numeric Shopify variant id",
        ),
        ({"max_steps": 3}, "max_steps applies only to points_to_amount rewards"),
        ({"min_order_amount": "-1"}, "min_order_amount must not be negative"),
        ({"per_customer_limit": 0}, "per_customer_limit must be greater than zero, got 0"),
        ({"code_expiry_days": -3}, "code_expiry_days must be greater than zero, got -3"),
        # quantize() raised InvalidOperation past 28 digits; from 10**12 on the NUMERIC(14, 2) column refused the row.
        ({"value": "1e999"}, "value: 1e999 is too large; an amount must be less than 1,000,000,000,000"),
        ({"value": "1e13"}, "value: 1e13 is too large; an amount must be less than 1,000,000,000,000"),
        (
            {"value": "999999999999.999"},
            "value: 999999999999.999 is too large; an amount must be less than 1,000,000,000,000",
        ),
        (
            {"min_order_amount": "1e999"},
            "min_order_amount: 1e999 is too large; an amount must be less than 1,000,000,000,000",
        ),
        # A code expiring 2.9 million days on is past year 9999: the redemption that issues it would fail.
        ({"code_expiry_days": 3651}, "code_expiry_days must be at most 3,650, got 3,651"),
    ],
)
def test_bad_definitions_are_refused_with_the_field_named(
    db_session: Session, shop: Shop, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        rewards.create_reward(db_session, shop_id=shop.id, spec=rewards.RewardSpec(**{**GOOD, **overrides}))
    assert str(refused.value) == message
    assert refused.value.status == 422
    assert db_session.execute(select(func.count(RewardDefinition.id))).scalar_one() == 0


@pytest.mark.parametrize(
    ("spec", "expected_value"),
    [
        ({"kind": "fixed_amount", "value": "5"}, Decimal("5.00")),
        ({"kind": "percentage", "value": "10"}, Decimal("10.00")),
        ({"kind": "free_shipping"}, None),
        ({"kind": "free_product", "variant_id": "44012345678901"}, None),
        ({"kind": "points_to_amount", "value": "1.00", "max_steps": 20}, Decimal("1.00")),
    ],
)
def test_every_kind_can_be_defined(
    db_session: Session, shop: Shop, spec: dict[str, object], expected_value: Decimal | None
) -> None:
    reward = rewards.create_reward(
        db_session, shop_id=shop.id, spec=rewards.RewardSpec(name=f"r-{spec['kind']}", points_cost=100, **spec)
    )
    assert (reward.kind, reward.value, reward.points_cost, reward.active) == (spec["kind"], expected_value, 100, True)


def test_names_are_unique_per_shop_only(db_session: Session, shop: Shop, other_shop: Shop) -> None:
    rewards.create_reward(db_session, shop_id=shop.id, spec=rewards.RewardSpec(**GOOD))
    rewards.create_reward(db_session, shop_id=other_shop.id, spec=rewards.RewardSpec(**GOOD))
    with pytest.raises(InvalidInput, match="a reward named 'Five off' already exists"):
        rewards.create_reward(db_session, shop_id=shop.id, spec=rewards.RewardSpec(**GOOD))


def test_names_that_differ_only_in_case_are_the_same_name(db_session: Session, shop: Shop) -> None:
    """Shoppers would see "Five off" and "five OFF" as two identical rewards; tier names ignore case too."""
    five = rewards.create_reward(db_session, shop_id=shop.id, spec=rewards.RewardSpec(**GOOD))
    ten = rewards.create_reward(db_session, shop_id=shop.id, spec=rewards.RewardSpec(**{**GOOD, "name": "Ten off"}))
    taken = "name: a reward named 'Five off' already exists (names ignore case)"
    with pytest.raises(InvalidInput) as created:
        rewards.create_reward(db_session, shop_id=shop.id, spec=rewards.RewardSpec(**{**GOOD, "name": " five OFF "}))
    assert str(created.value) == taken
    with pytest.raises(InvalidInput) as renamed:
        rewards.update_reward(
            db_session, shop_id=shop.id, reward_id=ten.id, spec=rewards.RewardSpec(**{**GOOD, "name": "FIVE OFF"})
        )
    assert str(renamed.value) == taken
    db_session.expire_all()
    names = db_session.execute(select(RewardDefinition.name).order_by(RewardDefinition.id)).scalars().all()
    assert names == ["Five off", "Ten off"]  # nothing written by either refusal
    # A reward may change the case of its own name.
    rewards.update_reward(
        db_session, shop_id=shop.id, reward_id=five.id, spec=rewards.RewardSpec(**{**GOOD, "name": "FIVE OFF"})
    )
    assert db_session.get(RewardDefinition, five.id).name == "FIVE OFF"


@pytest.mark.parametrize(
    ("second_name", "message"),
    [
        ("Five off", "name: a reward named 'Five off' already exists"),
        ("five OFF", "name: a reward named 'Five off' already exists (names ignore case)"),
    ],
)
def test_two_admins_adding_one_name_at_once_get_the_same_clear_refusal(  # type: ignore[no-untyped-def]
    engine, db_session: Session, shop: Shop, second_name: str, message: str
) -> None:
    """The name check reads committed rows only: a second create racing the first passes it and meets the unique
    index when the first commits. It must be refused like any taken name, leaving its transaction usable."""
    db_session.commit()
    first = Session(engine)
    rewards.create_reward(first, shop_id=shop.id, spec=rewards.RewardSpec(**GOOD))  # written, not yet committed
    outcome: list[object] = []

    def second() -> None:
        with Session(engine) as other:
            try:
                rewards.create_reward(other, shop_id=shop.id, spec=rewards.RewardSpec(**{**GOOD, "name": second_name}))
                outcome.append("created")
            except Exception as error:  # noqa: BLE001 - checked below
                outcome.append(error)
                outcome.append(other.execute(select(func.count()).select_from(RewardDefinition)).scalar_one())

    thread = threading.Thread(target=second)
    thread.start()
    time.sleep(0.5)  # the second insert waits on the first's uncommitted name
    first.commit()
    first.close()
    thread.join(timeout=30)
    error, rows = outcome
    assert isinstance(error, InvalidInput) and str(error) == message
    assert rows == 1  # the refused writer's transaction still answers


@pytest.mark.parametrize("reward_id", ["other-shop", 0, -1, 2**70, "7", True])
def test_another_shops_or_malformed_reward_id_is_unknown(
    db_session: Session, shop: Shop, other_shop: Shop, reward_id: object
) -> None:
    foreign = rewards.create_reward(db_session, shop_id=other_shop.id, spec=rewards.RewardSpec(**GOOD))
    wanted = foreign.id if reward_id == "other-shop" else reward_id
    with pytest.raises(RewardNotFound) as refused:
        rewards.get_reward(db_session, shop_id=shop.id, reward_id=wanted)  # type: ignore[arg-type]
    assert str(refused.value) == f"reward {wanted} does not exist"
    assert refused.value.status == 404


def test_update_and_deactivate(db_session: Session, shop: Shop) -> None:
    reward = rewards.create_reward(db_session, shop_id=shop.id, spec=rewards.RewardSpec(**GOOD))
    rewards.update_reward(
        db_session,
        shop_id=shop.id,
        reward_id=reward.id,
        spec=rewards.RewardSpec(**{**GOOD, "points_cost": 800, "value": "10"}),
    )
    rewards.set_active(db_session, shop_id=shop.id, reward_id=reward.id, active=False)
    db_session.expire_all()
    stored = db_session.get(RewardDefinition, reward.id)
    assert (stored.points_cost, stored.value, stored.active) == (800, Decimal("10.00"), False)
    assert rewards.list_rewards(db_session, shop_id=shop.id) == []
    assert [r.id for r in rewards.list_rewards(db_session, shop_id=shop.id, active_only=False)] == [reward.id]
