"""Referrals in the admin: programme settings through the referrals service (audited, errors by field), and the
conversions with the review queue of blocked ones and their reasons, of this shop only."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.loyalty.referrals.settings import settings_for
from app.models import AuditLog, ReferralConversion, ReferralLink, Shop
from tests.admin.conftest import Admin, add_member

SETTINGS = {
    "enabled": "1",
    "advocate_points": "500",
    "friend_points": "200",
    "friend_reward_id": "",
    "max_conversions_per_day": "3",
    "min_order_amount": "25.00",
    "landing_parameter": "ref",
}


def save_settings(admin: Admin, form: dict[str, str]) -> Any:
    """Save the referral settings `form` from a freshly opened referrals page (with its fingerprint)."""
    page = admin.get("/admin/referrals/").get_data(as_text=True)
    seen = page.split('name="fingerprint" value="')[1].split('"')[0]
    return admin.post("/admin/referrals/settings", form | {"fingerprint": seen})


def conversion(shop: Shop, advocate: Any, friend: Any, order_id: str, status: str, reason: str | None = None) -> int:
    link = db.session.execute(select(ReferralLink).where(ReferralLink.profile_id == advocate.id)).scalar_one_or_none()
    if link is None:
        link = ReferralLink(shop_id=shop.id, profile_id=advocate.id, code=f"REF-{advocate.id}")
        db.session.add(link)
        db.session.flush()
    row = ReferralConversion(
        shop_id=shop.id,
        link_id=link.id,
        advocate_profile_id=advocate.id,
        friend_profile_id=friend.id,
        order_id=order_id,
        status=status,
        block_reason=reason,
        created_at=datetime.now(timezone.utc),
    )
    db.session.add(row)
    db.session.commit()
    return row.id


def test_settings_are_saved_and_audited(admin: Admin, demo_shop: Any) -> None:
    response = save_settings(admin, SETTINGS)
    assert response.status_code == 200 and "Referral settings saved" in response.headers["HX-Trigger"]
    db.session.expire_all()
    saved = settings_for(db.session.get(Shop, demo_shop.id))
    assert (saved.advocate_points, saved.friend_points, saved.max_conversions_per_day) == (500, 200, 3)
    audit = db.session.execute(select(AuditLog).where(AuditLog.action == "referral_settings_changed")).scalar_one()
    assert audit.details["before"]["advocate_points"] == 0 and audit.details["after"]["advocate_points"] == 500


def test_bad_settings_are_named_by_field(admin: Admin, demo_shop: Any, other_admin_shop: Any) -> None:
    for changes, field, message in [
        ({"advocate_points": "-1"}, "advocate_points", "-1 is too small. Enter a whole number from 0 to 1,000,000,000"),
        ({"max_conversions_per_day": "0"}, "max_conversions_per_day", "Enter a whole number from 1 to 2,147,483,647"),
        ({"min_order_amount": "lots"}, "min_order_amount", "“lots” is not a number"),
        ({"landing_parameter": "no way"}, "landing_parameter", "must be a simple name"),
        ({"friend_points": "1.5"}, "friend_points", "Enter a whole number"),
    ]:
        response = save_settings(admin, {**SETTINGS, **changes})
        html = response.get_data(as_text=True)
        assert response.status_code == 422, (changes, html)
        assert f'id="field-{field}Error"' in html and message in html
    from app.loyalty import rewards

    theirs = rewards.create_reward(
        db.session,
        shop_id=other_admin_shop.id,
        spec=rewards.RewardSpec(name="Theirs", kind="free_shipping", points_cost=1),
    )
    db.session.commit()
    assert save_settings(admin, {**SETTINGS, "friend_reward_id": str(theirs.id)}).status_code == 404
    db.session.expire_all()
    assert db.session.get(Shop, demo_shop.id).referral_settings == {}


def test_the_review_queue_lists_blocked_conversions_with_their_reason(
    admin: Admin, demo_shop: Any, other_admin_shop: Any
) -> None:
    ada = add_member(db.session, demo_shop, "7001", email="ada@example.com", name="Ada Lovelace")
    bob = add_member(db.session, demo_shop, "7002", email="bob@example.com", name="Bob Friend")
    eve = add_member(db.session, other_admin_shop, "9001", email="eve@other.example", name="Eve Other")
    mal = add_member(db.session, other_admin_shop, "9002", email="mal@other.example", name="Mal Other")
    conversion(demo_shop, ada, bob, "5001", "rewarded")
    conversion(demo_shop, ada, bob, "5002", "blocked", "daily_limit: 4 conversions today, the limit is 3")
    conversion(other_admin_shop, eve, mal, "6001", "blocked", "self_referral: same address")
    queue = admin.get("/admin/referrals/?status=blocked").get_data(as_text=True)
    assert "daily_limit: 4 conversions today" in queue and "5001" not in queue
    assert "Review queue (1)" in queue and "eve@other.example" not in queue and "self_referral" not in queue
    everything = admin.get("/admin/referrals/").get_data(as_text=True)
    assert "5001" in everything and "6001" not in everything
    assert admin.get("/admin/referrals/?status=lost").status_code == 400


def test_a_settings_save_from_a_page_opened_before_another_save_is_refused(admin: Admin, demo_shop: Any) -> None:
    """Two admins open the referrals page; the first turns the programme on with its rewards. The second's save, from
    a page that still shows the programme off, would silently put back what it showed: it is refused instead."""
    page = admin.get("/admin/referrals/").get_data(as_text=True)
    seen = page.split('name="fingerprint" value="')[1].split('"')[0]
    assert admin.post("/admin/referrals/settings", SETTINGS | {"fingerprint": seen}).status_code == 200
    stale = {**SETTINGS, "enabled": "", "advocate_points": "50", "fingerprint": seen}
    for _ in range(2):  # the refused form keeps its fingerprint: saving it again is refused again
        response = admin.post("/admin/referrals/settings", stale)
        html = response.get_data(as_text=True)
        assert response.status_code == 409, html
        assert "The referral settings were changed since you opened the page" in html
        assert 'value="50"' in html  # what they typed is kept
        stale["fingerprint"] = html.split('name="fingerprint" value="')[1].split('"')[0]
    db.session.expire_all()
    saved = settings_for(db.session.get(Shop, demo_shop.id))
    assert (saved.enabled, saved.advocate_points, saved.friend_points) == (True, 500, 200)
    assert len(db.session.execute(select(AuditLog).where(AuditLog.action == "referral_settings_changed")).all()) == 1

    assert save_settings(admin, stale).status_code == 200  # from a reloaded page, the change saves
    db.session.expire_all()
    assert settings_for(db.session.get(Shop, demo_shop.id)).advocate_points == 50
