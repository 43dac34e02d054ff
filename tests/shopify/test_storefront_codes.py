"""End to end through the theme's door: a shopper redeems through the app proxy, which asks the worker to deliver the
shop's outbox at once; the worker creates the discount code in (the fake) Shopify, and the panel then shows that very
code to that shopper only."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from app.models import Shop
from tests.graphql.storefront_helpers import SHOPPER_A, SHOPPER_B, operation, seed_programme
from tests.shopify.conftest import SHOP
from tests.worker_fixtures import run_next_task


def proxied(client, shopify_fake, customer: str, body: dict) -> dict:  # type: ignore[no-untyped-def]
    query = shopify_fake.signer.proxy_query(shop=SHOP, customer_id=customer)
    response = client.post(f"/proxy/graphql?{query}", json=body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["data"]


def by_hash(name: str, variables: dict | None = None) -> dict:
    return {"id": hashlib.sha256(operation(name).encode()).hexdigest(), "variables": variables or {}}


def test_a_code_redeemed_through_the_proxy_exists_in_shopify_and_shows_in_the_panel(  # type: ignore[no-untyped-def]
    client, admin, shopify_fake, db_session, worker
) -> None:
    admin.install()
    shop = db_session.execute(select(Shop).where(Shop.domain == SHOP)).scalar_one()
    programme = seed_programme(db_session, shop)
    variables = {"input": {"customerId": SHOPPER_A, "rewardId": str(programme.cheap_reward), "idempotencyKey": "w-1"}}
    redeemed = proxied(client, shopify_fake, SHOPPER_A, by_hash("RedeemForCode", variables))["redeemReward"]
    assert (redeemed["success"], redeemed["status"], redeemed["code"]) == (True, "pending", None)

    # The redemption itself enqueued the delivery: no wait for the worker's every-minute drain.
    assert run_next_task(worker) == "deliver_outbox"

    codes = [node["codeDiscount"] for node in shopify_fake.state.shop(SHOP).discounts.values()]
    assert len(codes) == 1
    created = codes[0]["codes"]["nodes"][0]["code"]
    unused = proxied(client, shopify_fake, SHOPPER_A, by_hash("LoyaltyPanel"))["me"]["unused_rewards"]
    assert [(u["status"], u["code"]) for u in unused] == [("posted", created)]
    other = proxied(client, shopify_fake, SHOPPER_B, by_hash("LoyaltyPanel"))["me"]["unused_rewards"]
    assert other == []
