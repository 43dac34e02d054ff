"""Setting a tier by hand until a day no override can end after: a 422 next to the field, nothing written."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog, CustomerLoyaltyProfile, EventQueue, TierDefinition
from tests.admin.conftest import Admin, add_member

CUSTOMER = "7000000000000000001"


def test_a_day_after_the_last_an_override_can_end_on_is_refused_and_changes_nothing(
    admin: Admin, demo_shop: Any
) -> None:
    profile = add_member(db.session, demo_shop, CUSTOMER, email="ada@example.com", name="Ada Lovelace")
    tier = (
        db.session.execute(
            select(TierDefinition).where(TierDefinition.shop_id == demo_shop.id).order_by(TierDefinition.level.desc())
        )
        .scalars()
        .first()
    )

    response = admin.post(f"/admin/customers/{CUSTOMER}/tier", {"tier_id": str(tier.id), "until": "9999-12-31"})

    html = response.get_data(as_text=True)
    assert response.status_code == 422, html
    assert "until: 9999-12-31 is too far ahead; choose a day up to 2999-12-31" in html and 'aria-invalid="true"' in html
    db.session.expire_all()
    stored = db.session.get(CustomerLoyaltyProfile, profile.id)
    assert (stored.manual_tier_id, stored.manual_tier_until) == (None, None)
    assert db.session.execute(select(func.count()).select_from(AuditLog)).scalar_one() == 0
    tier_events = select(func.count()).select_from(EventQueue).where(EventQueue.event_type == "tier_changed")
    assert db.session.execute(tier_events).scalar_one() == 0
