"""The dashboard's figures come from the shop's own ledger, orders and inbox, over the chosen range."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from app.extensions import db
from app.models import Order
from tests.admin.conftest import Admin, add_member


def test_figures_and_chart_data_count_this_shop_only(admin: Admin, demo_shop: Any, other_admin_shop: Any) -> None:
    now = datetime.now(timezone.utc)
    ada = add_member(db.session, demo_shop, "7001", email="ada@example.com", name="Ada Lovelace", points=300)
    add_member(db.session, other_admin_shop, "9001", email="eve@other.example", name="Eve Other", points=99_999)
    old = add_member(
        db.session,
        demo_shop,
        "7002",
        email="old@example.com",
        name="Old Timer",
        points=50,
        now=now - timedelta(days=60),
    )
    db.session.add_all(
        [
            Order(
                shop_id=demo_shop.id,
                profile_id=ada.id,
                order_id="1",
                total=Decimal("120.50"),
                subtotal=Decimal("120.50"),
                placed_at=now,
            ),
            Order(
                shop_id=demo_shop.id,
                profile_id=None,
                order_id="2",
                total=Decimal("30.00"),
                subtotal=Decimal("30.00"),
                placed_at=now,
            ),
            Order(
                shop_id=other_admin_shop.id,
                profile_id=None,
                order_id="3",
                total=Decimal("999.00"),
                subtotal=Decimal("999.00"),
                placed_at=now,
            ),
        ]
    )
    db.session.commit()
    assert old.points_balance == 50

    html = admin.get("/?days=30").get_data(as_text=True)
    assert "Points issued" in html and '<p class="loyalty-Metric">300</p>' in html  # the 60-day-old 50 is outside
    assert "USD 3.50" in html  # liability: 350 points at 100 points per 1.00, both members, this shop only
    assert "USD 120.50" in html and "USD 30.00" in html and "999" not in html

    ninety = admin.get("/?days=90").get_data(as_text=True)
    assert '<p class="loyalty-Metric">350</p>' in ninety

    series = admin.fragment("/admin/dashboard/points.json?days=7").get_json()
    assert len(series["labels"]) in (7, 8) and sum(series["datasets"][0]["data"]) == 300
    bars = admin.fragment("/admin/dashboard/revenue.json?days=7").get_json()
    assert bars["datasets"][0]["data"] == ["120.50", "30.00"]


def test_an_unknown_range_is_a_clear_400(admin: Admin) -> None:
    # A superscript two, an Arabic-Indic three, and more digits than int() reads (4,300).
    for bad in ("365", "abc", "-1", "\u00b2", "\u0663", "7" * 5000):
        response = admin.get(f"/?days={bad}")
        assert response.status_code == 400 and "days must be one of 7, 30, 90" in response.get_json()["message"]
