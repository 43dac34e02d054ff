"""Customers in the admin: search, profile and ledger, adjusting points (ledger entry + audit row in one
transaction, once per form), bad input, and the tenant boundary."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog, PointsTransaction
from tests.admin.conftest import Admin, add_member


def test_search_finds_by_email_name_and_shopify_id_and_pages_by_keyset(admin: Admin, demo_shop: Any) -> None:
    add_member(db.session, demo_shop, "7000000000000000001", email="ada@example.com", name="Ada Lovelace", points=50)
    add_member(db.session, demo_shop, "7000000000000000002", email="alan@example.com", name="Alan Turing")
    for path, expected, absent in [
        ("/admin/customers/?q=ada@", "Ada Lovelace", "Alan Turing"),
        ("/admin/customers/?q=turing", "Alan Turing", "Ada Lovelace"),
        ("/admin/customers/?q=gid://shopify/Customer/7000000000000000001", "Ada Lovelace", "Alan Turing"),
    ]:
        html = admin.fragment(path).get_data(as_text=True)
        assert expected in html and absent not in html, path
    nothing = admin.fragment("/admin/customers/?q=nobody").get_data(as_text=True)
    assert "No customers match" in nothing
    for number in range(30):
        add_member(db.session, demo_shop, f"8{number:03d}", email=f"c{number}@example.com", name=f"Member {number}")
    first = admin.get("/admin/customers/").get_data(as_text=True)
    assert "Member 29" in first and "Ada Lovelace" not in first and 'rel="next"' in first
    assert admin.get("/admin/customers/?after=abc").status_code == 400


def test_adjusting_points_posts_one_entry_and_one_audit_row(admin: Admin, demo_shop: Any) -> None:
    profile = add_member(db.session, demo_shop, "7000000000000000001", email="ada@example.com", name="Ada Lovelace")
    key = uuid.uuid4().hex
    form = {"points": "250", "reason": "Goodwill after a late parcel", "idempotency_key": key}
    response = admin.post("/admin/customers/7000000000000000001/adjustments", form)
    assert response.status_code == 200, response.get_data(as_text=True)
    html = response.get_data(as_text=True)
    assert "Goodwill after a late parcel" in html and "adjusted by staff:1" in html and "+250" in html
    assert "points applied" in response.headers["HX-Trigger"]
    again = admin.post("/admin/customers/7000000000000000001/adjustments", form)  # a double click
    assert again.status_code == 200 and "Already applied" in again.headers["HX-Trigger"]
    db.session.expire_all()
    entries = db.session.execute(select(PointsTransaction).where(PointsTransaction.profile_id == profile.id)).scalars()
    assert [(e.points, e.actor) for e in entries] == [(250, "staff:1")]
    audit = db.session.execute(select(AuditLog).where(AuditLog.action == "points_adjusted")).scalar_one()
    assert (audit.actor, audit.subject_id) == ("staff:1", str(profile.id))
    assert audit.details == {
        "before": {"balance": 0},
        "after": {"balance": 250, "points": 250, "reason": "Goodwill after a late parcel"},
    }


def test_bad_adjustments_say_what_is_wrong_next_to_the_field_and_write_nothing(admin: Admin, demo_shop: Any) -> None:
    add_member(db.session, demo_shop, "7000000000000000001", email="ada@example.com", name="Ada Lovelace", points=10)
    url = "/admin/customers/7000000000000000001/adjustments"
    cases = [
        ({"points": "ten", "reason": "x"}, 422, "Enter a whole number"),
        ({"points": "\u00b2", "reason": "x"}, 422, "Enter a whole number"),  # isdigit() says yes, int() refuses
        ({"points": "0", "reason": "x"}, 422, "Enter a number other than 0"),
        ({"points": "5", "reason": "  "}, 422, "Say why"),
        ({"points": "-50", "reason": "Oops"}, 409, "has 10 points; this needs 50"),
    ]
    for form, status, message in cases:
        response = admin.post(url, {**form, "idempotency_key": uuid.uuid4().hex})
        html = response.get_data(as_text=True)
        assert response.status_code == status, (form, html)
        assert message in html and 'aria-invalid="true"' in html, form
    missing_key = admin.post(url, {"points": "5", "reason": "x"})
    assert missing_key.status_code == 422 and "idempotency key" in missing_key.get_json()["message"]
    assert db.session.execute(select(func.count()).select_from(AuditLog)).scalar_one() == 0
    assert db.session.execute(select(func.count()).select_from(PointsTransaction)).scalar_one() == 1


def test_a_write_without_the_session_token_header_is_refused(admin: Admin, demo_shop: Any, app: Any) -> None:
    """CSRF: a page load's id_token in the URL is good for GET only; a forged form post carries no Bearer."""
    add_member(db.session, demo_shop, "7000000000000000001", email="ada@example.com", name="Ada Lovelace")
    from app.shopify.development import sign_app_home_token

    token = sign_app_home_token(app.config["SETTINGS"])
    response = admin.client.post(
        f"/admin/customers/7000000000000000001/adjustments?id_token={token}",
        data={"points": "5", "reason": "x", "idempotency_key": uuid.uuid4().hex},
    )
    assert response.status_code == 403 and "session token" in response.get_json()["message"]
    assert db.session.execute(select(func.count()).select_from(PointsTransaction)).scalar_one() == 0


def test_another_shops_customers_are_not_found_and_not_changed(
    admin: Admin, app: Any, demo_shop: Any, other_admin_shop: Any
) -> None:
    add_member(
        db.session, other_admin_shop, "9000000000000000001", email="eve@other.example", name="Eve Other", points=40
    )
    add_member(db.session, demo_shop, "7000000000000000001", email="ada@example.com", name="Ada Lovelace")
    assert "Eve Other" not in admin.get("/admin/customers/").get_data(as_text=True)
    assert "Eve Other" not in admin.fragment("/admin/customers/?q=eve").get_data(as_text=True)
    for path in [
        "/admin/customers/9000000000000000001",
        "/admin/customers/9000000000000000001/ledger",
        "/admin/customers/9000000000000000001/export.json",
        "/admin/customers/ledger.csv?customer_id=9000000000000000001",
    ]:
        assert admin.get(path).status_code == 404, path
    response = admin.post(
        "/admin/customers/9000000000000000001/adjustments",
        {"points": "-40", "reason": "steal", "idempotency_key": uuid.uuid4().hex},
    )
    assert response.status_code == 404
    assert "9000000000000000001" not in admin.get("/admin/customers/ledger.csv").get_data(as_text=True)
    other = Admin(app, shop=other_admin_shop.domain)
    assert "Eve Other" in other.get("/admin/customers/").get_data(as_text=True)
    assert "Ada Lovelace" not in other.get("/admin/customers/").get_data(as_text=True)
    db.session.expire_all()
    assert db.session.execute(select(func.sum(PointsTransaction.points))).scalar_one() == 40


def test_cancelling_an_unused_code_returns_its_points_once(admin: Admin, demo_shop: Any) -> None:
    from datetime import datetime, timezone

    from app.loyalty import rewards
    from app.models import CustomerLoyaltyProfile, Outbox, RedemptionLog

    now = datetime.now(timezone.utc)
    ada = add_member(db.session, demo_shop, "7001", email="ada@example.com", name="Ada Lovelace", points=1000)
    add_member(db.session, demo_shop, "7002", email="alan@example.com", name="Alan Turing", points=1000)
    reward = rewards.create_reward(
        db.session,
        shop_id=demo_shop.id,
        spec=rewards.RewardSpec(name="$5 off", kind="fixed_amount", points_cost=500, value="5"),
    )
    posted = rewards.redeem_reward(db.session, shop=demo_shop, customer_id="7001", reward_id=reward.id, now=now)
    rewards.settle(db.session, shop_id=demo_shop.id, redemption_id=posted.redemption.id, now=now)
    pending = rewards.redeem_reward(db.session, shop=demo_shop, customer_id="7002", reward_id=reward.id, now=now)
    db.session.commit()
    code = posted.redemption.code
    assert code in admin.get("/admin/customers/7001").get_data(as_text=True)

    # Another customer's code through this customer's page is not found; a code still pending cannot be cancelled.
    assert admin.post(f"/admin/customers/7001/redemptions/{pending.redemption.id}/cancel").status_code == 404
    refused = admin.post(f"/admin/customers/7002/redemptions/{pending.redemption.id}/cancel")
    assert refused.status_code == 409 and "only an unused code can be cancelled" in refused.get_json()["message"]

    response = admin.post(f"/admin/customers/7001/redemptions/{posted.redemption.id}/cancel")
    assert response.status_code == 204 and f"Code {code} cancelled" in response.headers["HX-Trigger"]
    assert admin.post(f"/admin/customers/7001/redemptions/{posted.redemption.id}/cancel").status_code == 204
    db.session.expire_all()
    assert db.session.get(CustomerLoyaltyProfile, ada.id).points_balance == 1000
    assert db.session.get(RedemptionLog, posted.redemption.id).status == "cancelled"
    assert (
        db.session.execute(
            select(func.count()).select_from(Outbox).where(Outbox.kind == "discount_code.deactivate")
        ).scalar_one()
        == 1
    )
    [cancelled] = db.session.execute(select(AuditLog).where(AuditLog.action == "reward_cancelled")).scalars().all()
    assert cancelled.details == {
        "before": {"status": "posted"},
        "after": {"status": "cancelled", "points_returned": 500, "code": code},
    }
