"""Amounts, thresholds, multipliers and rates typed into the admin's forms: read as ASCII digits with at most one
point (no exponent), bounded by what the service takes within what the numeric column stores, and with no more
decimal places than the column keeps (PostgreSQL would round them away after the service had checked). A bad one is
a 422 with the message next to its field and writes nothing; the largest and smallest allowed values save."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import RewardDefinition, Shop, TierDefinition
from tests.admin.conftest import Admin
from tests.admin.test_referrals import save_settings
from tests.admin.test_settings import form_of
from tests.admin.test_tiers import assert_demo_ladder_unchanged, save_ladder
from tests.admin.test_whole_number_fields import (
    REFERRALS,
    REWARD,
    assert_no_reward_saved,
    assert_refused,
    audits,
    edit_form,
)

MONEY = "Enter a number from 0 to 999,999,999,999.99 with at most 2 decimal places, or leave it blank"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        # numeric field overflow: NUMERIC(14, 2) holds less than 10**12.
        ({"value": "99999999999999"}, "value", f"99999999999999 is too large. {MONEY}"),
        ({"value": "1e13"}, "value", f"“1e13” is not a number. {MONEY}"),
        # decimal.InvalidOperation from quantize() in the service.
        ({"value": "1e999"}, "value", "“1e999” is not a number"),
        ({"value": "٣"}, "value", "“٣” is not a number"),
        ({"value": "5.001"}, "value", f"5.001 has more than 2 decimal places. {MONEY}"),
        ({"min_order_amount": "99999999999999"}, "min_order_amount", f"99999999999999 is too large. {MONEY}"),
        ({"min_order_amount": "1e999"}, "min_order_amount", "“1e999” is not a number"),
    ],
)
def test_a_reward_amount_out_of_reach_is_a_422_and_nothing_is_saved(
    admin: Admin, demo_shop: Any, fields: dict[str, str], field: str, message: str
) -> None:
    assert_refused(admin.post("/admin/rewards/", {**REWARD, **fields}), field, message)
    assert_no_reward_saved()


def test_an_edit_with_an_amount_out_of_reach_leaves_the_reward_as_it_was(admin: Admin, demo_shop: Any) -> None:
    reward_id, form = edit_form(admin, demo_shop)
    for field in ("value", "min_order_amount"):
        assert_refused(admin.post(f"/admin/rewards/{reward_id}", {**form, field: "1e999"}), field, "not a number")
        assert_refused(admin.post(f"/admin/rewards/{reward_id}", {**form, field: "1e12"}), field, "not a number")
    db.session.expire_all()
    stored = db.session.get(RewardDefinition, reward_id)
    assert (stored.value, stored.min_order_amount) == (Decimal("1.00"), None)
    assert audits() == 0


def ladder(field: str = "threshold", raw: str = "1000") -> dict[str, str]:
    """The demo ladder's two lowest tiers, Silver's `field` typed as `raw`."""
    silver = {"name": "Silver", "threshold": "1000", "retention_threshold": "", "earn_multiplier": "1", field: raw}
    rows = [{"name": "Bronze", "threshold": "0", "retention_threshold": "", "earn_multiplier": "1"}, silver]
    form = {"basis": "points_earned", "period": "lifetime"}
    for index, row in enumerate(rows):
        form |= {f"tiers-{index}-{name}": value for name, value in {**row, "benefits": ""}.items()}
    return form


@pytest.mark.parametrize(
    ("field", "raw", "message"),
    [
        ("threshold", "99999999999999", "99999999999999 is too large. Enter a number from 0 to 999,999,999,999.99"),
        ("threshold", "1e13", "“1e13” is not a number"),
        ("threshold", "1e999", "“1e999” is not a number"),
        ("threshold", "٣", "“٣” is not a number"),
        # Stored as 0.00, the base tier's threshold: a second free tier the ladder's order check never saw.
        ("threshold", "0.001", "0.001 has more than 2 decimal places. Enter a number from 0 to 999,999,999,999.99"),
        ("threshold", "", "Enter a number from 0 to 999,999,999,999.99 with at most 2 decimal places"),
        ("retention_threshold", "1e999", "“1e999” is not a number"),
        ("retention_threshold", "99999999999999", "is too large"),
        # Stored as 0.000, which the multiplier's check constraint refuses.
        ("earn_multiplier", "0.0001", "0.0001 has more than 3 decimal places. Enter a number from 0.001 to 100"),
        ("earn_multiplier", "1000", "1000 is too large. Enter a number from 0.001 to 100 with at most 3 decimal"),
    ],
)
def test_a_tier_number_out_of_reach_is_a_422_on_save_and_preview_and_the_ladder_stays(
    admin: Admin, demo_shop: Any, field: str, raw: str, message: str
) -> None:
    assert_refused(save_ladder(admin, ladder(field, raw)), f"tiers-1-{field}", message)
    preview = admin.post("/admin/tiers/preview", ladder(field, raw))
    assert preview.status_code == 422 and message in preview.get_data(as_text=True)
    assert "Silver, " in preview.get_data(as_text=True)  # the banner says which tier and number it is about
    assert_demo_ladder_unchanged()
    assert audits() == 0


def test_the_largest_threshold_and_smallest_multiplier_are_saved(admin: Admin, demo_shop: Any) -> None:
    form = ladder("threshold", "999999999999.99") | {"tiers-1-earn_multiplier": "0.001"}
    response = save_ladder(admin, form)
    assert response.status_code == 200, response.get_data(as_text=True)
    db.session.expire_all()
    silver = db.session.execute(select(TierDefinition).where(TierDefinition.name == "Silver")).scalar_one()
    assert (silver.threshold, silver.earn_multiplier) == (Decimal("999999999999.99"), Decimal("0.001"))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        # Both passed the service's "greater than 0" and were stored as 0.0000, refused by the check constraint.
        ("0.00004", "0.00004 has more than 4 decimal places. Enter a number from 0.0001 to 1,000,000 with at most 4"),
        ("1e-30", "“1e-30” is not a number"),
        ("٣", "“٣” is not a number"),
        ("", "Enter a number from 0.0001 to 1,000,000 with at most 4 decimal places"),
    ],
)
def test_a_point_value_out_of_reach_is_a_422_and_the_shop_stays(
    admin: Admin, demo_shop: Any, raw: str, message: str
) -> None:
    form = form_of(admin, redemption_points_per_unit=raw)
    assert_refused(admin.post("/admin/settings/", form), "redemption_points_per_unit", message)
    db.session.expire_all()
    assert db.session.get(Shop, demo_shop.id).redemption_points_per_unit == 100
    assert audits() == 0


def test_the_smallest_point_value_is_saved(admin: Admin, demo_shop: Any) -> None:
    response = admin.post("/admin/settings/", form_of(admin, redemption_points_per_unit="0.0001"))
    assert response.status_code == 200, response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Shop, demo_shop.id).redemption_points_per_unit == Decimal("0.0001")


@pytest.mark.parametrize(
    ("raw", "message"),
    [("٣", f"“٣” is not a number. {MONEY}"), ("1e999", "“1e999” is not a number"), ("1e12", "“1e12” is not")],
)
def test_a_referral_order_minimum_out_of_reach_is_a_422_and_the_settings_stay(
    admin: Admin, demo_shop: Any, raw: str, message: str
) -> None:
    form = {**REFERRALS, "min_order_amount": raw}
    assert_refused(save_settings(admin, form), "min_order_amount", message)
    db.session.expire_all()
    assert db.session.get(Shop, demo_shop.id).referral_settings == {}
    assert audits() == 0


def test_the_largest_referral_order_minimum_is_saved(admin: Admin, demo_shop: Any) -> None:
    response = save_settings(admin, {**REFERRALS, "min_order_amount": "999999999999.99"})
    assert response.status_code == 200, response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Shop, demo_shop.id).referral_settings["min_order_amount"] == "999999999999.99"
