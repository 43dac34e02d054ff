"""The `shopify_fake` pytest fixture: one fake Shopify per test session on a free loopback port, reset per test.

Registered in tests/conftest.py (`pytest_plugins`). Its app credentials are the test app's, so tokens the app signs
and tokens the fake issues agree.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.shopify_fake.server import FakeShopify
from tests.shopify_fake.signing import TEST_API_KEY, TEST_API_SECRET
from tests.shopify_fake.state import AppConfig


@pytest.fixture(scope="session")
def shopify_fake_server() -> Iterator[FakeShopify]:
    fake = FakeShopify(AppConfig(api_key=TEST_API_KEY, api_secret=TEST_API_SECRET))
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def shopify_fake(shopify_fake_server: FakeShopify) -> Iterator[FakeShopify]:
    """A fresh fake Shopify: `.origin`, `.state`, `.faults`, `.recorder`, `.signer`, `.configure_bucket(...)`."""
    shopify_fake_server.reset()
    yield shopify_fake_server
    shopify_fake_server.reset()
