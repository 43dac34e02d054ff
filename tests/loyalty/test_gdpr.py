"""GDPR: customers/redact leaves no personal data in any text or JSON column of any table, while the ledger keeps
its amounts; customers/data_request exports everything held; shop/redact deletes everything of one shop."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.events import inbox
from app.loyalty import gdpr, ledger, referrals, rewards
from app.loyalty.referrals.settings import update_settings
from app.models import (
    AuditLog,
    Base,
    CustomerLoyaltyProfile,
    DeadLetter,
    EventQueue,
    Outbox,
    PointsTransaction,
    Rule,
    RuleBacktest,
    RuleExecution,
    RuleVersion,
    Shop,
    WebhookDelivery,
)
from tests.loyalty.ledger_helpers import add_order
from tests.loyalty.rewards_helpers import balance, give_points, ledger_sum, make_reward

CUSTOMER = "8812345678901234567"  # above 2**53, as Shopify's ids are
EMAIL, FIRST, LAST, PHONE = "Zebulon.Quimbyfeather@example.net", "Zebulon", "Quimbyfeather", "+44 7700 900123"
OTHER = {"id": 5550001, "email": "ann.other@example.org", "first_name": "Ann", "last_name": "Other"}


def _customer_payload() -> dict[str, object]:
    return {
        "id": int(CUSTOMER),
        "email": EMAIL,
        "first_name": FIRST,
        "last_name": LAST,
        "phone": PHONE,
        "default_address": {"address1": "1 Quimbyfeather Lane", "zip": "AB1 2CD", "name": f"{FIRST} {LAST}"},
    }


def hits(session: Session, needle: str) -> list[str]:
    """Every table.column (text, varchar, json, jsonb) whose value contains `needle`, case-insensitive."""
    columns = session.execute(
        text(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND data_type IN ('text', 'character varying', 'json', 'jsonb') AND table_name <> 'alembic_version'"
        )
    ).all()
    assert {
        "customer_loyalty_profiles",
        "event_queue",
        "dead_letters",
        "audit_log",
        "referral_clicks",
        "rule_executions",
        "outbox",
        "webhook_deliveries",
        "points_transactions",
    } <= {t for t, _ in columns}
    found = []
    for table, column in columns:
        count = session.execute(
            text(f'SELECT count(*) FROM "{table}" WHERE "{column}"::text ILIKE :pattern'), {"pattern": f"%{needle}%"}
        ).scalar_one()
        if count:
            found.append(f"{table}.{column}")
    return found


@pytest.fixture
def customer_everywhere(db_session: Session, shop: Shop, now: datetime) -> CustomerLoyaltyProfile:
    """The customer's data in every place the app keeps any, plus another customer's order to leave alone."""
    profile = give_points(db_session, shop, CUSTOMER, 2_000, now)
    profile.email, profile.first_name, profile.last_name = EMAIL, FIRST, LAST
    profile.tags, profile.note = ["vip", f"{LAST}-family"], f"Call {FIRST} before shipping"
    reward_id = make_reward(db_session, shop, points_cost=500)
    redemption = rewards.redeem_reward(
        db_session, shop=shop, customer_id=CUSTOMER, reward_id=reward_id, now=now
    ).redemption
    add_order(db_session, shop, profile, "450789469", "75.00", now)
    # A merchant's free-text reason naming the customer: the one place personal data can reach the ledger.
    ledger.adjust_points(
        db_session,
        shop=shop,
        profile=profile,
        points=10,
        actor="merchant@shop.test",
        reason=f"goodwill: {FIRST} {LAST} called about a late parcel",
        idempotency_key="adj-1",
        now=now,
    )
    link = referrals.link_for(db_session, shop=shop, profile=profile, now=now)
    referrals.record_click(
        db_session,
        shop=shop,
        code=link.code,
        ip="198.51.100.7",
        user_agent=f"Mozilla/5.0 ({FIRST}'s iPhone)",
        landing_page=f"/?ref={link.code}&n={LAST}",
        now=now,
    )
    order_event = uuid.uuid4()
    db_session.add_all(
        [
            EventQueue(
                event_id=order_event,
                shop_id=shop.id,
                event_type="order_created",
                topic="orders/create",
                customer_id=CUSTOMER,
                occurred_at=now,
                payload={
                    "id": 450789469,
                    "email": EMAIL,
                    "browser_ip": "198.51.100.7",
                    "total_price": "75.00",
                    "customer": _customer_payload(),
                    "line_items": [{"name": "Tea", "quantity": 1}],
                    "shipping_address": {"name": f"{FIRST} {LAST}", "address1": "1 Quimbyfeather Lane", "phone": PHONE},
                },
            ),
            EventQueue(
                event_id=uuid.uuid4(),
                shop_id=shop.id,
                event_type="customers_redact",
                topic="customers/redact",
                customer_id=None,
                occurred_at=now,
                payload={
                    "shop_id": 954889,
                    "customer": {"id": int(CUSTOMER), "email": EMAIL, "phone": PHONE},
                    "orders_to_redact": [450789469],
                },
            ),
            EventQueue(
                event_id=uuid.uuid4(),
                shop_id=shop.id,
                event_type="refund_created",
                topic="refunds/create",
                customer_id=None,
                occurred_at=now,
                payload={"id": 9, "order_id": 450789469, "note": "damaged"},
            ),
            EventQueue(
                event_id=uuid.uuid4(),
                shop_id=shop.id,
                event_type="order_created",
                topic="orders/create",
                customer_id=str(OTHER["id"]),
                occurred_at=now,
                payload={"id": 1001, "email": OTHER["email"], "customer": OTHER, "total_price": "10.00"},
            ),
            DeadLetter(
                shop_id=shop.id,
                event_id=order_event,
                # A database error's detail quotes the values of the key it violated.
                error=f"UniqueViolation: Key (shop_id, email)=(1, {EMAIL.upper()}) already exists; customer {CUSTOMER}",
                fields={"customer_id": CUSTOMER, "event_data": json.dumps({"email": EMAIL, "name": f"{FIRST} {LAST}"})},
            ),
            DeadLetter(shop_id=shop.id, error=f"UniqueViolation: Key (email)=({OTHER['email']})", fields={}),
            AuditLog(
                shop_id=shop.id,
                actor="merchant@shop.test",
                action="points_adjusted",
                subject_type="profile",
                subject_id=str(profile.id),
                details={"customer_id": CUSTOMER, "note": f"goodwill for {FIRST} {LAST}"},
            ),
            WebhookDelivery(
                shop_id=shop.id,
                url="https://hooks.example.com",
                payload={"customer": {"email": EMAIL}},
                last_error=f"HTTP 422: {{'error': 'no subscriber {EMAIL} ({FIRST} {LAST})'}}",
            ),
            RuleBacktest(
                id=uuid.uuid4(),
                shop_id=shop.id,
                rule_name="Spend bonus",
                definition={"name": "Spend bonus", "actions": [{"type": "points", "amount": 1}]},
                starts_at=now,
                ends_at=now,
                status="done",
                created_by="staff:1",
                result={"top_customers": [{"customer_id": CUSTOMER, "points": 10, "baseline_points": 0}]},
            ),
        ]
    )
    rule = Rule(shop_id=shop.id, name="First order", definition={"name": "First order"})
    db_session.add(rule)
    db_session.flush()
    version = RuleVersion(shop_id=shop.id, rule_id=rule.id, version=1, definition={}, checksum="x")
    db_session.add(version)
    db_session.flush()
    db_session.add(
        RuleExecution(
            shop_id=shop.id,
            rule_id=rule.id,
            rule_version_id=version.id,
            event_id=order_event,
            profile_id=profile.id,
            fired=True,
            actions=[],
            duration_us=5,
            trace=[{"condition": "customer_tag", "saw": [f"{LAST}-family"]}, {"email": EMAIL}],
        )
    )
    db_session.commit()
    assert redemption.status == "pending"
    return profile


def test_export_holds_everything_about_the_customer_and_nothing_else(
    db_session: Session, shop: Shop, customer_everywhere: CustomerLoyaltyProfile
) -> None:
    export = gdpr.export_customer(db_session, shop_id=shop.id, customer_id=CUSTOMER)
    dumped = json.dumps(export)
    assert export["profile"]["email"] == EMAIL and export["profile"]["points_balance"] == 1_510
    assert [entry["points"] for entry in export["ledger"]] == [2_000, -500, 10]
    assert len(export["redemptions"]) == 1 and export["redemptions"][0]["points_spent"] == 500
    assert [o["order_id"] for o in export["orders"]] == ["450789469"]
    assert export["referral_clicks"] == 1 and export["referral_link"]["code"].startswith("REF-")
    assert [e["event_type"] for e in export["events"]] == ["reward_redeemed", "order_created"]
    assert export["events"][1]["payload"]["customer"]["email"] == EMAIL
    assert len(export["rule_executions"]) == 1 and len(export["audit_log"]) == 1
    assert OTHER["email"] not in dumped
    nobody = gdpr.export_customer(db_session, shop_id=shop.id, customer_id="404")
    assert (nobody["profile"], nobody["events"]) == (None, [])


def archive_all_events(db_session: Session) -> int:
    """Move every inbox row to the archive, as the hourly sweep does with processed rows some weeks old."""
    db_session.execute(update(EventQueue).values(status="processed"))
    moved = inbox.archive_processed(db_session, older_than=datetime.now(timezone.utc) + timedelta(days=1))
    db_session.commit()
    assert db_session.execute(select(func.count()).select_from(EventQueue)).scalar_one() == 0
    return moved


def test_archived_events_are_exported_and_redacted_like_the_inbox_s(
    db_session: Session, shop: Shop, customer_everywhere: CustomerLoyaltyProfile, now: datetime
) -> None:
    assert archive_all_events(db_session) >= 2
    exported = gdpr.export_customer(db_session, shop_id=shop.id, customer_id=CUSTOMER)
    assert [e["event_type"] for e in exported["events"]] == ["reward_redeemed", "order_created"]
    assert exported["events"][1]["payload"]["customer"]["email"] == EMAIL

    result = gdpr.redact_customer(
        db_session, shop_id=shop.id, customer_id=CUSTOMER, now=now + timedelta(days=10), email=EMAIL, phone=PHONE
    )
    db_session.commit()

    for needle in (EMAIL, FIRST, LAST, CUSTOMER, PHONE):
        assert hits(db_session, needle) == [], needle
    tombstoned = gdpr.export_customer(db_session, shop_id=shop.id, customer_id=result.tombstone)
    assert len(tombstoned["events"]) == 2


def test_redaction_leaves_no_personal_data_and_keeps_the_ledger(
    db_session: Session, shop: Shop, customer_everywhere: CustomerLoyaltyProfile, now: datetime
) -> None:
    profile_id = customer_everywhere.id
    before = ledger_sum(db_session, profile_id)
    for needle in (EMAIL, FIRST, LAST, CUSTOMER, PHONE):
        assert hits(db_session, needle), needle  # the fixture really put it somewhere

    result = gdpr.redact_customer(
        db_session,
        shop_id=shop.id,
        customer_id=CUSTOMER,
        now=now + timedelta(days=10),
        email=EMAIL,
        phone=PHONE,
        orders_to_redact=["450789469"],
    )
    db_session.commit()

    for needle in (EMAIL, EMAIL.lower(), FIRST, LAST, CUSTOMER, PHONE, "198.51.100.7", "Quimbyfeather Lane"):
        assert hits(db_session, needle) == [], needle
    profile = db_session.get(CustomerLoyaltyProfile, profile_id)
    assert profile.customer_id == result.tombstone and profile.customer_id.startswith("redacted:")
    assert (profile.email, profile.first_name, profile.last_name, profile.tags, profile.note) == (
        None,
        None,
        None,
        [],
        None,
    )
    assert balance(db_session, profile_id) == before == 1_510 == ledger_sum(db_session, profile_id)
    assert db_session.execute(select(func.count(PointsTransaction.id))).scalar_one() == 3
    assert db_session.execute(
        select(PointsTransaction.points, PointsTransaction.reason).where(PointsTransaction.points == 10)
    ).one() == (10, "[redacted]")
    # The code never created in Shopify will not be, nor the metafields synced: their outbox rows are stopped.
    assert db_session.execute(select(Outbox.kind, Outbox.status, Outbox.last_error).order_by(Outbox.kind)).all() == [
        ("customer.sync", "failed", "customer redacted (GDPR)"),
        ("discount_code.create", "failed", "customer redacted (GDPR)"),
    ]
    # Another customer's data is untouched; amounts and order numbers in the scrubbed payloads remain.
    other = db_session.execute(
        select(EventQueue.payload).where(EventQueue.customer_id == str(OTHER["id"]))
    ).scalar_one()
    assert other["email"] == OTHER["email"] and other["customer"] == OTHER
    errors = db_session.execute(select(DeadLetter.error).order_by(DeadLetter.id)).scalars().all()
    assert errors == [
        "UniqueViolation: Key (shop_id, email)=(1, [redacted]) already exists; customer [redacted]",
        f"UniqueViolation: Key (email)=({OTHER['email']})",
    ]
    scrubbed = db_session.execute(
        select(EventQueue.payload).where(
            EventQueue.customer_id == result.tombstone, EventQueue.event_type == "order_created"
        )
    ).scalar_one()
    assert (scrubbed["total_price"], scrubbed["line_items"], scrubbed["customer"]["id"]) == (
        "75.00",
        [{"name": "Tea", "quantity": 1}],
        "[redacted]",
    )
    again = gdpr.redact_customer(db_session, shop_id=shop.id, customer_id=CUSTOMER, now=now, email=EMAIL)
    assert again.tombstone is None and sum(again.rows_scrubbed.values()) == 0


def test_shop_redact_deletes_only_that_shop_and_the_ledger_stays_append_only(
    db_session: Session, shop: Shop, other_shop: Shop, customer_everywhere: CustomerLoyaltyProfile, now: datetime
) -> None:
    kept = give_points(db_session, other_shop, "1", 300, now)
    shop_id, other_shop_id = shop.id, other_shop.id
    db_session.commit()
    with pytest.raises(DBAPIError, match="append-only"):
        db_session.execute(text("DELETE FROM points_transactions WHERE shop_id = :s"), {"s": shop_id})
    db_session.rollback()

    assert gdpr.redact_shop(db_session, shop_id=shop_id) is True
    db_session.commit()
    for table in Base.metadata.sorted_tables:
        if "shop_id" in table.c:
            left = db_session.execute(
                select(func.count()).select_from(table).where(table.c.shop_id == shop_id)
            ).scalar_one()
            assert left == 0, table.name
    assert db_session.get(Shop, shop_id) is None
    assert hits(db_session, EMAIL) == []
    assert balance(db_session, kept.id) == 300 == ledger_sum(db_session, kept.id)
    assert gdpr.redact_shop(db_session, shop_id=shop_id) is False
    with pytest.raises(DBAPIError, match="append-only"):
        db_session.execute(text("DELETE FROM points_transactions WHERE shop_id = :s"), {"s": other_shop_id})
    db_session.rollback()


def test_each_side_of_a_referral_exports_its_own_part_of_it(db_session: Session, shop: Shop, now: datetime) -> None:
    """A conversion is the advocate's and the friend's: neither export carries the other's ids, order or points."""
    update_settings(db_session, shop=shop, changes={"advocate_points": 500, "friend_points": 200})
    advocate = give_points(db_session, shop, CUSTOMER, 10, now)
    advocate.email = EMAIL
    friend_id, friend_order = "7712345678901234567", "5512345678901234567"
    friend = ledger.lock_profile(db_session, shop_id=shop.id, customer_id=friend_id, now=now)
    friend.email = OTHER["email"]
    code = referrals.link_for(db_session, shop=shop, profile=advocate, now=now).code
    add_order(db_session, shop, friend, friend_order, "83.17", now)
    order = {
        "id": int(friend_order),
        "subtotal_price": "83.17",
        "total_price": "83.17",
        "discount_codes": [{"code": code, "amount": "5.00", "type": "fixed_amount"}],
    }
    converted = referrals.convert_from_order(
        db_session, shop=shop, friend_profile=friend, order=order, event_id=uuid.uuid4(), now=now
    )
    db_session.commit()
    assert converted is not None and converted.status == "rewarded"

    theirs = gdpr.export_customer(db_session, shop_id=shop.id, customer_id=CUSTOMER)
    [conversion] = theirs["referral_conversions"]
    assert (conversion["status"], conversion["advocate_points"]) == ("rewarded", 500)
    [announced] = [event["payload"] for event in theirs["events"] if event["event_type"] == "referral_converted"]
    assert (announced["advocate_points"], announced["status"]) == (500, "rewarded")
    dumped = json.dumps(theirs)
    for friends in (friend_id, friend_order, "83.17", OTHER["email"], "friend_points", "friend_profile_id"):
        assert friends not in dumped, friends

    friends_export = gdpr.export_customer(db_session, shop_id=shop.id, customer_id=friend_id)
    [conversion] = friends_export["referral_conversions"]
    assert (conversion["order_id"], conversion["order_total"], conversion["friend_points"]) == (
        friend_order,
        "83.17",
        200,
    )
    dumped = json.dumps(friends_export)
    for advocates in (CUSTOMER, EMAIL, "advocate_points", "advocate_profile_id", "link_id"):
        assert advocates not in dumped, advocates
