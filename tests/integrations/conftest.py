"""The shops of these tests pay for the plan that includes outbound webhooks (Loyalty Growth): a shop on the free
plan can add no endpoint and gets no new delivery (tests/integrations/test_webhooks_plan.py)."""

from __future__ import annotations

from typing import Any

import pytest

from app.models import Shop
from tests.helpers import on_paid_plan


@pytest.fixture
def shop(db_session: Any, shop: Shop) -> Shop:
    return on_paid_plan(db_session, shop)


@pytest.fixture
def other_shop(db_session: Any, other_shop: Shop) -> Shop:
    return on_paid_plan(db_session, other_shop)
