"""The shop's points policies as the ledger's service validates them: a point value the column would round to zero
is refused, not stored."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from app.loyalty import ledger
from app.loyalty.base.errors import InvalidInput
from app.models import Shop


@pytest.mark.parametrize("rate", [Decimal("0.00004"), Decimal("1e-30"), "0.00004"])
def test_a_point_value_below_what_the_column_keeps_is_refused(db_session: Session, shop: Shop, rate: object) -> None:
    # It passed "greater than 0", then NUMERIC(12, 4) stored it as 0.0000 and the check constraint refused the row.
    policies = replace(ledger.policies_of(shop), redemption_points_per_unit=rate)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput) as refused:
        ledger.update_policies(db_session, shop=shop, policies=policies)
    assert str(refused.value) == "redemption_points_per_unit must be a number from 0.0001 to 1000000"
    db_session.expire_all()
    assert db_session.get(Shop, shop.id).redemption_points_per_unit == Decimal(100)


def test_the_smallest_point_value_the_column_keeps_is_saved(db_session: Session, shop: Shop) -> None:
    policies = replace(ledger.policies_of(shop), redemption_points_per_unit=Decimal("0.0001"))
    ledger.update_policies(db_session, shop=shop, policies=policies)
    db_session.commit()
    db_session.expire_all()
    assert db_session.get(Shop, shop.id).redemption_points_per_unit == Decimal("0.0001")
