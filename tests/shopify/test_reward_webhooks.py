"""A redemption through the storefront tells the merchant's endpoint twice: points.redeemed when the points are
spent, and reward.issued, with the code, once the code exists in (the fake) Shopify; a code Shopify refuses is
never announced, and its points coming back are (points.returned)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from app.integrations import endpoints as service
from app.integrations import signing
from app.loyalty.base.merchant_webhooks import TOPICS
from app.models import Shop
from app.shopify.token_cipher import TokenCipher
from app.tasks.deliveries import drain
from tests.helpers import on_paid_plan
from tests.integrations.receiver import Receiver, serve
from tests.shopify import test_discount_codes
from tests.shopify.conftest import TEST_ENCRYPTION_KEY
from tests.shopify.test_discount_codes import CUSTOMER, redeem, redemption, reward

# The fake's shop, installed through a real token exchange, its customer holding 1,200 points.
shop = test_discount_codes.shop


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**settings_overrides, "webhooks_allow_private_targets": True}  # the receiver is on 127.0.0.1


@pytest.fixture
def receiver(db_session, shop: Shop) -> Iterator[Receiver]:  # type: ignore[no-untyped-def]
    """A real receiver subscribed to every topic of the paying shop (the worker's deliveries need `worker`: its app
    holds the cipher of the endpoints' secrets)."""
    on_paid_plan(db_session, shop)
    for receiver in serve():
        service.create_endpoint(
            db_session,
            TokenCipher((TEST_ENCRYPTION_KEY,)),
            shop_id=shop.id,
            url=receiver.url,
            topics=list(TOPICS),
            allow_private=True,
        )
        db_session.commit()
        yield receiver


def received(receiver: Receiver) -> dict[str, dict[str, Any]]:
    return {r.headers[signing.TOPIC_HEADER]: json.loads(r.body)["data"] for r in receiver.requests}


def test_a_redemption_announces_the_spend_then_the_code_once_shopify_has_it(  # type: ignore[no-untyped-def]
    client, shopify_fake, db_session, shop, outward, worker, receiver
) -> None:
    reward_id = reward(db_session, shop)

    redeemed = redeem(client, shopify_fake, reward_id)
    assert redeemed["status"] == "pending"
    drain(outward)  # the code is made in Shopify, and points.redeemed sent
    drain(outward)  # reward.issued, staged when the code was settled

    by_topic = received(receiver)
    assert set(by_topic) == {"points.redeemed", "reward.issued"}
    spent = by_topic["points.redeemed"]
    assert (spent["customer_id"], spent["points"], spent["redemption_id"]) == (
        CUSTOMER,
        -500,
        redeemed["redemption_id"],
    )
    issued = by_topic["reward.issued"]
    code = redemption(db_session).code
    assert issued == {
        "customer_id": CUSTOMER,
        "redemption_id": redeemed["redemption_id"],
        "reward_id": str(reward_id),
        "reward_name": "Five off",
        "reward_kind": "fixed_amount",
        "code": code,
        "value": "5.00",
        "points_spent": 500,
        "expires_at": None,
    }

    receiver.requests.clear()
    drain(outward)  # nothing is announced twice
    assert receiver.requests == []


def test_a_code_shopify_refuses_is_never_announced_and_its_points_coming_back_are(  # type: ignore[no-untyped-def]
    client, shopify_fake, db_session, shop, outward, worker, receiver
) -> None:
    reward_id = reward(db_session, shop)
    shopify_fake.faults.user_errors(
        "discountCodeBasicCreate", [{"field": ["basicCodeDiscount", "code"], "code": "TAKEN", "message": "Taken"}]
    )
    redeem(client, shopify_fake, reward_id)
    drain(outward)  # Shopify refuses the code: the points come back
    drain(outward)

    by_topic = received(receiver)
    assert "reward.issued" not in by_topic
    assert (by_topic["points.redeemed"]["points"], by_topic["points.returned"]["points"]) == (-500, 500)
