"""The builder under test, on the admin's test setup (tests/admin/conftest.py: development mode, the seeded demo shop,
real session tokens), with the demo shop's seeded rule removed so each test starts from no rules, a second shop, and
requests as the builder's pages make them."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import delete
from werkzeug.datastructures import MultiDict

from app.models import Rule, Shop
from app.shopify.development import DEMO_SHOP
from tests.admin.conftest import Admin

SHOP = DEMO_SHOP
OTHER_SHOP = "other-shop.myshopify.com"


class Builder(Admin):
    """Admin requests as the builder makes them: form fields in document order, fragments, boosted page loads."""

    def post(self, path: str, data: Any = None, **kwargs: Any) -> Any:
        """A POST of form fields: a dict, or (name, value) pairs in document order, as a browser sends a form."""
        return super().post(path, MultiDict(data) if isinstance(data, list) else data, **kwargs)

    def get(self, path: str, **query: Any) -> Any:
        """An htmx request for a fragment."""
        url = urlsplit(path)
        return self.client.get(url.path, query_string={**dict(parse_qsl(url.query)), **query}, headers=self.headers())

    def page(self, path: str) -> Any:
        """Going to a page in the admin (a boosted link: the whole page, with the session token)."""
        url = urlsplit(path)
        return self.client.get(
            url.path, query_string=dict(parse_qsl(url.query)), headers=self.headers(**{"HX-Boosted": "true"})
        )


@pytest.fixture
def installed(app: Any, demo_shop: Shop, other_admin_shop: Shop) -> dict[str, Shop]:
    """The demo shop (without its seeded rule) and a second shop, both installed."""
    from app.extensions import db

    db.session.execute(delete(Rule).where(Rule.shop_id == demo_shop.id))
    db.session.commit()
    return {SHOP: demo_shop, OTHER_SHOP: other_admin_shop}


@pytest.fixture
def builder(app: Any, installed: dict[str, Shop]) -> Builder:
    return Builder(app)


@pytest.fixture
def other_builder(app: Any, installed: dict[str, Shop]) -> Builder:
    return Builder(app, shop=OTHER_SHOP)
