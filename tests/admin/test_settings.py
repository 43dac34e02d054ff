"""Settings in the admin: the points policies and the points name saved through the ledger's service with an audit
row, each bad value named next to its field, a save from a stale page refused, and a new points name answered by the
storefront API (through its read cache) for that shop only."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from app.config import DEV_API_KEY, DEV_API_SECRET
from app.extensions import db
from app.models import AuditLog, Shop
from app.shopify.development import DEMO_SHOP
from tests.admin.conftest import Admin
from tests.shopify_fake.signing import ShopifySigner


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
        "points_name": "Points",
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


def test_which_order_event_earns_is_shown_and_saved(admin: Admin, demo_shop: Any) -> None:
    page = admin.get("/admin/settings/").get_data(as_text=True)
    assert 'name="orders_earn_on"' in page and '<option value="created" selected>' in page
    response = admin.post("/admin/settings/", form_of(admin, orders_earn_on="paid"))
    assert response.status_code == 200 and '<option value="paid" selected>' in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Shop, demo_shop.id).orders_earn_on == "paid"


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
        ({"return_window_days": "-3"}, "return_window_days", "-3 is too small. Enter a whole number from 0 to 3,650"),
        ({"redemption_points_per_unit": "0"}, "redemption_points_per_unit", "Enter a number from 0.0001 to 1,000,000"),
        ({"negative_balance_policy": "whatever"}, "negative_balance_policy", "must be one of cap, allow"),
        ({"points_name": "   "}, "points_name", "must be 1 to 40 characters, got 0"),
        ({"points_name": "S" * 41}, "points_name", "must be 1 to 40 characters, got 41"),
        ({"points_name": "Sta\nrs"}, "points_name", "must not contain control characters"),
        ({"points_name": "Stars\x1b[31m"}, "points_name", "must not contain control characters"),
        ({"orders_earn_on": "shipped"}, "orders_earn_on", "must be one of created, paid, fulfilled"),
    ]:
        response = admin.post("/admin/settings/", form_of(admin, **changes))
        html = response.get_data(as_text=True)
        assert response.status_code == 422, (changes, html)
        assert f'id="field-{field}Error"' in html and message in html, changes
    assert db.session.execute(select(func.count()).select_from(AuditLog)).scalar_one() == 0
    db.session.expire_all()
    assert db.session.get(Shop, demo_shop.id).points_expiry_policy == "never"


def test_the_points_name_is_trimmed_saved_audited_and_refused_from_a_stale_page(admin: Admin, demo_shop: Any) -> None:
    form = form_of(admin, points_name="  Stars  ")
    response = admin.post("/admin/settings/", form)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert 'value="Stars"' in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Shop, demo_shop.id).points_name == "Stars"
    audit = db.session.execute(select(AuditLog).where(AuditLog.action == "settings_changed")).scalar_one()
    assert (audit.details["before"]["points_name"], audit.details["after"]["points_name"]) == ("Points", "Stars")

    stale = admin.post("/admin/settings/", {**form, "points_name": "Coins"})  # the page before that save
    assert stale.status_code == 409
    db.session.expire_all()
    assert db.session.get(Shop, demo_shop.id).points_name == "Stars"
    assert db.session.execute(select(func.count()).select_from(AuditLog)).scalar_one() == 1


def test_a_saved_points_name_reaches_the_storefront_of_that_shop_only(
    app: Any, admin: Admin, demo_shop: Any, other_admin_shop: Any
) -> None:
    signer = ShopifySigner(api_key=DEV_API_KEY, api_secret=DEV_API_SECRET)
    client = app.test_client()
    # The member's and the programme's name; the programme is kept per process under the shop row's version.
    panel = {"query": "query Names { me { points_name } programme { points_name ways_to_earn { description } } }"}

    def storefront(shop: str) -> dict:
        token = signer.session_token(shop=shop, customer_id="7393829330")
        response = client.post("/graphql", json=panel, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.get_json()
        return response.get_json()["data"]

    before = storefront(DEMO_SHOP)  # keeps the programme under the shop row's current version
    assert (before["me"]["points_name"], before["programme"]["points_name"]) == ("Points", "Points")
    assert before["programme"]["ways_to_earn"][0]["description"].startswith("Customers earn 500 Points")

    assert admin.post("/admin/settings/", form_of(admin, points_name="Stars")).status_code == 200
    after = storefront(DEMO_SHOP)
    assert (after["me"]["points_name"], after["programme"]["points_name"]) == ("Stars", "Stars")
    assert after["programme"]["ways_to_earn"][0]["description"].startswith("Customers earn 500 Stars")
    assert storefront(other_admin_shop.domain)["programme"]["points_name"] == "Points"  # its own name

    other_admin = Admin(app, other_admin_shop.domain)
    assert other_admin.post("/admin/settings/", form_of(other_admin, points_name="Coins")).status_code == 200
    assert storefront(other_admin_shop.domain)["programme"]["points_name"] == "Coins"
    assert storefront(DEMO_SHOP)["programme"]["points_name"] == "Stars"


def test_test_orders_earn_only_when_the_merchant_ticks_it(admin: Admin, demo_shop: Any) -> None:
    """The box the processing reads (app.loyalty.processing: a `test: true` order earns nothing unless it is on)."""
    assert admin.post("/admin/settings/", form_of(admin, test_orders_earn="1")).status_code == 200
    db.session.expire_all()
    assert db.session.get(Shop, demo_shop.id).test_orders_earn is True
    page = admin.get("/admin/settings/").get_data(as_text=True)
    assert 'name="test_orders_earn"' in page and "checked" in page.split('name="test_orders_earn"')[1].split(">")[0]

    assert admin.post("/admin/settings/", form_of(admin)).status_code == 200  # an unticked box is not sent
    db.session.expire_all()
    assert db.session.get(Shop, demo_shop.id).test_orders_earn is False
    audit = db.session.scalars(
        select(AuditLog).where(AuditLog.action == "settings_changed").order_by(AuditLog.id)
    ).all()
    assert [(row.details["before"]["test_orders_earn"], row.details["after"]["test_orders_earn"]) for row in audit] == [
        (False, True),
        (True, False),
    ]
