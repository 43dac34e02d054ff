"""Rewards in the admin: create and edit each kind through the service, errors next to their field, a stale edit
refused, the audit row written, and another shop's reward unknown."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from markupsafe import escape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.extensions import db
from app.loyalty import rewards
from app.models import AuditLog, RewardDefinition
from tests.admin.conftest import Admin

BLANK = {
    "name": "",
    "kind": "fixed_amount",
    "points_cost": "",
    "value": "",
    "max_steps": "",
    "variant_id": "",
    "min_order_amount": "",
    "per_customer_limit": "",
    "code_expiry_days": "",
    "min_tier_level": "",
    "active": "1",
}


@pytest.mark.parametrize(
    ("fields", "shown"),
    [
        ({"kind": "fixed_amount", "value": "5.00"}, "USD 5.00 off your order"),
        ({"kind": "percentage", "value": "10"}, "10% off your order"),
        ({"kind": "free_shipping"}, "Free shipping on your order"),
        ({"kind": "free_product", "variant_id": "808950810"}, "A free product with your order"),
        ({"kind": "points_to_amount", "value": "1.00", "max_steps": "10"}, "USD 1.00 off for every 100 points"),
    ],
    ids=lambda value: value.get("kind") if isinstance(value, dict) else None,
)
def test_each_kind_is_created_with_its_audit_row(
    admin: Admin, demo_shop: Any, fields: dict[str, str], shown: str
) -> None:
    form = {**BLANK, "name": "Treat", "points_cost": "100", **fields}
    assert shown in admin.post("/admin/rewards/preview", form).get_data(as_text=True)
    response = admin.post("/admin/rewards/", form)
    assert response.status_code == 204, response.get_data(as_text=True)
    assert json.loads(response.headers["HX-Location"])["path"] == "/admin/rewards/"
    reward = db.session.execute(select(RewardDefinition)).scalar_one()
    assert (reward.kind, reward.points_cost, reward.shop_id) == (fields["kind"], 100, demo_shop.id)
    audit = db.session.execute(select(AuditLog).where(AuditLog.action == "reward_created")).scalar_one()
    assert audit.subject_id == str(reward.id) and audit.details["after"]["name"] == "Treat"
    assert "Treat" in admin.get("/admin/rewards/").get_data(as_text=True)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": ""}, "name", "name must be 1-255 characters"),
        ({"points_cost": "lots"}, "points_cost", "Enter a whole number"),
        ({"points_cost": "-5"}, "points_cost", "-5 is too small. Enter a whole number from 1 to 1,000,000,000"),
        ({"value": ""}, "value", "needs an amount greater than zero"),
        ({"kind": "percentage", "value": "150"}, "value", "a percentage reward needs a percent in (0, 100]"),
        ({"kind": "free_product", "value": ""}, "variant_id", "needs the numeric Shopify variant id"),
        ({"kind": "free_shipping", "value": "3"}, "value", "a free_shipping reward has no value"),
        ({"kind": "bogus"}, "kind", "Choose one of"),
        ({"min_order_amount": "cheap"}, "min_order_amount", "is not a number"),
        # A redemption of 10 steps would be 10^12 off, more than its value column holds.
        (
            {"kind": "points_to_amount", "value": "100000000000", "max_steps": "10"},
            "max_steps",
            "max_steps: 10 steps of 100,000,000,000.00 come to 1,000,000,000,000.00 off, and one redemption must be "
            "less than 1,000,000,000,000 off; allow at most 9 steps",
        ),
    ],
)
def test_a_bad_field_is_named_next_to_it_and_nothing_is_saved(
    admin: Admin, demo_shop: Any, fields: dict[str, str], field: str, message: str
) -> None:
    response = admin.post("/admin/rewards/", {**BLANK, "name": "Treat", "points_cost": "100", "value": "5", **fields})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'id="field-{field}Error"' in html and message in html
    assert db.session.execute(select(func.count()).select_from(RewardDefinition)).scalar_one() == 0
    assert db.session.execute(select(func.count()).select_from(AuditLog)).scalar_one() == 0


def test_an_edit_of_a_reward_changed_meanwhile_is_refused(admin: Admin, demo_shop: Any) -> None:
    reward = rewards.create_reward(
        db.session,
        shop_id=demo_shop.id,
        spec=rewards.RewardSpec(name="Treat", kind="fixed_amount", points_cost=100, value="5"),
    )
    db.session.commit()
    page = admin.get(f"/admin/rewards/{reward.id}").get_data(as_text=True)
    seen = page.split('name="fingerprint" value="')[1].split('"')[0]
    form = {**BLANK, "name": "Treat", "points_cost": "150", "value": "5", "fingerprint": seen}
    saved = admin.post(f"/admin/rewards/{reward.id}", form)
    assert saved.status_code == 204
    stale = admin.post(f"/admin/rewards/{reward.id}", {**form, "points_cost": "90"})  # the same, now stale, form
    assert stale.status_code == 409 and "Someone changed this reward" in stale.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(RewardDefinition, reward.id).points_cost == 150
    audit = db.session.execute(select(AuditLog).where(AuditLog.action == "reward_updated")).scalar_one()
    assert (audit.details["before"]["points_cost"], audit.details["after"]["points_cost"]) == ("100", "150")


def test_another_shops_reward_is_unknown(admin: Admin, other_admin_shop: Any) -> None:
    theirs = rewards.create_reward(
        db.session,
        shop_id=other_admin_shop.id,
        spec=rewards.RewardSpec(name="Theirs", kind="free_shipping", points_cost=10),
    )
    db.session.commit()
    assert admin.get(f"/admin/rewards/{theirs.id}").status_code == 404
    response = admin.post(
        f"/admin/rewards/{theirs.id}", {**BLANK, "name": "Mine", "points_cost": "1", "kind": "free_shipping"}
    )
    assert response.status_code == 404
    assert "Theirs" not in admin.get("/admin/rewards/").get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(RewardDefinition, theirs.id).name == "Theirs"


TREAT = {**BLANK, "name": "Treat", "points_cost": "100", "value": "5"}


def add_treat(session: Session, shop_id: int, name: str = "Treat") -> RewardDefinition:
    spec = rewards.RewardSpec(name=name, kind="fixed_amount", points_cost=100, value="5")
    return rewards.create_reward(session, shop_id=shop_id, spec=spec)


@pytest.mark.parametrize(
    ("spelling", "message"),
    [
        ("Treat", "name: a reward named 'Treat' already exists"),
        (" tREAT ", "name: a reward named 'Treat' already exists (names ignore case)"),
    ],
)
def test_a_name_taken_in_any_case_is_refused_next_to_the_name_field(
    admin: Admin, demo_shop: Any, spelling: str, message: str
) -> None:
    add_treat(db.session, demo_shop.id)
    other = add_treat(db.session, demo_shop.id, "Other")
    db.session.commit()

    created = admin.post("/admin/rewards/", {**TREAT, "name": spelling})
    page = admin.get(f"/admin/rewards/{other.id}").get_data(as_text=True)
    seen = page.split('name="fingerprint" value="')[1].split('"')[0]
    edited = admin.post(f"/admin/rewards/{other.id}", {**TREAT, "name": spelling, "fingerprint": seen})

    for response in (created, edited):
        html = response.get_data(as_text=True)
        assert response.status_code == 422
        assert 'id="field-nameError"' in html and str(escape(message)) in html
    db.session.expire_all()
    names = db.session.execute(select(RewardDefinition.name).order_by(RewardDefinition.id)).scalars().all()
    assert names == ["Treat", "Other"]
    assert db.session.execute(select(func.count()).select_from(AuditLog)).scalar_one() == 0


def test_of_two_saves_of_one_name_at_once_the_second_gets_the_form_error(admin: Admin, demo_shop: Any) -> None:
    """Both pass the name check (neither sees the other's uncommitted row): the unique index on lower(name) decides,
    and the loser's form says why instead of a 500."""
    first = Session(db.engine)
    add_treat(first, demo_shop.id)  # written, not yet committed
    answers: list[Any] = []
    second = threading.Thread(target=lambda: answers.append(admin.post("/admin/rewards/", {**TREAT, "name": "TREAT"})))
    second.start()
    time.sleep(0.5)  # the second save's insert waits on the first's uncommitted name
    first.commit()
    first.close()
    second.join(timeout=30)

    [response] = answers
    html = response.get_data(as_text=True)
    assert response.status_code == 422, html
    message = "name: a reward named 'Treat' already exists (names ignore case)"
    assert 'id="field-nameError"' in html and str(escape(message)) in html
    db.session.expire_all()
    assert db.session.execute(select(RewardDefinition.name)).scalars().all() == ["Treat"]
