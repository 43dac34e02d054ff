"""A tier set by hand until a date: a floor the sweeps respect while it holds, dropped by the sweep afterwards."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.loyalty import ledger, tiers
from app.loyalty.base.errors import InvalidInput
from app.models import CustomerLoyaltyProfile, EventQueue, Shop, TierDefinition
from tests.loyalty.rewards_helpers import give_points, make_tier
from tests.loyalty.test_tiers import at, earn_and_upgrade, tier_of


@pytest.fixture
def year_shop(make_shop) -> Shop:  # type: ignore[no-untyped-def]
    return make_shop("year.myshopify.com", tier_period="calendar_year")


@pytest.fixture
def year_ladder(db_session: Session, year_shop: Shop) -> dict[str, TierDefinition]:
    return {
        "Silver": make_tier(db_session, year_shop, "Silver", 1, "100"),
        "Gold": make_tier(db_session, year_shop, "Gold", 2, "1000", retention_threshold=Decimal("500")),
        "Platinum": make_tier(db_session, year_shop, "Platinum", 3, "5000"),
    }


def set_by_hand(session: Session, shop: Shop, customer_id: str, tier: TierDefinition, until: date, when: datetime):  # type: ignore[no-untyped-def]
    profile = ledger.lock_existing_profile(session, shop_id=shop.id, customer_id=customer_id)
    return tiers.set_tier_by_hand(
        session, shop=shop, profile=profile, tier_id=tier.id, until=until, staff="staff:42", now=when
    )


def tier_events(session: Session) -> list[tuple[str, str | None]]:
    payloads = select(EventQueue.payload).where(EventQueue.event_type == "tier_changed").order_by(EventQueue.id)
    return [(p["reason"], p["to_tier"]["name"] if p["to_tier"] else None) for p in session.execute(payloads).scalars()]


def test_override_survives_recalculation_and_roll_then_the_sweep_restores_the_earned_tier(
    db_session: Session, year_shop: Shop, year_ladder: dict[str, TierDefinition]
) -> None:
    profile = earn_and_upgrade(db_session, year_shop, "7", 150, at(2025, 3, 10))
    change = set_by_hand(db_session, year_shop, "7", year_ladder["Gold"], date(2026, 6, 30), at(2025, 4, 1))
    assert (change.previous.name, change.current.name, change.reason) == ("Silver", "Gold", "set_by_hand by staff:42")

    # 150 points would place the member on Silver, both on recalculation and at the year's end: Gold holds.
    assert tiers.recalculate_all(db_session, shop_id=year_shop.id, now=at(2025, 5, 1)).changes == []
    assert tier_of(db_session, profile.id) == "Gold"
    earn_and_upgrade(db_session, year_shop, "7", 200, at(2026, 2, 1))
    rolled = tiers.roll_period(db_session, shop_id=year_shop.id, now=at(2026, 1, 2))
    assert (rolled.examined, rolled.changes) == (1, [])
    assert tier_of(db_session, profile.id) == "Gold"

    # The last day of the override (UTC shop) still holds; the first sweep after it puts the earned Silver back.
    assert tiers.roll_period(db_session, shop_id=year_shop.id, now=at(2026, 6, 30, 23)).changes == []
    assert tier_of(db_session, profile.id) == "Gold"
    expired = tiers.roll_period(db_session, shop_id=year_shop.id, now=at(2026, 7, 1, 0))
    assert [(c.previous.name, c.current.name, c.reason) for c in expired.changes] == [
        ("Gold", "Silver", "manual_tier_expired")
    ]
    db_session.expire_all()
    stored = db_session.get(CustomerLoyaltyProfile, profile.id)
    assert (stored.manual_tier_id, stored.manual_tier_until, stored.manual_tier_set_by) == (None, None, None)
    assert tier_events(db_session) == [
        ("order_created test-150", "Silver"),
        ("set_by_hand by staff:42", "Gold"),
        ("manual_tier_expired", "Silver"),
    ]
    assert tiers.roll_period(db_session, shop_id=year_shop.id, now=at(2026, 7, 2)).changes == []


def test_the_override_expires_on_a_lifetime_shop_too(db_session: Session, shop: Shop) -> None:
    """Lifetime shops have no period review: the sweep still finds the ended override."""
    make_tier(db_session, shop, "Silver", 1, "100")
    platinum = make_tier(db_session, shop, "Platinum", 3, "5000")
    profile = earn_and_upgrade(db_session, shop, "8", 150, at(2026, 1, 5))
    set_by_hand(db_session, shop, "8", platinum, date(2026, 2, 1), at(2026, 1, 6))
    assert tier_of(db_session, profile.id) == "Platinum"
    assert tiers.roll_period(db_session, shop_id=shop.id, now=at(2026, 2, 2)).changes[0].reason == "manual_tier_expired"
    assert tier_of(db_session, profile.id) == "Silver"


def test_earning_above_the_manual_tier_upgrades_and_a_lower_manual_tier_never_downgrades(
    db_session: Session, year_shop: Shop, year_ladder: dict[str, TierDefinition]
) -> None:
    profile = earn_and_upgrade(db_session, year_shop, "9", 150, at(2025, 3, 10))
    set_by_hand(db_session, year_shop, "9", year_ladder["Gold"], date(2025, 12, 31), at(2025, 3, 11))
    earn_and_upgrade(db_session, year_shop, "9", 5_000, at(2025, 4, 1))
    assert tier_of(db_session, profile.id) == "Platinum"

    # The higher of the earned and the manual tier applies: Silver by hand leaves a Platinum member on Platinum.
    other = earn_and_upgrade(db_session, year_shop, "10", 6_000, at(2025, 3, 10))
    assert set_by_hand(db_session, year_shop, "10", year_ladder["Silver"], date(2025, 12, 31), at(2025, 3, 11)) is None
    assert tier_of(db_session, other.id) == "Platinum"


def test_clearing_the_override_puts_the_earned_tier_back(
    db_session: Session, year_shop: Shop, year_ladder: dict[str, TierDefinition]
) -> None:
    profile = earn_and_upgrade(db_session, year_shop, "11", 150, at(2025, 3, 10))
    set_by_hand(db_session, year_shop, "11", year_ladder["Platinum"], date(2025, 12, 31), at(2025, 3, 11))
    locked = ledger.lock_existing_profile(db_session, shop_id=year_shop.id, customer_id="11")
    change = tiers.clear_tier_override(
        db_session, shop=year_shop, profile=locked, staff="staff:42", now=at(2025, 3, 12)
    )
    assert (change.current.name, change.reason) == ("Silver", "manual_tier_cleared by staff:42")
    assert tier_of(db_session, profile.id) == "Silver"
    assert db_session.get(CustomerLoyaltyProfile, profile.id).manual_tier_id is None


def test_another_shops_tier_a_past_day_and_a_day_too_far_ahead_are_refused_and_change_nothing(
    db_session: Session,
    year_shop: Shop,
    year_ladder: dict[str, TierDefinition],
    other_shop: Shop,
) -> None:
    foreign = make_tier(db_session, other_shop, "Foreign", 5, "1")
    profile = earn_and_upgrade(db_session, year_shop, "12", 150, at(2025, 3, 10))
    with pytest.raises(InvalidInput, match="tier: no tier"):
        set_by_hand(db_session, year_shop, "12", foreign, date(2025, 12, 31), at(2025, 3, 11))
    with pytest.raises(InvalidInput, match="until: 2025-03-10 is in the past"):
        set_by_hand(db_session, year_shop, "12", year_ladder["Gold"], date(2025, 3, 10), at(2025, 3, 11))
    # 9999-12-31 has no next day for the override to end on; a "for good" override holds through 2999-12-31.
    with pytest.raises(InvalidInput, match="until: 9999-12-31 is too far ahead; choose a day up to 2999-12-31"):
        set_by_hand(db_session, year_shop, "12", year_ladder["Gold"], date(9999, 12, 31), at(2025, 3, 11))
    db_session.expire_all()
    stored = db_session.get(CustomerLoyaltyProfile, profile.id)
    assert (stored.manual_tier_id, stored.manual_tier_until, tier_of(db_session, profile.id)) == (None, None, "Silver")
    assert tier_events(db_session) == [("order_created test-150", "Silver")]


def test_an_override_may_hold_through_the_last_day_there_is_one_for(
    db_session: Session, year_shop: Shop, year_ladder: dict[str, TierDefinition]
) -> None:
    profile = earn_and_upgrade(db_session, year_shop, "13", 150, at(2025, 3, 10))
    set_by_hand(db_session, year_shop, "13", year_ladder["Gold"], date(2999, 12, 31), at(2025, 3, 11))
    stored = db_session.get(CustomerLoyaltyProfile, profile.id)
    assert (tier_of(db_session, profile.id), tiers.override_last_day(year_shop, stored.manual_tier_until)) == (
        "Gold",
        date(2999, 12, 31),
    )


def test_an_override_ending_in_the_new_year_leaves_the_tier_last_year_earned(
    db_session: Session, year_shop: Shop, year_ladder: dict[str, TierDefinition]
) -> None:
    """Silver earned in 2025 is kept through 2026 (the roll keeps it). A Gold override that ends, or is cleared, in
    2026 before the member earns anything that year puts them back on Silver, not below it."""
    ended = earn_and_upgrade(db_session, year_shop, "21", 150, at(2025, 3, 10))
    set_by_hand(db_session, year_shop, "21", year_ladder["Gold"], date(2026, 2, 28), at(2025, 4, 1))
    cleared = earn_and_upgrade(db_session, year_shop, "22", 150, at(2025, 3, 10))
    set_by_hand(db_session, year_shop, "22", year_ladder["Gold"], date(2026, 12, 31), at(2025, 4, 1))
    never = earn_and_upgrade(db_session, year_shop, "23", 50, at(2025, 3, 10))
    set_by_hand(db_session, year_shop, "23", year_ladder["Gold"], date(2026, 2, 28), at(2025, 4, 1))
    assert tiers.roll_period(db_session, shop_id=year_shop.id, now=at(2026, 1, 2)).changes == []

    expired = tiers.roll_period(db_session, shop_id=year_shop.id, now=at(2026, 3, 1, 0))
    assert sorted((c.customer_id, c.current.name if c.current else None, c.reason) for c in expired.changes) == [
        ("21", "Silver", "manual_tier_expired"),
        ("23", None, "manual_tier_expired"),
    ]
    locked = ledger.lock_existing_profile(db_session, shop_id=year_shop.id, customer_id="22")
    change = tiers.clear_tier_override(db_session, shop=year_shop, profile=locked, staff="staff:42", now=at(2026, 3, 2))
    assert (change.previous.name, change.current.name) == ("Gold", "Silver")
    assert [tier_of(db_session, p.id) for p in (ended, cleared, never)] == ["Silver", "Silver", None]
    # Silver holds to the end of 2026 and goes at the 2027 roll, as it would have without the override.
    assert tiers.roll_period(db_session, shop_id=year_shop.id, now=at(2026, 12, 31)).changes == []
    rolled = tiers.roll_period(db_session, shop_id=year_shop.id, now=at(2027, 1, 1, 1))
    assert sorted((c.customer_id, c.current) for c in rolled.changes) == [("21", None), ("22", None)]


@pytest.fixture
def rolling_shop(make_shop) -> Shop:  # type: ignore[no-untyped-def]
    return make_shop("rolling.myshopify.com", tier_period="rolling_12_months")


@pytest.fixture
def rolling_ladder(db_session: Session, rolling_shop: Shop) -> dict[str, TierDefinition]:
    return {
        "Silver": make_tier(db_session, rolling_shop, "Silver", 1, "100"),
        "Gold": make_tier(db_session, rolling_shop, "Gold", 2, "1000", retention_threshold=Decimal("500")),
        "Platinum": make_tier(db_session, rolling_shop, "Platinum", 3, "5000"),
    }


def test_an_override_ending_before_the_review_in_a_rolling_window_gives_back_the_tier_earned(
    db_session: Session, rolling_shop: Shop, rolling_ladder: dict[str, TierDefinition]
) -> None:
    """Gold reached on 2025-03-10 (700 points from June 2024, 400 that day) is the member's until its review on
    2026-03-10, although the June points leave the window on 2025-06-01. An override that ends before then, or is
    cleared, or is a lower tier, leaves them on Gold, not on the Silver the last 12 months give today; the review
    then applies the window (400 misses Gold's retention of 500: Silver)."""
    for customer_id in ("31", "32", "33"):
        earn_and_upgrade(db_session, rolling_shop, customer_id, 700, at(2024, 6, 1))
        earn_and_upgrade(db_session, rolling_shop, customer_id, 400, at(2025, 3, 10))
    set_by_hand(db_session, rolling_shop, "31", rolling_ladder["Platinum"], date(2025, 9, 30), at(2025, 4, 1))
    set_by_hand(db_session, rolling_shop, "32", rolling_ladder["Platinum"], date(2026, 12, 31), at(2025, 4, 1))
    assert (
        set_by_hand(db_session, rolling_shop, "33", rolling_ladder["Silver"], date(2025, 9, 30), at(2025, 4, 1)) is None
    )
    profiles = [ledger.find_profile(db_session, shop_id=rolling_shop.id, customer_id=c) for c in ("31", "32", "33")]

    expired = tiers.roll_period(db_session, shop_id=rolling_shop.id, now=at(2025, 10, 1, 0))
    assert [(c.customer_id, c.previous.name, c.current.name, c.reason) for c in expired.changes] == [
        ("31", "Platinum", "Gold", "manual_tier_expired")
    ]
    locked = ledger.lock_existing_profile(db_session, shop_id=rolling_shop.id, customer_id="32")
    cleared = tiers.clear_tier_override(
        db_session, shop=rolling_shop, profile=locked, staff="staff:42", now=at(2025, 10, 2)
    )
    assert (cleared.previous.name, cleared.current.name) == ("Platinum", "Gold")
    assert [tier_of(db_session, p.id) for p in profiles] == ["Gold", "Gold", "Gold"]
    status = tiers.tier_status(db_session, shop=rolling_shop, profile=profiles[0], now=at(2025, 10, 2))
    assert (status.current.name, status.next.name, status.measure) == ("Gold", "Platinum", Decimal(400))

    # The review date is the one Gold was reached with: kept until then, then the window applies.
    assert tiers.roll_period(db_session, shop_id=rolling_shop.id, now=at(2026, 3, 10, 11)).changes == []
    reviewed = tiers.roll_period(db_session, shop_id=rolling_shop.id, now=at(2026, 3, 10, 12))
    assert sorted((c.customer_id, c.current.name, c.reason) for c in reviewed.changes) == [
        (customer_id, "Silver", "period_ended: retention threshold not met") for customer_id in ("31", "32", "33")
    ]
    # One tier_changed event per move of the tier that applies; none for the Silver set under Gold or its end.
    payloads = select(EventQueue.payload).where(EventQueue.event_type == "tier_changed").order_by(EventQueue.id)
    moves = [(p["customer_id"], p["reason"], p["to_tier"]["name"]) for p in db_session.execute(payloads).scalars()]
    assert [move for move in moves if move[0] == "33"] == [
        ("33", "order_created test-700", "Silver"),
        ("33", "order_created test-400", "Gold"),
        ("33", "period_ended: retention threshold not met", "Silver"),
    ]
    assert [move[1:] for move in moves if move[0] == "31"] == [
        ("order_created test-700", "Silver"),
        ("order_created test-400", "Gold"),
        ("set_by_hand by staff:42", "Platinum"),
        ("manual_tier_expired", "Gold"),
        ("period_ended: retention threshold not met", "Silver"),
    ]


def test_a_tier_earned_under_an_override_is_kept_when_it_ends_and_reviewed_on_its_own_date(
    db_session: Session, rolling_shop: Shop, rolling_ladder: dict[str, TierDefinition]
) -> None:
    """Earning Gold while Platinum is set by hand moves nothing the member sees (no event) but is theirs: when the
    override ends after those points left the window, they are on Gold until Gold's own review."""
    profile = earn_and_upgrade(db_session, rolling_shop, "41", 150, at(2025, 1, 10))
    set_by_hand(db_session, rolling_shop, "41", rolling_ladder["Platinum"], date(2026, 12, 31), at(2025, 2, 1))
    give_points(db_session, rolling_shop, "41", 1_000, at(2025, 5, 1), kind="earn")
    assert (
        tiers.evaluate_upgrade(db_session, shop=rolling_shop, profile=profile, now=at(2025, 5, 1), reason="o") is None
    )
    assert tier_of(db_session, profile.id) == "Platinum"
    # Gold's review on 2026-05-01 finds the 1,000 points in its window: kept until 2027-05-01.
    assert tiers.roll_period(db_session, shop_id=rolling_shop.id, now=at(2026, 5, 2)).changes == []

    expired = tiers.roll_period(db_session, shop_id=rolling_shop.id, now=at(2027, 1, 1, 0))
    assert [(c.previous.name, c.current.name, c.reason) for c in expired.changes] == [
        ("Platinum", "Gold", "manual_tier_expired")
    ]
    reviewed = tiers.roll_period(db_session, shop_id=rolling_shop.id, now=at(2027, 5, 1, 12))
    assert [(c.previous.name, c.current) for c in reviewed.changes] == [("Gold", None)]
    assert tier_events(db_session) == [
        ("order_created test-150", "Silver"),
        ("set_by_hand by staff:42", "Platinum"),
        ("manual_tier_expired", "Gold"),
        ("period_ended: retention threshold not met", None),
    ]
