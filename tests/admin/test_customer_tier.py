"""Setting a customer's tier by hand in the admin: audited, cleared again, bad input next to the field, tenant
boundary."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog, CustomerLoyaltyProfile, EventQueue, TierDefinition
from tests.admin.conftest import Admin, add_member

URL = "/admin/customers/7000000000000000001/tier"


def top_tier(shop: Any) -> TierDefinition:
    query = select(TierDefinition).where(TierDefinition.shop_id == shop.id).order_by(TierDefinition.level.desc())
    return db.session.execute(query).scalars().first()


def test_setting_and_clearing_a_tier_by_hand_is_shown_and_audited(admin: Admin, demo_shop: Any) -> None:
    profile = add_member(db.session, demo_shop, "7000000000000000001", email="ada@example.com", name="Ada Lovelace")
    tier = top_tier(demo_shop)
    until = (date.today() + timedelta(days=30)).isoformat()
    page = admin.get("/admin/customers/7000000000000000001").get_data(as_text=True)
    assert 'name="tier_id"' in page and 'name="until"' in page

    response = admin.post(URL, {"tier_id": str(tier.id), "until": until})
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    assert (
        f"Set by hand to {tier.name} until {until} (staff:1)" in html
        and "Tier set by hand" in response.headers["HX-Trigger"]
    )
    db.session.expire_all()
    stored = db.session.get(CustomerLoyaltyProfile, profile.id)
    assert (stored.current_tier_id, stored.manual_tier_id, stored.manual_tier_set_by) == (tier.id, tier.id, "staff:1")

    cleared = admin.post(URL, {"clear": "1"})
    assert cleared.status_code == 200 and "Set by hand" not in cleared.get_data(as_text=True)
    db.session.expire_all()
    stored = db.session.get(CustomerLoyaltyProfile, profile.id)
    # Back on the tier a member with no points earns: the ladder's free entry tier, if it has one.
    free = select(TierDefinition.id).where(TierDefinition.shop_id == demo_shop.id, TierDefinition.threshold <= 0)
    earned = db.session.execute(free.order_by(TierDefinition.level.desc())).scalars().first()
    assert (stored.current_tier_id, stored.manual_tier_id) == (earned, None) and earned != tier.id
    audits = db.session.execute(select(AuditLog).where(AuditLog.action == "tier_set_by_hand").order_by(AuditLog.id))
    details = [a.details for a in audits.scalars()]
    assert [d["after"]["tier_id"] for d in details] == [tier.id, None]
    assert details[0]["before"] == {"tier_id": None, "until": None}


def test_bad_tier_input_is_a_422_next_to_the_field_and_changes_nothing(
    admin: Admin, demo_shop: Any, other_admin_shop: Any
) -> None:
    profile = add_member(db.session, demo_shop, "7000000000000000001", email="ada@example.com", name="Ada Lovelace")
    foreign = TierDefinition(shop_id=other_admin_shop.id, name="Foreign", level=9, threshold=1)
    db.session.add(foreign)
    db.session.commit()
    tier = top_tier(demo_shop)
    future = (date.today() + timedelta(days=30)).isoformat()
    cases = [
        ({"tier_id": str(foreign.id), "until": future}, "no tier"),
        ({"tier_id": "abc", "until": future}, "Choose a tier"),
        ({"tier_id": str(tier.id), "until": "next week"}, "Enter a day as YYYY-MM-DD"),
        ({"tier_id": str(tier.id), "until": "2020-01-01"}, "is in the past"),
    ]
    for form, message in cases:
        response = admin.post(URL, form)
        html = response.get_data(as_text=True)
        assert response.status_code == 422, (form, html)
        assert message in html and 'aria-invalid="true"' in html, form
    db.session.expire_all()
    stored = db.session.get(CustomerLoyaltyProfile, profile.id)
    assert (stored.manual_tier_id, stored.current_tier_id) == (None, profile.current_tier_id)
    assert db.session.execute(select(func.count()).select_from(AuditLog)).scalar_one() == 0
    tier_events = select(func.count()).select_from(EventQueue).where(EventQueue.event_type == "tier_changed")
    assert db.session.execute(tier_events).scalar_one() == 0


def test_clearing_when_nothing_was_set_by_hand_changes_and_audits_nothing(admin: Admin, demo_shop: Any) -> None:
    profile = add_member(db.session, demo_shop, "7000000000000000001", email="ada@example.com", name="Ada Lovelace")
    response = admin.post(URL, {"clear": "1"})
    assert response.status_code == 200 and "No tier was set by hand" in response.headers["HX-Trigger"]
    db.session.expire_all()
    stored = db.session.get(CustomerLoyaltyProfile, profile.id)
    assert (stored.manual_tier_id, stored.current_tier_id) == (None, profile.current_tier_id)
    assert db.session.execute(select(func.count()).select_from(AuditLog)).scalar_one() == 0


def test_setting_the_same_override_again_says_so_and_is_audited(admin: Admin, demo_shop: Any) -> None:
    """A repeat is still a staff action (who set it is part of it): the toast confirms it and the audit records it."""
    add_member(db.session, demo_shop, "7000000000000000001", email="ada@example.com", name="Ada Lovelace")
    form = {"tier_id": str(top_tier(demo_shop).id), "until": (date.today() + timedelta(days=30)).isoformat()}
    for _ in range(2):
        response = admin.post(URL, form)
        assert response.status_code == 200 and "Tier set by hand" in response.headers["HX-Trigger"]
    audits = select(func.count()).select_from(AuditLog).where(AuditLog.action == "tier_set_by_hand")
    assert db.session.execute(audits).scalar_one() == 2


def test_an_override_past_its_last_day_is_not_shown_as_holding(admin: Admin, demo_shop: Any) -> None:
    profile = add_member(db.session, demo_shop, "7000000000000000001", email="ada@example.com", name="Ada Lovelace")
    stored = db.session.get(CustomerLoyaltyProfile, profile.id)
    stored.manual_tier_id = top_tier(demo_shop).id
    stored.manual_tier_until = datetime.now(timezone.utc) - timedelta(hours=1)  # ended; the sweep has not run yet
    stored.manual_tier_set_by = "staff:1"
    db.session.commit()
    page = admin.get("/admin/customers/7000000000000000001").get_data(as_text=True)
    assert "Set by hand" not in page


def test_another_shops_customer_is_not_found(admin: Admin, demo_shop: Any, other_admin_shop: Any) -> None:
    eve = add_member(db.session, other_admin_shop, "9000000000000000001", email="eve@other.example", name="Eve")
    response = admin.post(
        "/admin/customers/9000000000000000001/tier",
        {"tier_id": str(top_tier(demo_shop).id), "until": (date.today() + timedelta(days=3)).isoformat()},
    )
    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.get(CustomerLoyaltyProfile, eve.id).manual_tier_id is None


def test_the_tier_card_names_the_earned_tier_an_override_gives_way_to(admin: Admin, demo_shop: Any) -> None:
    """A rolling-window member on Silver by their own doing, set to Gold by hand: the card shows Gold and names the
    earned Silver with its review day; clearing the override puts Silver back with that same review day."""
    from app.loyalty import ledger, tiers

    demo_shop.tier_period = "rolling_12_months"
    db.session.commit()
    profile = add_member(
        db.session, demo_shop, "7000000000000000001", email="ada@example.com", name="Ada L", points=1200
    )
    locked = ledger.lock_existing_profile(db.session, shop_id=demo_shop.id, customer_id=profile.customer_id)
    tiers.evaluate_upgrade(db.session, shop=demo_shop, profile=locked, now=datetime.now(timezone.utc), reason="seed")
    db.session.commit()
    review = db.session.get(CustomerLoyaltyProfile, profile.id).tier_review_at
    gold = top_tier(demo_shop)

    response = admin.post(URL, {"tier_id": str(gold.id), "until": (date.today() + timedelta(days=30)).isoformat()})
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    assert (
        "Gold</span>" in html
        and f"Earned tier, theirs again when this ends: Silver, next reviewed on {review:%Y-%m-%d}." in html
    )

    cleared = admin.post(URL, {"clear": "1"}).get_data(as_text=True)
    assert "Silver</span>" in cleared and "Set by hand" not in cleared
    db.session.expire_all()
    stored = db.session.get(CustomerLoyaltyProfile, profile.id)
    assert (stored.current_tier_id, stored.earned_tier_id, stored.tier_review_at) == (
        stored.earned_tier_id,
        next(t.id for t in tiers.ladder(db.session, shop_id=demo_shop.id) if t.name == "Silver"),
        review,
    )
    moves = db.session.execute(
        select(EventQueue.payload).where(EventQueue.event_type == "tier_changed").order_by(EventQueue.id)
    ).scalars()
    assert [p["to_tier"]["name"] for p in moves] == ["Silver", "Gold", "Silver"]
