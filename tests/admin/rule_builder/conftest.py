"""The builder under test: the app against the fake Shopify, a shop installed through the real token exchange, and
helpers that call the builder as its pages do (htmx requests with the session token) and read its forms as a
browser submits them."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from app.models import Shop
from tests.shopify.conftest import SHOP, STAFF_USER_ID, AdminCalls
from tests.shopify.conftest import settings_overrides as _shopify_settings  # noqa: F401  (the fake Shopify's settings)

settings_overrides = _shopify_settings
OTHER_SHOP = "other-shop.myshopify.com"


class Builder:
    """Requests to /admin/rules as the builder's pages make them (htmx, with an App Home ID token of `shop`)."""

    def __init__(self, client: Any, fake: Any, shop: str) -> None:
        self.client, self.fake, self.shop = client, fake, shop

    def headers(self) -> dict[str, str]:
        token = self.fake.signer.app_home_token(shop=self.shop, user_id=STAFF_USER_ID)
        return {"Authorization": f"Bearer {token}", "HX-Request": "true"}

    def get(self, path: str, **query: Any) -> Any:
        url = urlsplit(path)
        return self.client.get(url.path, query_string={**dict(parse_qsl(url.query)), **query}, headers=self.headers())

    def post(self, path: str, data: Any = None) -> Any:
        """A POST of form fields: a dict, or (name, value) pairs in document order, as a browser sends a form."""
        fields = MultiDict(data) if isinstance(data, list) else data or {}
        return self.client.post(path, data=fields, headers=self.headers())

    def page(self, path: str) -> Any:
        """A page load inside Shopify admin (the ID token in the query)."""
        token = self.fake.signer.app_home_token(shop=self.shop, user_id=STAFF_USER_ID)
        url = urlsplit(path)
        query = {**dict(parse_qsl(url.query)), "shop": self.shop, "embedded": "1", "id_token": token}
        return self.client.get(url.path, query_string=query)


@pytest.fixture
def installed(client: Any, shopify_fake: Any, db_session: Any) -> dict[str, Shop]:
    """Two shops installed through the token exchange, as their first admin load does."""
    calls = AdminCalls(client, shopify_fake)
    calls.install(SHOP)
    calls.install(OTHER_SHOP)
    shops = db_session.execute(select(Shop)).scalars().all()
    return {shop.domain: shop for shop in shops}


@pytest.fixture
def builder(client: Any, shopify_fake: Any, installed: dict[str, Shop]) -> Builder:
    return Builder(client, shopify_fake, SHOP)


@pytest.fixture
def other_builder(client: Any, shopify_fake: Any, installed: dict[str, Shop]) -> Builder:
    return Builder(client, shopify_fake, OTHER_SHOP)
