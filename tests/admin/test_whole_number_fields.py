"""Whole numbers typed into the admin's forms: read as ASCII digits with at most one sign, and bounded by what the
service takes within what the column stores. A bad one is a 422 with the message next to its field (what is wrong,
what is allowed) and writes nothing; the largest allowed value saves."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.loyalty import rewards
from app.models import AuditLog, RewardDefinition, Shop
from tests.admin.conftest import Admin
from tests.admin.test_referrals import SETTINGS as REFERRALS
from tests.admin.test_referrals import save_settings
from tests.admin.test_rewards import BLANK
from tests.admin.test_settings import form_of

INTEGER = "Enter a whole number from 1 to 2,147,483,647, or leave it blank"
REWARD = {**BLANK, "name": "Treat", "points_cost": "100", "value": "5"}
STEPS = {"kind": "points_to_amount", "value": "1.00"}


def audits() -> int:
    return db.session.execute(select(func.count()).select_from(AuditLog)).scalar_one()


def assert_no_reward_saved() -> None:
    """What a refused new reward leaves: no reward and no audit row."""
    assert db.session.execute(select(func.count()).select_from(RewardDefinition)).scalar_one() == 0
    assert audits() == 0


def assert_refused(response: Any, field: str, message: str) -> None:
    html = response.get_data(as_text=True)
    assert response.status_code == 422, html
    assert f'id="field-{field}Error"' in html and message in html, html


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (
            {"points_cost": "--5"},
            "points_cost",
            "“--5” is not a whole number. Enter a whole number from 1 to 1,000,000,000",
        ),
        ({"points_cost": "٣"}, "points_cost", "“٣” is not a whole number"),
        ({**STEPS, "max_steps": "--5"}, "max_steps", f"“--5” is not a whole number. {INTEGER}"),
        ({**STEPS, "max_steps": "9999999999"}, "max_steps", f"9,999,999,999 is too large. {INTEGER}"),
        ({"per_customer_limit": "9999999999"}, "per_customer_limit", f"9,999,999,999 is too large. {INTEGER}"),
        ({"per_customer_limit": "--5"}, "per_customer_limit", "“--5” is not a whole number"),
        # int32 would fit, but a code expiring millions of days on is past year 9999: the redemption would fail.
        ({"code_expiry_days": "9999999999"}, "code_expiry_days", "is too large. Enter a whole number from 1 to 3,650"),
        ({"min_tier_level": "9999999999"}, "min_tier_level", "Enter a whole number from 0 to 2,147,483,647"),
        ({"min_tier_level": "--5"}, "min_tier_level", "“--5” is not a whole number"),
    ],
)
def test_a_reward_whole_number_out_of_reach_is_a_422_and_nothing_is_saved(
    admin: Admin, demo_shop: Any, fields: dict[str, str], field: str, message: str
) -> None:
    assert_refused(admin.post("/admin/rewards/", {**REWARD, **fields}), field, message)
    assert_no_reward_saved()


def edit_form(admin: Admin, demo_shop: Any) -> tuple[int, dict[str, str]]:
    """A points_to_amount reward of 5 steps at most, and its edit form as the page shows it."""
    reward = rewards.create_reward(
        db.session,
        shop_id=demo_shop.id,
        spec=rewards.RewardSpec(name="Steps", kind="points_to_amount", points_cost=100, value="1", max_steps=5),
    )
    db.session.commit()
    page = admin.get(f"/admin/rewards/{reward.id}").get_data(as_text=True)
    seen = page.split('name="fingerprint" value="')[1].split('"')[0]
    return reward.id, {**REWARD, **STEPS, "name": "Steps", "max_steps": "5", "fingerprint": seen}


def test_an_edit_with_a_whole_number_out_of_reach_leaves_the_reward_as_it_was(admin: Admin, demo_shop: Any) -> None:
    reward_id, form = edit_form(admin, demo_shop)
    for field in ("max_steps", "per_customer_limit", "min_tier_level"):
        assert_refused(admin.post(f"/admin/rewards/{reward_id}", {**form, field: "9999999999"}), field, "too large")
    assert_refused(admin.post(f"/admin/rewards/{reward_id}", {**form, "max_steps": "--5"}), "max_steps", "“--5”")
    db.session.expire_all()
    stored = db.session.get(RewardDefinition, reward_id)
    assert (stored.max_steps, stored.per_customer_limit, stored.min_tier_level) == (5, None, None)
    assert audits() == 0


# A redemption's value, value times steps, is less than 10^12 as the value is: the largest value in one step, and
# the most steps with the largest value they allow (2,147,483,647 x 465.66 = 999,997,235,062.02).
@pytest.mark.parametrize(("value", "max_steps"), [("999999999999.99", "1"), ("465.66", "2147483647")])
def test_the_largest_reward_numbers_are_saved(admin: Admin, demo_shop: Any, value: str, max_steps: str) -> None:
    form = {
        **REWARD,
        **STEPS,
        "points_cost": "1000000000",
        "value": value,
        "max_steps": max_steps,
        "min_order_amount": "999999999999.99",
        "per_customer_limit": "2147483647",
        "code_expiry_days": "3650",
        "min_tier_level": "2147483647",
    }
    response = admin.post("/admin/rewards/", form)
    assert response.status_code == 204, response.get_data(as_text=True)
    reward = db.session.execute(select(RewardDefinition)).scalar_one()
    assert (reward.points_cost, reward.value, reward.max_steps, reward.min_order_amount) == (
        10**9,
        Decimal(value),
        int(max_steps),
        Decimal("999999999999.99"),
    )
    assert (reward.per_customer_limit, reward.code_expiry_days, reward.min_tier_level) == (2**31 - 1, 3650, 2**31 - 1)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"points_expiry_policy": "after_earning", "points_expiry_days": "--5"},
            "points_expiry_days",
            "“--5” is not a whole number. Enter a whole number from 1 to 3,650, or leave it blank",
        ),
        ({"points_expiry_policy": "after_earning", "points_expiry_days": "٣"}, "points_expiry_days", "“٣” is not"),
        (
            {"return_window_days": "--5"},
            "return_window_days",
            "“--5” is not a whole number. Enter a whole number from 0 to 3,650, or leave it blank",
        ),
    ],
)
def test_a_settings_whole_number_out_of_reach_is_a_422_and_the_shop_stays(
    admin: Admin, demo_shop: Any, changes: dict[str, str], field: str, message: str
) -> None:
    assert_refused(admin.post("/admin/settings/", form_of(admin, **changes)), field, message)
    db.session.expire_all()
    shop = db.session.get(Shop, demo_shop.id)
    assert (shop.points_expiry_policy, shop.points_expiry_days, shop.return_window_days) == ("never", None, 0)
    assert audits() == 0


def test_the_longest_expiry_and_hold_are_saved(admin: Admin, demo_shop: Any) -> None:
    changes = {"points_expiry_policy": "after_earning", "points_expiry_days": "3650", "return_window_days": "3650"}
    response = admin.post("/admin/settings/", form_of(admin, **changes))
    assert response.status_code == 200, response.get_data(as_text=True)
    db.session.expire_all()
    shop = db.session.get(Shop, demo_shop.id)
    assert (shop.points_expiry_days, shop.return_window_days) == (3650, 3650)


@pytest.mark.parametrize(
    ("field", "raw", "message"),
    [
        ("advocate_points", "--5", "“--5” is not a whole number. Enter a whole number from 0 to 1,000,000,000"),
        ("advocate_points", "٣", "“٣” is not a whole number"),
        ("friend_points", "--5", "“--5” is not a whole number. Enter a whole number from 0 to 1,000,000,000"),
        ("friend_reward_id", "--5", "“--5” is not a whole number"),
        ("max_conversions_per_day", "--5", f"“--5” is not a whole number. {INTEGER}"),
        ("max_conversions_per_day", "9999999999", f"9,999,999,999 is too large. {INTEGER}"),
    ],
)
def test_a_referral_whole_number_out_of_reach_is_a_422_and_the_settings_stay(
    admin: Admin, demo_shop: Any, field: str, raw: str, message: str
) -> None:
    assert_refused(save_settings(admin, {**REFERRALS, field: raw}), field, message)
    db.session.expire_all()
    assert db.session.get(Shop, demo_shop.id).referral_settings == {}
    assert audits() == 0


def test_the_largest_referral_numbers_are_saved(admin: Admin, demo_shop: Any) -> None:
    form = {**REFERRALS, "advocate_points": "1000000000", "max_conversions_per_day": "2147483647"}
    response = save_settings(admin, form)
    assert response.status_code == 200, response.get_data(as_text=True)
    db.session.expire_all()
    stored = db.session.get(Shop, demo_shop.id).referral_settings
    assert (stored["advocate_points"], stored["max_conversions_per_day"]) == (10**9, 2**31 - 1)
