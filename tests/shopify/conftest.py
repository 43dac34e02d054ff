"""The app under test talks to the fake Shopify (SHOPIFY_ADMIN_ORIGIN) and encrypts tokens with a test key; the
outbox handlers get the context the worker gives them."""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

import pytest
from sqlalchemy.orm import sessionmaker

from app.shopify.admin_api import AdminApi
from app.shopify.context import token_context
from app.shopify.throttle import ShopThrottle
from app.tasks.deliveries import Outward
from tests.shopify_fake.server import FakeShopify

SHOP = "test-shop.myshopify.com"
STAFF_USER_ID = "69523243207"
# A fixed test key (not random per import): the worker's app, built from the environment, must open what the test
# app encrypted, and pytest may import this module under more than one name.
TEST_ENCRYPTION_KEY = base64.urlsafe_b64encode(hashlib.sha256(b"loyalty tests only").digest()).decode()


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


@pytest.fixture
def sleeps() -> list[float]:
    """Every wait the Admin API client decided on (it still waits them, for real)."""
    return []


def make_admin_api(app: Any, redis_client: Any, namespace: str, sleeps: list[float]) -> AdminApi:
    """An Admin API client as a worker builds one, recording its waits; another call builds "another worker"
    sharing the same Redis bucket state."""

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(seconds)

    return AdminApi(tokens=token_context(app), throttle=ShopThrottle(redis_client, namespace), sleep=sleep)


@pytest.fixture
def outward(app: Any, engine: Any, redis_client: Any, redis_namespace: str, sleeps: list[float]) -> Outward:
    """What the worker's outbox tasks get: their own sessions, the Admin API client (to the fake), settings."""
    return Outward(
        sessions=sessionmaker(engine, expire_on_commit=False),
        api=make_admin_api(app, redis_client, redis_namespace, sleeps),
        settings=app.config["SETTINGS"],
    )
