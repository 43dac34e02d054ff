"""Referral links, clicks, conversions and every fraud check (each blocked with its reason, nothing credited)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.events import inbox
from app.loyalty import ledger, referrals
from app.loyalty.base.errors import InvalidInput, ReferralNotFound
from app.loyalty.referrals.settings import update_settings
from app.models import (
    CustomerLoyaltyProfile,
    EventQueue,
    Outbox,
    PendingCredit,
    PointsTransaction,
    RedemptionLog,
    ReferralConversion,
    Shop,
)
from tests.loyalty.ledger_helpers import add_order
from tests.loyalty.rewards_helpers import balance, make_reward

ADDRESS = {"address1": "12 Rue de la Paix", "zip": "75002", "country_code": "FR", "city": "Paris"}


@pytest.fixture
def programme(db_session: Session, shop: Shop) -> Shop:
    update_settings(
        db_session,
        shop=shop,
        changes={"advocate_points": 500, "friend_points": 200, "max_conversions_per_day": 2, "min_order_amount": "30"},
    )
    return shop


def member(session: Session, shop: Shop, customer_id: str, email: str | None, now: datetime) -> CustomerLoyaltyProfile:
    profile = ledger.lock_profile(session, shop_id=shop.id, customer_id=customer_id, now=now)
    profile.email = email
    session.flush()
    return profile


def order(order_id: str, code: str | None = None, subtotal: str = "50.00", **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": int(order_id),
        "subtotal_price": subtotal,
        "total_price": subtotal,
        "discount_codes": [{"code": code, "amount": "5.00", "type": "fixed_amount"}] if code else [],
    }
    payload.update(extra)
    return payload


def convert(session: Session, shop: Shop, friend: CustomerLoyaltyProfile, payload: dict[str, Any], now: datetime):
    profile = ledger.lock_profile(session, shop_id=shop.id, customer_id=friend.customer_id, now=now)
    return referrals.convert_from_order(
        session, shop=shop, friend_profile=profile, order=payload, event_id=uuid.uuid4(), now=now
    )


def referral_entries(session: Session) -> int:
    return session.execute(
        select(func.count(PointsTransaction.id)).where(PointsTransaction.kind == "referral")
    ).scalar_one()


def test_link_is_stable_and_names_no_person(db_session: Session, programme: Shop, now: datetime) -> None:
    advocate = member(db_session, programme, "1", "alice@example.com", now)
    link = referrals.link_for(db_session, shop=programme, profile=advocate, now=now)
    assert re.fullmatch(r"REF-[A-Z2-7]{13}", link.code)
    assert link.url == f"https://test-shop.myshopify.com/?ref={link.code}"
    assert referrals.link_for(db_session, shop=programme, profile=advocate, now=now) == link


def test_clicks_keep_a_salted_ip_hash_only(
    db_session: Session, programme: Shop, other_shop: Shop, now: datetime
) -> None:
    link = referrals.link_for(
        db_session, shop=programme, profile=member(db_session, programme, "1", None, now), now=now
    )
    click = referrals.record_click(
        db_session,
        shop=programme,
        code=link.code.lower(),
        ip="203.0.113.9",
        user_agent="Mozilla/5.0 " + "x" * 900,
        landing_page="/products/tea?ref=1",
        now=now,
    )
    again = referrals.record_click(
        db_session, shop=programme, code=link.code, ip="203.0.113.9", user_agent=None, landing_page=None, now=now
    )
    assert click.ip_hash == again.ip_hash and re.fullmatch(r"[0-9a-f]{64}", click.ip_hash)
    assert "203.0.113.9" not in click.ip_hash and len(click.user_agent) == 512
    assert (click.landing_page, click.clicked_at) == ("/products/tea?ref=1", now)
    with pytest.raises(ReferralNotFound):
        referrals.record_click(
            db_session, shop=other_shop, code=link.code, ip=None, user_agent=None, landing_page=None, now=now
        )


@pytest.mark.parametrize(
    "carrier",
    ["discount_code", "note_attribute", "landing_site"],
)
def test_a_first_order_with_the_code_rewards_both_once(
    db_session: Session, programme: Shop, now: datetime, carrier: str
) -> None:
    advocate = member(db_session, programme, "1", "alice@example.com", now)
    friend = member(db_session, programme, "2", "bob@example.org", now)
    code = referrals.link_for(db_session, shop=programme, profile=advocate, now=now).code
    if carrier == "discount_code":
        payload = order("5001", code)
    elif carrier == "note_attribute":
        payload = order("5001", note_attributes=[{"name": "Referral", "value": code.lower()}])
    else:
        payload = order("5001", landing_site=f"/collections/all?utm_source=x&ref={code}")
    add_order(db_session, programme, friend, "5001", "50.00", now)

    result = convert(db_session, programme, friend, payload, now)
    assert result is not None
    assert (result.status, result.block_reason, result.advocate_points, result.friend_points, result.replayed) == (
        "rewarded",
        None,
        500,
        200,
        False,
    )
    assert (balance(db_session, advocate.id), balance(db_session, friend.id)) == (500, 200)
    db_session.expire_all()
    assert db_session.get(CustomerLoyaltyProfile, friend.id).referred_by_profile_id == advocate.id
    replay = convert(db_session, programme, friend, payload, now)
    assert replay.replayed and replay.conversion.id == result.conversion.id
    assert (balance(db_session, advocate.id), referral_entries(db_session)) == (500, 2)
    event = db_session.execute(select(EventQueue).where(EventQueue.event_type == "referral_converted")).scalar_one()
    assert (event.customer_id, event.payload["order_id"]) == ("1", "5001")


def test_orders_without_a_known_code_are_not_referrals(db_session: Session, programme: Shop, now: datetime) -> None:
    friend = member(db_session, programme, "2", None, now)
    assert convert(db_session, programme, friend, order("5001", "SUMMER10"), now) is None
    assert convert(db_session, programme, friend, order("5002"), now) is None
    assert db_session.execute(select(func.count(ReferralConversion.id))).scalar_one() == 0


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("same_customer", "self_referral: the friend is the advocate"),
        ("same_email", "self_referral: same email as the advocate"),
        ("email_variant", "self_referral: a variant of the advocate's email"),
        ("order_email_variant", "self_referral: a variant of the advocate's email"),
        ("same_address", "self_referral: ships to the advocate's address"),
        # The advocate's order was weeks ago: its event has moved to the inbox's archive.
        ("same_address_archived", "self_referral: ships to the advocate's address"),
        ("not_first_order", "not_first_order: the friend is not a first-time customer"),
        ("under_minimum", "order_below_minimum: 29.99 is under the minimum of 30"),
    ],
)
def test_fraud_checks_block_with_their_reason_and_credit_nothing(
    db_session: Session, programme: Shop, now: datetime, case: str, reason: str
) -> None:
    advocate = member(db_session, programme, "1", "Alice.Smith@gmail.com", now)
    code = referrals.link_for(db_session, shop=programme, profile=advocate, now=now).code
    friend_email = {"same_email": "alice.smith@GMAIL.com", "email_variant": "alicesmith+deal@googlemail.com"}.get(
        case, "bob@example.org"
    )
    friend = (
        advocate
        if case == "same_customer"
        else member(db_session, programme, "2", None if case == "order_email_variant" else friend_email, now)
    )
    payload = order(
        "5001",
        code,
        subtotal="29.99" if case == "under_minimum" else "50.00",
        email="a.lice.smith+x@gmail.com" if case == "order_email_variant" else None,
        shipping_address={**ADDRESS, "address1": "12 rue de la paix "},
    )
    if case in ("same_address", "same_address_archived"):
        db_session.add(
            EventQueue(
                event_id=uuid.uuid4(),
                shop_id=programme.id,
                event_type="order_created",
                customer_id="1",
                payload={"id": 1, "shipping_address": ADDRESS},
                occurred_at=now - timedelta(days=40),
                status="processed",
            )
        )
        db_session.flush()
    if case == "same_address_archived":
        assert inbox.archive_processed(db_session, older_than=datetime.now(timezone.utc) + timedelta(days=1)) == 1
    if case == "not_first_order":
        add_order(db_session, programme, friend, "4000", "80.00", now - timedelta(days=90))
    db_session.flush()

    result = convert(db_session, programme, friend, payload, now)
    assert result is not None
    assert (result.status, result.block_reason, result.advocate_points, result.friend_points) == (
        "blocked",
        reason,
        0,
        0,
    )
    stored = db_session.get(ReferralConversion, result.conversion.id)
    assert (stored.status, stored.block_reason, stored.order_id) == ("blocked", reason, "5001")
    assert referral_entries(db_session) == 0 and balance(db_session, advocate.id) == 0
    db_session.expire_all()
    if case != "same_customer":
        assert db_session.get(CustomerLoyaltyProfile, friend.id).referred_by_profile_id is None


def test_more_than_n_conversions_a_day_are_blocked(db_session: Session, programme: Shop, now: datetime) -> None:
    advocate = member(db_session, programme, "1", "alice@example.com", now)
    code = referrals.link_for(db_session, shop=programme, profile=advocate, now=now).code
    statuses = []
    for index, moment in enumerate(
        [now, now + timedelta(hours=1), now + timedelta(hours=2), now + timedelta(hours=25, minutes=1)]
    ):
        friend = member(db_session, programme, f"f{index}", f"friend{index}@example.org", now)
        result = convert(db_session, programme, friend, order(str(6000 + index), code), moment)
        statuses.append((result.status, result.block_reason))
    assert statuses == [
        ("rewarded", None),
        ("rewarded", None),
        ("blocked", "daily_limit: the advocate already has 2 conversions in the last 24 hours"),
        ("rewarded", None),
    ]
    assert balance(db_session, advocate.id) == 1_500


def test_a_rejected_conversion_is_not_counted_by_the_daily_limit(
    db_session: Session, programme: Shop, now: datetime
) -> None:
    advocate = member(db_session, programme, "1", "alice@example.com", now)
    code = referrals.link_for(db_session, shop=programme, profile=advocate, now=now).code
    results = []
    for index in range(3):
        friend = member(db_session, programme, f"f{index}", f"friend{index}@example.org", now)
        results.append(convert(db_session, programme, friend, order(str(6000 + index), code), now))
    assert [result.status for result in results] == ["rewarded", "rewarded", "blocked"]
    referrals.reject(db_session, shop=programme, conversion_id=results[2].conversion.id, staff="7", reason="x", now=now)
    friend = member(db_session, programme, "f3", "friend3@example.org", now)
    fourth = convert(db_session, programme, friend, order("6003", code), now)
    assert fourth.block_reason == "daily_limit: the advocate already has 2 conversions in the last 24 hours"


def test_rewards_follow_the_pending_window(db_session: Session, make_shop, now: datetime) -> None:  # type: ignore[no-untyped-def]
    shop = make_shop("held.myshopify.com", return_window_days=14)
    reward_id = make_reward(db_session, shop, name="Welcome", points_cost=100)
    update_settings(db_session, shop=shop, changes={"advocate_points": 300, "friend_reward_id": reward_id})
    advocate = member(db_session, shop, "1", "alice@example.com", now)
    friend = member(db_session, shop, "2", "bob@example.org", now)
    code = referrals.link_for(db_session, shop=shop, profile=advocate, now=now).code

    result = convert(db_session, shop, friend, order("7001", code), now)
    assert (result.status, result.advocate_points) == ("pending", 300)
    assert balance(db_session, advocate.id) == 0
    held = db_session.execute(select(PendingCredit)).scalar_one()
    assert (held.points, held.available_at, held.source_type) == (300, now + timedelta(days=14), "referral")
    assert db_session.execute(select(func.count(RedemptionLog.id))).scalar_one() == 0

    assert referrals.release_due(db_session, shop_id=shop.id, now=now + timedelta(days=13)) == []
    assert referrals.release_due(db_session, shop_id=shop.id, now=now + timedelta(days=14)) == [result.conversion.id]
    assert referrals.release_due(db_session, shop_id=shop.id, now=now + timedelta(days=15)) == []
    ledger.release_due(db_session, shop_id=shop.id, now=now + timedelta(days=14))
    db_session.expire_all()
    assert db_session.get(ReferralConversion, result.conversion.id).status == "rewarded"
    assert balance(db_session, advocate.id) == 300
    code_row = db_session.execute(select(RedemptionLog)).scalar_one()
    assert (code_row.profile_id, code_row.points_spent, code_row.reward_id) == (friend.id, 0, reward_id)
    assert (
        db_session.execute(select(func.count(Outbox.id)).where(Outbox.kind == "discount_code.create")).scalar_one() == 1
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"advocate_points": -5}, "referral_settings.advocate_points must be a whole number of at least 0, got -5"),
        (
            {"max_conversions_per_day": 0},
            "referral_settings.max_conversions_per_day must be a whole number of at least 1, got 0",
        ),
        ({"min_order_amount": "-1"}, "referral_settings.min_order_amount must not be negative"),
        ({"min_order_amount": "lots"}, "referral_settings.min_order_amount must be a number"),
        ({"min_order_amount": "Infinity"}, "referral_settings.min_order_amount must be a number"),
        ({"bonus": 1}, "referral_settings has unknown keys: bonus"),
    ],
)
def test_settings_are_validated(db_session: Session, shop: Shop, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        update_settings(db_session, shop=shop, changes=changes)
    assert str(refused.value) == message
    assert shop.referral_settings == {}


def test_email_normalisation() -> None:
    assert referrals.normalize_email("A.Lice+x@GoogleMail.com") == "alice@gmail.com"
    assert referrals.normalize_email("bob+tag@example.org") == "bob@example.org"
    assert referrals.normalize_email("b.ob@example.org") == "b.ob@example.org"
    assert referrals.normalize_email("not-an-email") is None
