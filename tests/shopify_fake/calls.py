"""Requests to the fake as Shopify's own clients send them, for the fake's contract suite (plain httpx, no app)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests.shopify_fake.server import FakeShopify

SHOP = "loyal-shop.myshopify.com"
OTHER_SHOP = "other-shop.myshopify.com"
API_VERSION = "2026-10"


@dataclass
class ShopifyCalls:
    """Requests as Shopify's clients send them: JSON bodies to the shop's URLs, the shop in the Host header."""

    http: httpx.Client
    fake: FakeShopify

    def token(self, shop: str = SHOP, **fields: Any) -> httpx.Response:
        credentials = {"client_id": self.fake.config.api_key, "client_secret": self.fake.config.api_secret}
        return self.http.post("/admin/oauth/access_token", headers={"Host": shop}, json={**credentials, **fields})

    def graphql(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        shop: str = SHOP,
        token: str | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        headers = {"Host": shop, "Content-Type": "application/json"}
        if token is not None:
            headers["X-Shopify-Access-Token"] = token
        return self.http.post(
            f"/admin/api/{API_VERSION}/graphql.json",
            headers=headers,
            json={"query": query, "variables": variables or {}},
            timeout=timeout if timeout is not None else self.http.timeout,
        )

    def admin(self, query: str, variables: dict[str, Any] | None = None, *, shop: str = SHOP) -> dict[str, Any]:
        """Runs an Admin GraphQL request with the shop's installed token; the 200 answer's JSON."""
        response = self.graphql(query, variables, shop=shop, token=self.fake.state.install(shop)["access_token"])
        assert response.status_code == 200, response.text
        return response.json()
