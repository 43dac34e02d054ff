"""Ids and points the admin reads from a select or a CSV file: other scripts' digits ("٣", which int() and \\d take
for 3) are refused, not read as a number nobody typed."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select

from app.extensions import db
from app.models import CustomerLoyaltyProfile, ImportBatch, TierDefinition
from tests.admin.conftest import Admin, add_member
from tests.admin.test_whole_number_fields import assert_refused, audits

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
URL = "/admin/customers/7000000000000000001/tier"


def test_a_tier_id_in_another_scripts_digits_sets_no_tier(admin: Admin, demo_shop: Any) -> None:
    profile = add_member(db.session, demo_shop, "7000000000000000001", email="ada@example.com", name="Ada Lovelace")
    tier = db.session.execute(select(TierDefinition).order_by(TierDefinition.level.desc())).scalars().first()
    until = (date.today() + timedelta(days=30)).isoformat()
    for raw in (str(tier.id).translate(ARABIC_INDIC), "9" * 30, "--1"):
        assert_refused(admin.post(URL, {"tier_id": raw, "until": until}), "tier_id", "Choose a tier")
    db.session.expire_all()
    assert db.session.get(CustomerLoyaltyProfile, profile.id).manual_tier_id is None
    assert audits() == 0
    chosen = admin.post(URL, {"tier_id": str(tier.id), "until": until})
    assert chosen.status_code == 200, chosen.get_data(as_text=True)


def test_an_import_line_in_another_scripts_digits_is_named_and_nothing_is_imported(
    admin: Admin, demo_shop: Any
) -> None:
    text = "customer_id,points\n7001,٣\n٧٠٠٢,5\n7003,5\n"
    response = admin.post("/admin/customers/import/", {"csv_text": text})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "Nothing was imported" in html, html
    assert "Line 2:" in html and "points must be a whole number from 1 to" in html
    assert "Line 3:" in html and "is not a Shopify customer id" in html and "Line 4:" not in html
    assert db.session.execute(select(func.count()).select_from(ImportBatch)).scalar_one() == 0
    assert db.session.execute(select(func.count()).select_from(CustomerLoyaltyProfile)).scalar_one() == 0
