"""Requests to the fake as Shopify's own clients send them, for the fake's contract suite (plain httpx, no app)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests.shopify_fake.server import FakeShopify

SHOP = "loyal-shop.myshopify.com"
OTHER_SHOP = "other-shop.myshopify.com"
API_VERSION = "2026-10"

CUSTOMER = "gid://shopify/Customer/7393829330"

# The documented reward-code call (Shopify contract §7.1): an amount off for one customer, usable once.
CREATE_REWARD = """
mutation CreateReward($input: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $input) {
    codeDiscountNode {
      id
      codeDiscount {
        ... on DiscountCodeBasic {
          title
          status
          usageLimit
          appliesOncePerCustomer
          startsAt
          endsAt
          codes(first: 1) { nodes { code } }
          context { ... on DiscountCustomers { customers { id } } }
          customerGets {
            value {
              ... on DiscountAmount { amount { amount currencyCode } appliesOnEachItem }
              ... on DiscountPercentage { percentage }
            }
            items { ... on AllDiscountItems { allItems } }
          }
          combinesWith { orderDiscounts productDiscounts shippingDiscounts }
        }
      }
    }
    userErrors { field code message }
  }
}
"""
FIND_CODE = """
query FindCode($code: String!) {
  codeDiscountNodeByCode(code: $code) {
    id
    codeDiscount { ... on DiscountCodeBasic { title codes(first: 1) { nodes { code } } } }
  }
}
"""


def reward_input(code: str = "LOYAL-7F3K9Q", **fields: Any) -> dict[str, Any]:
    return {
        "title": "Loyalty reward – 500 pts",
        "code": code,
        "startsAt": "2026-09-01T00:00:00Z",
        "endsAt": None,
        "context": {"customers": {"add": [CUSTOMER]}},
        "customerGets": {
            "value": {"discountAmount": {"amount": "5.00", "appliesOnEachItem": False}},
            "items": {"all": True},
        },
        "usageLimit": 1,
        "appliesOncePerCustomer": True,
        "combinesWith": {"orderDiscounts": False, "productDiscounts": True, "shippingDiscounts": True},
        **fields,
    }


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
