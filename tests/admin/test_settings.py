"""Settings in the admin: the points policies saved through the ledger's service with an audit row, each bad value
named next to its field, and a save from a stale page refused."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog, Shop
from tests.admin.conftest import Admin


def form_of(admin: Admin, **changes: str) -> dict[str, str]:
    page = admin.get("/admin/settings/").get_data(as_text=True)
    seen = page.split('name="fingerprint" value="')[1].split('"')[0]
    return {
        "fingerprint": seen,
        "points_expiry_policy": "never",
        "points_expiry_days": "",
        "return_window_days": "0",
        "negative_balance_policy": "cap",
        "redemption_points_per_unit": "100",
        **changes,
    }


def test_saving_the_policies_changes_the_shop_and_audits_before_and_after(admin: Admin, demo_shop: Any) -> None:
    form = form_of(
        admin,
        points_expiry_policy="after_earning",
        points_expiry_days="365",
        return_window_days="14",
        refund_redeemed_points="1",
        redemption_points_per_unit="50",
    )
    response = admin.post("/admin/settings/", form)
    assert response.status_code == 200 and "Settings saved" in response.headers["HX-Trigger"]
    db.session.expire_all()
    shop = db.session.get(Shop, demo_shop.id)
    assert (shop.points_expiry_policy, shop.points_expiry_days, shop.return_window_days) == ("after_earning", 365, 14)
    assert shop.refund_redeemed_points is True and shop.redemption_points_per_unit == Decimal(50)
    audit = db.session.execute(select(AuditLog).where(AuditLog.action == "settings_changed")).scalar_one()
    assert audit.details["before"]["points_expiry_policy"] == "never"
    assert audit.details["after"]["points_expiry_days"] == 365

    stale = admin.post("/admin/settings/", {**form, "return_window_days": "30"})  # the page before that save
    assert stale.status_code == 409 and "changed since you opened the page" in stale.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Shop, demo_shop.id).return_window_days == 14


def test_bad_policies_are_named_next_to_their_field(admin: Admin, demo_shop: Any) -> None:
    for changes, field, message in [
        (
            {"points_expiry_policy": "inactivity", "points_expiry_days": ""},
            "points_expiry_days",
            "need a number of days",
        ),
        (
            {"points_expiry_policy": "after_earning", "points_expiry_days": "many"},
            "points_expiry_days",
            "Enter a whole number",
        ),
        ({"return_window_days": "-3"}, "return_window_days", "must be from 0 to 3650"),
        ({"redemption_points_per_unit": "0"}, "redemption_points_per_unit", "greater than 0"),
        ({"negative_balance_policy": "whatever"}, "negative_balance_policy", "must be one of cap, allow"),
    ]:
        response = admin.post("/admin/settings/", form_of(admin, **changes))
        html = response.get_data(as_text=True)
        assert response.status_code == 422, (changes, html)
        assert f'id="field-{field}Error"' in html and message in html, changes
    assert db.session.execute(select(func.count()).select_from(AuditLog)).scalar_one() == 0
    db.session.expire_all()
    assert db.session.get(Shop, demo_shop.id).points_expiry_policy == "never"
