"""Tiers: status for the storefront, immediate upgrades, downgrades only at period ends, ladder recalculation.

The clock is the `now` argument: every test moves it across period boundaries explicitly, never sleeps.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.loyalty import ledger, tiers
from app.loyalty.base.errors import InvalidInput
from app.models import AuditLog, CustomerLoyaltyProfile, EventQueue, Shop, TierDefinition
from tests.loyalty.ledger_helpers import add_order
from tests.loyalty.rewards_helpers import give_points, make_tier


def at(year: int, month: int, day: int, hour: int = 12) -> datetime:
    return datetime(year, month, day, hour, tzinfo=timezone.utc)


def tier_of(session: Session, profile_id: int) -> str | None:
    session.expire_all()
    tier_id = session.get(CustomerLoyaltyProfile, profile_id).current_tier_id
    return None if tier_id is None else session.get(TierDefinition, tier_id).name


def earn_and_upgrade(
    session: Session, shop: Shop, customer_id: str, points: int, when: datetime
) -> CustomerLoyaltyProfile:
    """Credit points at `when` and evaluate the upgrade, as processing does after each event."""
    profile = give_points(session, shop, customer_id, points, when, kind="earn")
    tiers.evaluate_upgrade(session, shop=shop, profile=profile, now=when, reason=f"order_created test-{points}")
    return profile


@pytest.fixture
def ladder(db_session: Session, shop: Shop) -> dict[str, TierDefinition]:
    return {
        "Silver": make_tier(db_session, shop, "Silver", 1, "100"),
        "Gold": make_tier(
            db_session, shop, "Gold", 2, "1000", retention_threshold=Decimal("500"), earn_multiplier=Decimal("1.5")
        ),
        "Platinum": make_tier(db_session, shop, "Platinum", 3, "5000"),
    }


def test_status_without_a_ladder_or_a_profile(db_session: Session, shop: Shop, now: datetime) -> None:
    unsaved = CustomerLoyaltyProfile(shop_id=shop.id, customer_id="nobody")
    status = tiers.tier_status(db_session, shop=shop, profile=unsaved, now=now)
    assert (status.current, status.next, status.progress_percentage) == (None, None, 0.0)


def test_status_shows_current_next_and_progress(
    db_session: Session, shop: Shop, ladder: dict[str, TierDefinition], now: datetime
) -> None:
    profile = earn_and_upgrade(db_session, shop, "1", 600, now)
    status = tiers.tier_status(db_session, shop=shop, profile=profile, now=now)
    assert (status.current.name, status.current.level, status.current.earn_multiplier) == ("Silver", 1, Decimal(1))
    assert (status.next.name, status.next.min_points_required) == ("Gold", 1000)
    assert status.progress_percentage == 60.0
    assert tiers.earn_multiplier(db_session, shop_id=shop.id, profile=profile) == Decimal(1)

    earn_and_upgrade(db_session, shop, "1", 4_400, now)
    status = tiers.tier_status(db_session, shop=shop, profile=profile, now=now)
    assert (status.current.name, status.next, status.progress_percentage) == ("Platinum", None, 100.0)


def test_upgrade_is_immediate_and_recorded_as_tier_changed(
    db_session: Session, shop: Shop, ladder: dict[str, TierDefinition], now: datetime
) -> None:
    profile = earn_and_upgrade(db_session, shop, "1", 50, now)
    assert tier_of(db_session, profile.id) is None
    give_points(db_session, shop, "1", 1_000, now, kind="earn")
    change = tiers.evaluate_upgrade(db_session, shop=shop, profile=profile, now=now, reason="order_created 42")
    assert change is not None
    assert (change.previous, change.current.name, change.direction, change.reason, change.measure) == (
        None,
        "Gold",
        "upgrade",
        "order_created 42",
        Decimal(1050),
    )
    assert tiers.evaluate_upgrade(db_session, shop=shop, profile=profile, now=now, reason="again") is None
    assert tier_of(db_session, profile.id) == "Gold"
    assert tiers.earn_multiplier(
        db_session, shop_id=shop.id, profile=db_session.get(CustomerLoyaltyProfile, profile.id)
    ) == Decimal("1.5")
    event = db_session.execute(select(EventQueue).where(EventQueue.event_type == "tier_changed")).scalar_one()
    assert (event.customer_id, event.status) == ("1", "pending")
    assert {k: event.payload[k] for k in ("direction", "reason", "measure")} == {
        "direction": "upgrade",
        "reason": "order_created 42",
        "measure": "1050",
    }
    assert event.payload["to_tier"] == {"id": ladder["Gold"].id, "name": "Gold", "level": 2}
    audit = db_session.execute(select(AuditLog).where(AuditLog.action == "tier_changed")).scalar_one()
    assert (audit.subject_type, audit.subject_id, audit.details["reason"]) == (
        "profile",
        str(profile.id),
        "order_created 42",
    )


def test_spending_points_never_lowers_the_measure(
    db_session: Session, shop: Shop, ladder: dict[str, TierDefinition], now: datetime
) -> None:
    from app.loyalty import rewards
    from tests.loyalty.rewards_helpers import make_reward

    profile = earn_and_upgrade(db_session, shop, "1", 1_000, now)
    reward_id = make_reward(db_session, shop, points_cost=900)
    rewards.redeem_reward(db_session, shop=shop, customer_id="1", reward_id=reward_id, now=now)
    assert tiers.tier_status(db_session, shop=shop, profile=profile, now=now).measure == Decimal(1000)


def test_calendar_year_downgrade_only_at_the_year_end_in_the_shop_time_zone(
    db_session: Session,
    make_shop,
    ladder: dict[str, TierDefinition],  # type: ignore[no-untyped-def]
) -> None:
    shop = make_shop("ny.myshopify.com", tier_period="calendar_year", timezone="America/New_York")
    silver, gold = (
        make_tier(db_session, shop, "Silver", 1, "100"),
        make_tier(db_session, shop, "Gold", 2, "1000", retention_threshold=Decimal("500")),
    )
    profile = earn_and_upgrade(db_session, shop, "7", 1_200, at(2025, 3, 10))
    assert tier_of(db_session, profile.id) == "Gold"
    assert db_session.get(CustomerLoyaltyProfile, profile.id).tier_review_at == at(2026, 1, 1, 5)

    # 2025 met the retention threshold: Gold is kept through 2026.
    assert tiers.roll_period(db_session, shop_id=shop.id, now=at(2025, 12, 31)).examined == 0
    kept = tiers.roll_period(db_session, shop_id=shop.id, now=at(2026, 1, 2))
    assert (kept.examined, kept.changes) == (1, [])
    assert tier_of(db_session, profile.id) == "Gold"

    # 2026 earns only 150: one second before New York's new year nothing happens, at midnight Gold -> Silver.
    earn_and_upgrade(db_session, shop, "7", 150, at(2026, 6, 1))
    assert (
        tiers.roll_period(
            db_session, shop_id=shop.id, now=datetime(2027, 1, 1, 4, 59, 59, tzinfo=timezone.utc)
        ).examined
        == 0
    )
    rolled = tiers.roll_period(db_session, shop_id=shop.id, now=at(2027, 1, 1, 5))
    assert [(c.previous.name, c.current.name, c.direction, c.reason, c.measure) for c in rolled.changes] == [
        ("Gold", "Silver", "downgrade", "period_ended: retention threshold not met", Decimal(150))
    ]
    assert tier_of(db_session, profile.id) == "Silver"
    again = tiers.roll_period(db_session, shop_id=shop.id, now=at(2027, 1, 1, 6))
    assert (again.examined, again.changes) == (0, [])
    assert silver.id != gold.id
    downgrades = (
        db_session.execute(select(EventQueue.payload).where(EventQueue.event_type == "tier_changed")).scalars().all()
    )
    assert [p["direction"] for p in downgrades] == ["upgrade", "downgrade"]


def test_calendar_year_member_who_qualifies_again_this_year_is_not_downgraded(
    db_session: Session,
    make_shop,  # type: ignore[no-untyped-def]
) -> None:
    shop = make_shop("cy.myshopify.com", tier_period="calendar_year")
    make_tier(db_session, shop, "Gold", 2, "1000", retention_threshold=Decimal("800"))
    profile = earn_and_upgrade(db_session, shop, "7", 1_000, at(2025, 2, 1))
    earn_and_upgrade(db_session, shop, "7", 1_000, at(2026, 1, 3))  # 2025: 1000 >= 800 anyway; 2026 starts strong
    tiers.roll_period(db_session, shop_id=shop.id, now=at(2026, 1, 5))
    rolled = tiers.roll_period(db_session, shop_id=shop.id, now=at(2027, 1, 5))
    assert rolled.changes == [] and tier_of(db_session, profile.id) == "Gold"
    # A late sweep that missed a year reviews each period in turn: nothing in 2027 -> dropped at the 2028 roll.
    late = tiers.roll_period(db_session, shop_id=shop.id, now=at(2028, 3, 1))
    assert [(c.previous.name, c.current) for c in late.changes] == [("Gold", None)]


def test_rolling_twelve_months_from_the_day_the_tier_was_reached(
    db_session: Session,
    make_shop,  # type: ignore[no-untyped-def]
) -> None:
    shop = make_shop("roll.myshopify.com", tier_period="rolling_12_months", tier_basis="amount_spent")
    make_tier(db_session, shop, "VIP", 1, "300")
    profile = ledger.lock_profile(db_session, shop_id=shop.id, customer_id="9", now=at(2024, 1, 1))
    add_order(db_session, shop, profile, "o-old", "250.00", at(2024, 1, 5))  # outside the window by then
    add_order(db_session, shop, profile, "o-1", "200.00", at(2025, 2, 1))
    assert tiers.evaluate_upgrade(db_session, shop=shop, profile=profile, now=at(2025, 2, 1), reason="o-1") is None
    add_order(db_session, shop, profile, "o-2", "120.00", at(2025, 3, 1))
    add_order(db_session, shop, profile, "o-3", "90.00", at(2025, 3, 2), refunded_amount=Decimal("90.00"))
    change = tiers.evaluate_upgrade(db_session, shop=shop, profile=profile, now=at(2025, 3, 1), reason="o-2")
    assert change is not None and change.measure == Decimal("320.00")

    assert tiers.roll_period(db_session, shop_id=shop.id, now=at(2026, 2, 28)).examined == 0
    rolled = tiers.roll_period(db_session, shop_id=shop.id, now=at(2026, 3, 1))
    assert [(c.previous.name, c.current, c.measure) for c in rolled.changes] == [("VIP", None, Decimal("120.00"))]
    assert tier_of(db_session, profile.id) is None


def test_lifetime_tiers_never_downgrade(
    db_session: Session, shop: Shop, ladder: dict[str, TierDefinition], now: datetime
) -> None:
    profile = earn_and_upgrade(db_session, shop, "1", 1_000, at(2020, 1, 1))
    assert db_session.get(CustomerLoyaltyProfile, profile.id).tier_review_at is None
    assert tiers.roll_period(db_session, shop_id=shop.id, now=at(2030, 1, 1)).changes == []
    assert tier_of(db_session, profile.id) == "Gold"


def test_ladder_change_recalculates_every_member_idempotently(
    db_session: Session, shop: Shop, ladder: dict[str, TierDefinition], now: datetime
) -> None:
    low = earn_and_upgrade(db_session, shop, "low", 150, now)
    mid = earn_and_upgrade(db_session, shop, "mid", 1_200, now)
    high = earn_and_upgrade(db_session, shop, "high", 3_000, now)
    assert [tier_of(db_session, p.id) for p in (low, mid, high)] == ["Silver", "Gold", "Gold"]

    # The merchant raises Gold to 2000 (keep at 1500) and lowers Platinum to 2500.
    ladder["Gold"].threshold, ladder["Gold"].retention_threshold = Decimal(2000), Decimal(1500)
    ladder["Platinum"].threshold = Decimal(2500)
    db_session.flush()
    result = tiers.recalculate_all(db_session, shop_id=shop.id, now=now)
    assert sorted((c.customer_id, c.previous.name, c.current.name, c.reason) for c in result.changes) == [
        ("high", "Gold", "Platinum", "ladder_changed"),
        ("mid", "Gold", "Silver", "ladder_changed"),
    ]
    assert [tier_of(db_session, p.id) for p in (low, mid, high)] == ["Silver", "Silver", "Platinum"]
    assert tiers.recalculate_all(db_session, shop_id=shop.id, now=now).changes == []

    # Removing a tier places its members afresh.
    db_session.delete(ladder["Platinum"])
    db_session.flush()
    assert tier_of(db_session, high.id) is None
    placed = tiers.recalculate_all(db_session, shop_id=shop.id, now=now)
    assert [(c.customer_id, c.previous, c.current.name) for c in placed.changes] == [("high", None, "Gold")]
    assert tiers.recalculate_all(db_session, shop_id=shop.id, now=now).changes == []
    reasons = (
        db_session.execute(select(EventQueue.payload["reason"].astext).where(EventQueue.event_type == "tier_changed"))
        .scalars()
        .all()
    )
    assert reasons.count("ladder_changed") == 3


def test_chunked_recalculation_covers_every_member_once(
    db_session: Session, shop: Shop, ladder: dict[str, TierDefinition], now: datetime
) -> None:
    members = [give_points(db_session, shop, str(i), 200 * i, now, kind="earn") for i in range(1, 8)]
    seen, after = 0, 0
    while True:
        chunk = tiers.recalculate_all(db_session, shop_id=shop.id, now=now, after_profile_id=after, limit=3)
        if chunk.last_profile_id is None:
            break
        seen += chunk.examined
        after = chunk.last_profile_id
    assert seen == 7
    assert [tier_of(db_session, p.id) for p in members] == ["Silver"] * 4 + ["Gold"] * 3


LADDER = [
    tiers.TierSpec("Bronze", 0, "0"),
    tiers.TierSpec("Silver", 1, "500", retention_threshold="300", earn_multiplier="1.25"),
    tiers.TierSpec("Gold", 2, "2000", earn_multiplier="2", benefits={"free_shipping": True}),
]


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        ([tiers.TierSpec("A", 0, "-1")], "tiers[0].threshold must not be negative"),
        (
            [tiers.TierSpec("A", 0, "10", retention_threshold="20")],
            "tiers[0].retention_threshold must be between 0 and the entry threshold",
        ),
        (
            [tiers.TierSpec("A", 0, "10", earn_multiplier="0")],
            "tiers[0].earn_multiplier must be greater than 0 and at most 100",
        ),
        ([tiers.TierSpec("A", -1, "10")], "tiers[0].level must be a whole number of at least 0, got -1"),
        (
            [tiers.TierSpec("A", 0, 1.5)],
            "tiers[0].threshold must be a whole or decimal number written as a string, got 1.5",
        ),
        ([tiers.TierSpec("A", 0, "0"), tiers.TierSpec("a", 1, "10")], "tier names must be unique"),
        ([tiers.TierSpec("A", 1, "0"), tiers.TierSpec("B", 1, "10")], "tier levels must be unique"),
        (
            [tiers.TierSpec("A", 0, "100"), tiers.TierSpec("B", 1, "100")],
            "tier 'B' (level 1) must need more than 'A' (100)",
        ),
    ],
)
def test_bad_ladders_are_refused(
    db_session: Session, shop: Shop, now: datetime, specs: list[tiers.TierSpec], message: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        tiers.save_ladder(db_session, shop_id=shop.id, specs=specs, actor="merchant", now=now)
    assert str(refused.value) == message
    assert tiers.ladder(db_session, shop_id=shop.id) == []


def test_saving_a_ladder_keeps_tiers_by_name_and_recalculation_follows(
    db_session: Session, shop: Shop, now: datetime
) -> None:
    saved = tiers.save_ladder(db_session, shop_id=shop.id, specs=LADDER, actor="merchant", now=now)
    member = earn_and_upgrade(db_session, shop, "1", 600, now)
    assert tier_of(db_session, member.id) == "Silver"
    silver_id = saved[1].id

    # Levels move up by one and Silver gets harder; Bronze is removed; basis changes to orders placed.
    reshaped = [
        tiers.TierSpec("Silver", 1, "3", retention_threshold="1"),
        tiers.TierSpec("Gold", 2, "10"),
    ]
    tiers.save_ladder(db_session, shop_id=shop.id, specs=reshaped, actor="merchant", now=now, basis="orders_placed")
    assert [(t.name, t.level, t.id == silver_id) for t in tiers.ladder(db_session, shop_id=shop.id)] == [
        ("Silver", 1, True),
        ("Gold", 2, False),
    ]
    assert db_session.get(Shop, shop.id).tier_basis == "orders_placed"
    change = tiers.recalculate_all(db_session, shop_id=shop.id, now=now).changes
    assert [(c.previous.name, c.current, c.reason) for c in change] == [("Silver", None, "ladder_changed")]
    audit = db_session.execute(select(AuditLog).where(AuditLog.action == "tier_ladder_changed")).scalars().all()
    assert [a.details["basis"] for a in audit] == ["points_earned", "orders_placed"]


def test_the_upgrade_decision_only_ever_moves_a_member_up() -> None:
    """upgrade_target decides for process_event (evaluate_upgrade) and the set-based batch alike."""
    bronze, silver, gold = (
        TierDefinition(id=level, name=name, level=level, threshold=Decimal(threshold))
        for level, name, threshold in ((1, "Bronze", 0), (2, "Silver", 500), (3, "Gold", 1000))
    )
    ladder = [bronze, silver, gold]

    assert tiers.upgrade_target(ladder, None, Decimal(0)) == (None, bronze)
    assert tiers.upgrade_target(ladder, silver.id, Decimal(1200)) == (silver, gold)
    assert tiers.upgrade_target(ladder, silver.id, Decimal(600)) is None  # already there
    assert tiers.upgrade_target(ladder, gold.id, Decimal(100)) is None  # a lower measure waits for the period end
    assert tiers.upgrade_target(ladder, 99, Decimal(100)) == (None, bronze)  # a removed tier: placed afresh
    assert tiers.upgrade_target([], None, Decimal(100)) is None
