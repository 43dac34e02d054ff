"""The app under test talks to the fake Shopify (SHOPIFY_ADMIN_ORIGIN) and encrypts tokens with a test key."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet

from tests.shopify_fake.server import FakeShopify

SHOP = "test-shop.myshopify.com"
STAFF_USER_ID = "69523243207"
TEST_ENCRYPTION_KEY = Fernet.generate_key().decode()


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any], shopify_fake: FakeShopify) -> dict[str, Any]:
    return {
        **settings_overrides,
        "shopify_admin_origin": shopify_fake.origin,
        "encryption_keys": (TEST_ENCRYPTION_KEY,),
    }


class AdminCalls:
    """Requests to the embedded admin as Shopify admin makes them: page loads and htmx requests."""

    def __init__(self, client: Any, fake: FakeShopify) -> None:
        self.client = client
        self.fake = fake

    def page(self, token: str | None = None, *, shop: str = SHOP, path: str = "/") -> Any:
        """A page load inside Shopify admin: the ID token and the shop in the query."""
        query = {"shop": shop, "embedded": "1", **({"id_token": token} if token is not None else {})}
        return self.client.get(path, query_string=query)

    def htmx(self, token: str, *, path: str = "/") -> Any:
        """An htmx request: the ID token in Authorization (web/static/js/session_token.js)."""
        return self.client.get(path, headers={"Authorization": f"Bearer {token}", "HX-Request": "true"})

    def install(self, shop: str = SHOP) -> Any:
        """A first page load with a fresh App Home token: the managed install's token exchange."""
        response = self.page(self.fake.signer.app_home_token(shop=shop, user_id=STAFF_USER_ID), shop=shop)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response


@pytest.fixture
def admin(client: Any, shopify_fake: FakeShopify) -> AdminCalls:
    return AdminCalls(client, shopify_fake)
