"""Fixtures for the fake's own contract suite: a plain httpx client speaking to the fake as the app will."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.shopify_fake.calls import ShopifyCalls
from tests.shopify_fake.server import FakeShopify


@pytest.fixture
def calls(shopify_fake: FakeShopify) -> Iterator[ShopifyCalls]:
    with httpx.Client(base_url=shopify_fake.origin, timeout=5.0) as http:
        yield ShopifyCalls(http, shopify_fake)
