"""Whether a shop is installed, and what processing does with the events of a shop that is not."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.loyalty.base.inbound import InboundEvent
from app.loyalty.base.installation import Installation, installation_of, processes_event, records_events
from app.loyalty.processing.event import process_event
from app.models import CustomerLoyaltyProfile, PointsTransaction, ProcessedEvent, Shop
from tests.helpers import order_payload

INSTALLED = datetime(2026, 1, 1, tzinfo=timezone.utc)
UNINSTALLED = datetime(2026, 2, 1, tzinfo=timezone.utc)


def event(shop: Shop, event_type: str, data: dict[str, Any], customer_id: str | None = None) -> InboundEvent:
    return InboundEvent(
        event_id=uuid.uuid4(),
        event_type=event_type,
        shop_domain=shop.domain,
        customer_id=customer_id,
        timestamp=datetime(2026, 3, 2, 15, tzinfo=timezone.utc),
        event_data=data,
    )


def process(session: Session, inbound: InboundEvent, now: datetime) -> str | None:
    outcome = process_event(session, inbound, consumer_group="test", now=now)
    session.commit()
    return outcome.note


def count(session: Session, model: type) -> int:
    return session.execute(select(func.count()).select_from(model)).scalar_one()


@pytest.mark.parametrize(
    ("installed_at", "uninstalled_at", "expected"),
    [
        (None, None, Installation.NEVER_INSTALLED),
        (None, UNINSTALLED, Installation.NEVER_INSTALLED),
        (INSTALLED, None, Installation.INSTALLED),
        (INSTALLED, UNINSTALLED, Installation.UNINSTALLED),
    ],
)
def test_the_installation_follows_the_two_dates(installed_at, uninstalled_at, expected) -> None:  # type: ignore[no-untyped-def]
    shop = Shop(domain="x.myshopify.com", installed_at=installed_at, uninstalled_at=uninstalled_at)
    assert installation_of(shop) is expected
    assert records_events(shop) is (expected is not Installation.NEVER_INSTALLED)


def test_no_shop_at_all_never_installed() -> None:
    assert installation_of(None) is Installation.NEVER_INSTALLED
    assert not records_events(None) and not processes_event(None, "shop_redact_requested")


@pytest.mark.parametrize(
    ("event_type", "processed"),
    [
        ("order_created", False),
        ("customer_created", False),
        ("refund_created", False),
        ("app_scopes_updated", False),
        ("app_uninstalled", True),
        ("shop_redact_requested", True),
        ("customer_redact_requested", True),
        ("customer_data_requested", True),
    ],
)
def test_an_uninstalled_shop_processes_only_its_uninstall_and_compliance_events(event_type, processed) -> None:  # type: ignore[no-untyped-def]
    shop = Shop(domain="x.myshopify.com", installed_at=INSTALLED, uninstalled_at=UNINSTALLED)
    assert processes_event(shop, event_type) is processed
    assert processes_event(Shop(domain="x.myshopify.com", installed_at=INSTALLED), event_type)


def test_an_uninstalled_shops_order_is_recorded_not_processed(db_session, make_shop, now) -> None:  # type: ignore[no-untyped-def]
    shop = make_shop(uninstalled_at=UNINSTALLED)
    note = process(db_session, event(shop, "order_created", order_payload(), "115310627314723954"), now)
    assert note == "test-shop.myshopify.com is not installed: event recorded, not processed"
    assert count(db_session, CustomerLoyaltyProfile) == 0
    assert count(db_session, PointsTransaction) == 0
    assert db_session.execute(select(ProcessedEvent.outcome["note"].astext)).scalar_one() == note


def test_a_customer_of_a_shop_whose_row_never_installed_gets_no_profile(db_session, now) -> None:  # type: ignore[no-untyped-def]
    shop = Shop(domain="old-row.myshopify.com")  # left by a version that created shops from webhooks
    db_session.add(shop)
    db_session.commit()
    process(db_session, event(shop, "customer_created", {"id": 7, "email": "a@example.com"}, "7"), now)
    assert count(db_session, CustomerLoyaltyProfile) == 0


def test_uninstall_drops_the_tokens_and_a_repeat_keeps_the_first_time(db_session, make_shop, now) -> None:  # type: ignore[no-untyped-def]
    shop = make_shop(access_token="encrypted-a", refresh_token="encrypted-r", access_token_expires_at=now)
    process(db_session, event(shop, "app_uninstalled", {"id": 1}), now)
    process(db_session, event(shop, "app_uninstalled", {"id": 1}), datetime(2026, 4, 1, tzinfo=timezone.utc))
    db_session.refresh(shop)
    assert (shop.uninstalled_at, shop.access_token, shop.refresh_token, shop.access_token_expires_at) == (
        now,
        None,
        None,
        None,
    )


def test_shop_redact_of_an_uninstalled_shop_deletes_it(db_session, make_shop, now) -> None:  # type: ignore[no-untyped-def]
    shop = make_shop(uninstalled_at=UNINSTALLED)
    assert process(db_session, event(shop, "shop_redact_requested", {"shop_domain": shop.domain}), now) == (
        "shop and all its data deleted"
    )
    assert count(db_session, Shop) == 0


def test_scopes_update_records_the_granted_scopes(db_session, make_shop, now) -> None:  # type: ignore[no-untyped-def]
    shop = make_shop(scopes="read_orders")
    payload = {"id": 1, "previous": ["read_orders"], "current": ["read_orders", "write_customers"]}
    assert process(db_session, event(shop, "app_scopes_updated", payload), now) == (
        "granted scopes now: read_orders,write_customers"
    )
    db_session.refresh(shop)
    assert shop.scopes == "read_orders,write_customers"


@pytest.mark.parametrize("current", [None, "read_orders", [1, 2]], ids=["missing", "string", "not-strings"])
def test_a_scopes_update_without_a_list_of_scopes_changes_nothing(db_session, make_shop, now, current) -> None:  # type: ignore[no-untyped-def]
    shop = make_shop(scopes="read_orders")
    note = process(db_session, event(shop, "app_scopes_updated", {"id": 1, "current": current}), now)
    assert note == "app/scopes_update carries no list of current scopes; nothing changed"
    db_session.refresh(shop)
    assert shop.scopes == "read_orders"
