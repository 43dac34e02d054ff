"""Redemptions through POST /graphql become real discount codes in the fake Shopify: exactly one code per redemption,
for that customer only, with the reward's value; a lost answer never makes a second code; a refusal returns the
points; a redemption Shopify never confirms fails in bounded time; the shopper never sees a code that does not
exist."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update

from app.loyalty import rewards
from app.models import CustomerLoyaltyProfile, Outbox, RedemptionLog, Shop
from app.tasks.deliveries import drain
from app.tasks.discount_codes import confirm_overdue
from tests.loyalty.rewards_helpers import give_points
from tests.shopify.conftest import SHOP

# Shopify's statuses for a shop it serves no call for until its owner or Shopify acts, and the reason the app gives.
SHOP_UNAVAILABLE = [
    (402, "402 Payment Required: the shop is frozen until its owner pays Shopify's outstanding balance"),
    (423, "423 Locked: Shopify has locked the shop"),
]

CUSTOMER = "115310627314723954"
CUSTOMER_GID = f"gid://shopify/Customer/{CUSTOMER}"
REDEEM = """
mutation RedeemReward($input: RedeemRewardInput!) {
  redeemReward(input: $input) { success message points_deducted new_balance redemption_id status code }
}
"""
PROFILE = """
query GetLoyaltyProfile($customerId: String!) {
  loyaltyProfile(customerId: $customerId) { points_balance redemptions { id status code reward_name } }
}
"""


@pytest.fixture
def shop(admin, db_session) -> Shop:  # type: ignore[no-untyped-def]
    """The fake's shop, installed through a real token exchange, and our customer with 1,200 points."""
    admin.install()
    installed = db_session.execute(select(Shop).where(Shop.domain == SHOP)).scalar_one()
    give_points(db_session, installed, CUSTOMER, 1_200, datetime.now(timezone.utc))
    db_session.commit()
    return installed


def reward(db_session, shop: Shop, **fields: Any) -> int:  # type: ignore[no-untyped-def]
    spec = {"name": "Five off", "kind": "fixed_amount", "points_cost": 500, "value": "5.00", **fields}
    created = rewards.create_reward(db_session, shop_id=shop.id, spec=rewards.RewardSpec(**spec))  # type: ignore[arg-type]
    db_session.commit()
    return created.id


def storefront(client, shopify_fake, query: str, variables: dict) -> dict:  # type: ignore[no-untyped-def]
    token = shopify_fake.signer.session_token(shop=SHOP, customer_id=CUSTOMER)
    response = client.post(
        "/graphql", json={"query": query, "variables": variables}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert "errors" not in body, body
    return body["data"]


def redeem(client, shopify_fake, reward_id: int, key: str = "checkout-1") -> dict:  # type: ignore[no-untyped-def]
    variables = {"input": {"customerId": CUSTOMER, "rewardId": str(reward_id), "idempotencyKey": key}}
    return storefront(client, shopify_fake, REDEEM, variables)["redeemReward"]


def codes_in_shopify(shopify_fake) -> list[dict]:  # type: ignore[no-untyped-def]
    return [node["codeDiscount"] for node in shopify_fake.state.shop(SHOP).discounts.values()]


def redemption(db_session) -> RedemptionLog:  # type: ignore[no-untyped-def]
    db_session.expire_all()
    return db_session.execute(select(RedemptionLog)).scalar_one()


def balance(db_session) -> int:  # type: ignore[no-untyped-def]
    db_session.expire_all()
    return db_session.execute(
        select(CustomerLoyaltyProfile.points_balance).where(CustomerLoyaltyProfile.customer_id == CUSTOMER)
    ).scalar_one()


def create_row(db_session) -> Outbox:  # type: ignore[no-untyped-def]
    db_session.expire_all()
    return db_session.execute(select(Outbox).where(Outbox.kind == "discount_code.create")).scalar_one()


def make_due(db_session) -> None:  # type: ignore[no-untyped-def]
    """As if the back-off had passed."""
    db_session.execute(update(Outbox).values(next_attempt_at=datetime.now(timezone.utc) - timedelta(seconds=1)))
    db_session.commit()


def test_a_redemption_becomes_exactly_one_code_for_that_customer_and_reaches_the_shopper(  # type: ignore[no-untyped-def]
    client, shopify_fake, db_session, shop, outward
) -> None:
    reward_id = reward(db_session, shop, min_order_amount="20", code_expiry_days=30)
    redeemed = redeem(client, shopify_fake, reward_id)
    # Until Shopify has the code, the shopper sees it pending and no code at all.
    assert (redeemed["success"], redeemed["status"], redeemed["code"], redeemed["new_balance"]) == (
        True,
        "pending",
        None,
        700,
    )
    assert storefront(client, shopify_fake, PROFILE, {"customerId": CUSTOMER})["loyaltyProfile"]["redemptions"] == [
        {"id": redeemed["redemption_id"], "status": "pending", "code": None, "reward_name": "Five off"}
    ]

    report = drain(outward)

    assert report.done >= 1 and report.failed == 0
    (discount,) = codes_in_shopify(shopify_fake)
    code = redemption(db_session).code
    assert discount["codes"]["nodes"][0]["code"] == code
    assert discount["context"] == {"__typename": "DiscountCustomers", "customer_ids": [CUSTOMER_GID]}
    assert discount["customerGets"]["value"]["amount"] == {"amount": "5.0", "currencyCode": "USD"}
    assert discount["usageLimit"] == 1 and discount["appliesOncePerCustomer"] is True
    assert Decimal(discount["minimumRequirement"]["greaterThanOrEqualToSubtotal"]["amount"]) == Decimal("20")
    assert discount["endsAt"] is not None
    assert (redemption(db_session).status, create_row(db_session).status) == ("posted", "done")
    assert redemption(db_session).shopify_discount_id.startswith("gid://shopify/DiscountCodeNode/")
    # Now the shopper gets the code: in their profile, and by asking again with the same key.
    profile = storefront(client, shopify_fake, PROFILE, {"customerId": CUSTOMER})["loyaltyProfile"]
    assert profile["redemptions"][0]["status"] == "posted" and profile["redemptions"][0]["code"] == code
    again = redeem(client, shopify_fake, reward_id)
    assert (again["status"], again["code"], again["new_balance"]) == ("posted", code, 700)
    # Draining again sends nothing more.
    creates = len(shopify_fake.recorder.graphql("discountCodeBasicCreate"))
    drain(outward)
    assert len(shopify_fake.recorder.graphql("discountCodeBasicCreate")) == creates == 1


@pytest.mark.parametrize(
    ("fields", "mutation", "check"),
    [
        (
            {"kind": "percentage", "value": "10"},
            "discountCodeBasicCreate",
            lambda d: d["customerGets"]["value"] == {"__typename": "DiscountPercentage", "percentage": 0.1},
        ),
        (
            {"kind": "free_shipping", "value": None},
            "discountCodeFreeShippingCreate",
            lambda d: d["__typename"] == "DiscountCodeFreeShipping",
        ),
        (
            {"kind": "free_product", "value": None, "variant_id": "49148385"},
            "discountCodeBasicCreate",
            lambda d: (
                d["customerGets"]["value"]["percentage"] == 1.0
                and d["customerGets"]["items"]["productVariants"]["nodes"]
                == [{"id": "gid://shopify/ProductVariant/49148385"}]
            ),
        ),
    ],
    ids=["percentage", "free-shipping", "free-product"],
)
def test_each_reward_kind_becomes_the_matching_code(  # type: ignore[no-untyped-def]
    client, shopify_fake, db_session, shop, outward, fields, mutation, check
) -> None:
    redeem(client, shopify_fake, reward(db_session, shop, **fields))
    drain(outward)
    (discount,) = codes_in_shopify(shopify_fake)
    assert check(discount), discount
    assert len(shopify_fake.recorder.graphql(mutation)) == 1
    assert discount["context"]["customer_ids"] == [CUSTOMER_GID]
    assert redemption(db_session).status == "posted"


def test_a_lost_answer_after_the_write_is_looked_up_and_never_makes_a_second_code(  # type: ignore[no-untyped-def]
    client, shopify_fake, db_session, shop, outward
) -> None:
    redeem(client, shopify_fake, reward(db_session, shop))
    shopify_fake.faults.timeout_after_write("discountCodeBasicCreate")
    drain(outward)
    assert len(codes_in_shopify(shopify_fake)) == 1
    assert len(shopify_fake.recorder.graphql("discountCodeBasicCreate")) == 1
    assert len(shopify_fake.recorder.graphql("codeDiscountNodeByCode")) == 1
    assert redemption(db_session).status == "posted" and balance(db_session) == 700


def test_a_lost_answer_that_cannot_be_checked_yet_is_checked_before_the_next_write(  # type: ignore[no-untyped-def]
    client, shopify_fake, db_session, shop, outward
) -> None:
    """The create was written but neither it nor the lookup answered: the row waits; the next attempt looks first."""
    redeem(client, shopify_fake, reward(db_session, shop))
    shopify_fake.faults.timeout_after_write("discountCodeBasicCreate")
    shopify_fake.faults.server_error("codeDiscountNodeByCode", status=503, retry_after="0", times=10)
    first = drain(outward)
    assert (first.retried, redemption(db_session).status) == (1, "pending")
    shopify_fake.faults.clear()
    make_due(db_session)
    drain(outward)
    assert len(codes_in_shopify(shopify_fake)) == 1
    assert len(shopify_fake.recorder.graphql("discountCodeBasicCreate")) == 1
    assert redemption(db_session).status == "posted" and create_row(db_session).attempts == 2


def test_shopifys_internal_error_after_the_write_settles_the_code_it_made(  # type: ignore[no-untyped-def]
    client, shopify_fake, db_session, shop, outward
) -> None:
    """INTERNAL_SERVER_ERROR is Shopify's 500 (answered as HTTP 200): the code may exist, so it is looked up, and the
    shopper keeps it; the points are not given back for a code that works."""
    redeem(client, shopify_fake, reward(db_session, shop))
    shopify_fake.faults.internal_error("discountCodeBasicCreate", after_write=True)
    report = drain(outward)
    assert report.failed == 0
    assert len(codes_in_shopify(shopify_fake)) == 1
    assert len(shopify_fake.recorder.graphql("discountCodeBasicCreate")) == 1
    assert len(shopify_fake.recorder.graphql("codeDiscountNodeByCode")) == 1
    assert redemption(db_session).status == "posted" and balance(db_session) == 700
    assert create_row(db_session).status == "done"


def test_shopifys_internal_error_before_the_write_is_tried_again_not_refunded(  # type: ignore[no-untyped-def]
    client, shopify_fake, db_session, shop, outward
) -> None:
    redeem(client, shopify_fake, reward(db_session, shop))
    shopify_fake.faults.internal_error("discountCodeBasicCreate")
    first = drain(outward)
    assert (first.retried, first.failed) == (1, 0)
    assert (redemption(db_session).status, balance(db_session), codes_in_shopify(shopify_fake)) == ("pending", 700, [])
    assert create_row(db_session).status == "pending"
    make_due(db_session)
    drain(outward)
    assert len(codes_in_shopify(shopify_fake)) == 1
    assert len(shopify_fake.recorder.graphql("discountCodeBasicCreate")) == 2
    assert redemption(db_session).status == "posted" and balance(db_session) == 700


def test_a_200_that_is_not_a_graphql_answer_after_the_write_settles_the_code_it_made(  # type: ignore[no-untyped-def]
    client, shopify_fake, db_session, shop, outward
) -> None:
    redeem(client, shopify_fake, reward(db_session, shop))
    shopify_fake.faults.malformed("discountCodeBasicCreate", after_write=True, body=b"<html>upstream</html>")
    report = drain(outward)
    assert report.failed == 0
    assert len(codes_in_shopify(shopify_fake)) == 1
    assert len(shopify_fake.recorder.graphql("discountCodeBasicCreate")) == 1
    assert redemption(db_session).status == "posted" and balance(db_session) == 700


def test_an_overdue_lookup_answered_with_no_graphql_answer_waits_instead_of_refunding(  # type: ignore[no-untyped-def]
    client, shopify_fake, db_session, shop, outward
) -> None:
    """The code was written but never confirmed; the sweep's lookup gets 200s with no GraphQL answer. That says
    nothing about the code, so the redemption waits (the code exists): its points are not given back."""
    redeem(client, shopify_fake, reward(db_session, shop))
    shopify_fake.faults.timeout_after_write("discountCodeBasicCreate")
    shopify_fake.faults.server_error("codeDiscountNodeByCode", status=503, retry_after="0", times=4)
    drain(outward)
    minutes = outward.settings.redemption_confirm_minutes
    later = replace(outward, clock=lambda: datetime.now(timezone.utc) + timedelta(minutes=minutes + 1))
    shopify_fake.faults.malformed("codeDiscountNodeByCode", times=4, body=b"")
    assert confirm_overdue(later) == {"settled": 0, "failed": 0, "waiting": 1}
    assert redemption(db_session).status == "pending" and balance(db_session) == 700
    assert confirm_overdue(later) == {"settled": 1, "failed": 0, "waiting": 0}
    assert redemption(db_session).status == "posted" and len(codes_in_shopify(shopify_fake)) == 1


@pytest.mark.parametrize("retry_after", ["1e12", "inf"])
def test_a_retry_after_no_clock_can_reach_waits_an_hour_at_most(  # type: ignore[no-untyped-def]
    client, shopify_fake, db_session, shop, outward, retry_after
) -> None:
    """A Retry-After past any date must not stop the drain: it raised OverflowError while rescheduling, every time
    the row came due, and took the rows claimed after it along."""
    redeem(client, shopify_fake, reward(db_session, shop))
    shopify_fake.faults.rate_limited("discountCodeBasicCreate", retry_after=retry_after, times=4)
    before = datetime.now(timezone.utc)
    report = drain(outward)
    assert (report.retried, report.failed) == (1, 0)
    row = create_row(db_session)
    assert row.status == "pending" and before < row.next_attempt_at <= before + timedelta(hours=1, seconds=5)
    assert redemption(db_session).status == "pending" and balance(db_session) == 700


def test_user_errors_fail_the_redemption_and_the_points_come_back(  # type: ignore[no-untyped-def]
    client, shopify_fake, db_session, shop, outward
) -> None:
    reward_id = reward(db_session, shop)
    assert redeem(client, shopify_fake, reward_id)["new_balance"] == 700
    shopify_fake.faults.user_errors(
        "discountCodeBasicCreate",
        [{"field": ["basicCodeDiscount", "minimumRequirement"], "code": "INVALID", "message": "Minimum is invalid"}],
    )
    report = drain(outward)
    assert report.failed == 1
    assert codes_in_shopify(shopify_fake) == []
    failed = redemption(db_session)
    assert failed.status == "failed" and "Minimum is invalid" in failed.failure_reason
    assert balance(db_session) == 1_200
    assert (create_row(db_session).status, create_row(db_session).last_error) == ("failed", failed.failure_reason)
    # The shopper sees it failed, with no code, and their points back; the same key does not spend again.
    again = redeem(client, shopify_fake, reward_id)
    assert (again["status"], again["code"]) == ("failed", None)
    assert (
        storefront(client, shopify_fake, PROFILE, {"customerId": CUSTOMER})["loyaltyProfile"]["points_balance"] == 1_200
    )


@pytest.mark.parametrize(("status", "why"), SHOP_UNAVAILABLE)
def test_a_frozen_or_locked_shop_fails_the_redemption_at_once_with_its_points_and_why(  # type: ignore[no-untyped-def]
    client, shopify_fake, db_session, shop, outward, caplog, status, why
) -> None:
    """Kept on purpose (docs/shopify-outward.md): such a shop sells nothing until its owner acts, often for days, so
    the shopper gets their points back at once, with the reason, rather than a pending code for hours."""
    reward_id = reward(db_session, shop)
    redeem(client, shopify_fake, reward_id)
    shopify_fake.faults.refused("discountCodeBasicCreate", status=status)
    with caplog.at_level("WARNING"):
        report = drain(outward)
    assert (report.retried, report.failed) == (0, 1)  # the create; the balance's customer.sync is done
    assert len(shopify_fake.recorder.graphql("discountCodeBasicCreate")) == 1 and codes_in_shopify(shopify_fake) == []
    failed = redemption(db_session)
    assert failed.status == "failed" and failed.failure_reason.startswith(f"Shopify answered {why}")
    assert failed.failure_reason.endswith(f"({SHOP})")
    assert balance(db_session) == 1_200
    assert (create_row(db_session).status, create_row(db_session).last_error) == ("failed", failed.failure_reason)
    assert [record for record in caplog.records if record.exc_info] == []
    again = redeem(client, shopify_fake, reward_id, key="checkout-2")  # the shop is back: a new redemption works
    assert again["new_balance"] == 700
    drain(outward)
    assert len(codes_in_shopify(shopify_fake)) == 1


def test_a_frozen_shop_on_a_retrys_lookup_leaves_the_create_to_the_usual_back_off(  # type: ignore[no-untyped-def]
    client, shopify_fake, db_session, shop, outward
) -> None:
    """An earlier attempt may have written the code, so no refund; and the create does not wait an hour for the
    shop as sync rows do (the confirmation sweep skips a create that is not due)."""
    redeem(client, shopify_fake, reward(db_session, shop))
    shopify_fake.faults.internal_error("discountCodeBasicCreate")
    drain(outward)
    make_due(db_session)
    shopify_fake.faults.refused("codeDiscountNodeByCode", status=402)
    before = datetime.now(timezone.utc)
    report = drain(outward)
    assert (report.retried, report.failed, report.waiting) == (1, 0, 0)
    row = create_row(db_session)
    assert row.status == "pending" and row.next_attempt_at < before + timedelta(minutes=5)
    assert row.last_error.startswith("Shopify answered 402 Payment Required")
    assert (redemption(db_session).status, balance(db_session)) == ("pending", 700)
    make_due(db_session)
    drain(outward)
    assert redemption(db_session).status == "posted" and len(codes_in_shopify(shopify_fake)) == 1


def test_an_uninstalled_shop_sends_nothing_and_its_work_waits(  # type: ignore[no-untyped-def]
    client, shopify_fake, db_session, shop, outward
) -> None:
    redeem(client, shopify_fake, reward(db_session, shop))
    db_session.execute(update(Shop).where(Shop.id == shop.id).values(uninstalled_at=datetime.now(timezone.utc)))
    db_session.commit()
    shopify_fake.recorder.clear()
    report = drain(outward)
    assert (report.done, report.retried, report.failed) == (0, 0, 0)
    assert shopify_fake.recorder.requests == []
    assert (create_row(db_session).status, create_row(db_session).attempts) == ("pending", 0)


def test_a_redemption_shopify_never_confirms_fails_in_bounded_time_with_its_points(  # type: ignore[no-untyped-def]
    client, shopify_fake, db_session, shop, outward
) -> None:
    redeem(client, shopify_fake, reward(db_session, shop))
    shopify_fake.faults.server_error("discountCodeBasicCreate", status=503, retry_after="0", times=100)
    drain(outward)
    assert redemption(db_session).status == "pending"
    # Not yet overdue: nothing happens.
    assert confirm_overdue(outward) == {"settled": 0, "failed": 0, "waiting": 0}
    minutes = outward.settings.redemption_confirm_minutes
    later = replace(outward, clock=lambda: datetime.now(timezone.utc) + timedelta(minutes=minutes + 1))
    assert confirm_overdue(later) == {"settled": 0, "failed": 1, "waiting": 0}
    assert redemption(db_session).status == "failed" and balance(db_session) == 1_200
    assert create_row(db_session).status == "failed"
    shopify_fake.faults.clear()
    drain(later)  # the stopped create is never sent
    assert codes_in_shopify(shopify_fake) == []


def test_an_overdue_redemption_whose_code_exists_after_all_is_settled_not_failed(  # type: ignore[no-untyped-def]
    client, shopify_fake, db_session, shop, outward
) -> None:
    redeem(client, shopify_fake, reward(db_session, shop))
    shopify_fake.faults.timeout_after_write("discountCodeBasicCreate")
    shopify_fake.faults.server_error("codeDiscountNodeByCode", status=503, retry_after="0", times=4)
    drain(outward)  # written, but unconfirmed: the row backs off
    minutes = outward.settings.redemption_confirm_minutes
    later = replace(outward, clock=lambda: datetime.now(timezone.utc) + timedelta(minutes=minutes + 1))
    assert confirm_overdue(later) == {"settled": 1, "failed": 0, "waiting": 0}
    assert redemption(db_session).status == "posted" and balance(db_session) == 700
    assert create_row(db_session).status == "done"
    assert len(codes_in_shopify(shopify_fake)) == 1


def test_rows_of_an_unknown_kind_stay_pending(db_session, shop, outward, shopify_fake) -> None:  # type: ignore[no-untyped-def]
    """Every kind the app stages has a handler now (GDPR exports: tests/admin/test_data_request_delivery.py); a kind
    with none, say staged by a newer release during a rolling deploy, is kept, never claimed or dropped."""
    db_session.add(Outbox(shop_id=shop.id, kind="loyalty.from_the_future", dedupe_key="future:1", payload={"x": 1}))
    db_session.commit()
    drain(outward)
    db_session.expire_all()
    rows = db_session.execute(
        select(Outbox.kind, Outbox.status, Outbox.attempts).where(Outbox.kind == "loyalty.from_the_future")
    ).all()
    assert rows == [("loyalty.from_the_future", "pending", 0)]


def test_a_cancelled_code_is_deactivated_in_shopify(client, shopify_fake, db_session, shop, outward) -> None:  # type: ignore[no-untyped-def]
    redeem(client, shopify_fake, reward(db_session, shop))
    drain(outward)
    posted = redemption(db_session)
    rewards.cancel(db_session, shop_id=shop.id, redemption_id=posted.id, now=datetime.now(timezone.utc), actor="staff")
    db_session.commit()
    assert balance(db_session) == 1_200

    drain(outward)

    (deactivated,) = shopify_fake.recorder.graphql("discountCodeDeactivate")
    assert deactivated.variables == {"id": posted.shopify_discount_id}
    (node,) = shopify_fake.state.shop(SHOP).discounts.values()
    assert node["codeDiscount"]["endsAt"] is not None  # it reads EXPIRED from now on
    db_session.expire_all()
    kinds = dict(
        db_session.execute(select(Outbox.kind, Outbox.status).where(Outbox.kind.like("discount_code.%"))).all()
    )
    assert kinds == {"discount_code.create": "done", "discount_code.deactivate": "done"}


def test_each_shops_codes_go_to_that_shop_only(client, admin, shopify_fake, db_session, shop, outward) -> None:  # type: ignore[no-untyped-def]
    other_domain = "other-shop.myshopify.com"
    admin.install(other_domain)
    other = db_session.execute(select(Shop).where(Shop.domain == other_domain)).scalar_one()
    now = datetime.now(timezone.utc)
    give_points(db_session, other, CUSTOMER, 900, now)
    other_reward = reward(db_session, other, name="Other shop's reward", value="7.00")
    theirs = rewards.redeem_reward(db_session, shop=other, customer_id=CUSTOMER, reward_id=other_reward, now=now)
    db_session.commit()
    redeem(client, shopify_fake, reward(db_session, shop))

    drain(outward, shop_id=shop.id)  # one shop's drain touches only that shop
    assert shopify_fake.state.discount_codes(other_domain) == []
    drain(outward)

    ours = db_session.execute(select(RedemptionLog.code).where(RedemptionLog.shop_id == shop.id)).scalar_one()
    assert shopify_fake.state.discount_codes(SHOP) == [ours]
    assert shopify_fake.state.discount_codes(other_domain) == [theirs.redemption.code]
    for request in shopify_fake.recorder.graphql("discountCodeBasicCreate"):
        code = request.variables["input"]["code"]
        assert request.shop == (SHOP if code == ours else other_domain)


def test_a_code_created_for_a_redemption_failed_meanwhile_is_deactivated(  # type: ignore[no-untyped-def]
    app, client, shopify_fake, db_session, shop, outward, redis_client, redis_namespace
) -> None:
    """The create is written but its answer is late; meanwhile the redemption fails (a confirmation sweep after a
    worker overran its lease) and the points come back. The code must not stay usable: it is deactivated."""
    import httpx

    from app.shopify.http import RedirectToOrigin
    from app.tasks import deliveries

    redeem(client, shopify_fake, reward(db_session, shop))
    impatient = replace(
        outward.api.tokens, http=httpx.Client(timeout=1.0, transport=RedirectToOrigin(shopify_fake.origin))
    )
    slow = replace(outward, api=replace(outward.api, tokens=impatient))
    shopify_fake.faults.timeout_after_write("discountCodeBasicCreate", mode="stall", stall_seconds=2)
    claimed = deliveries.claim(outward.sessions, now=datetime.now(timezone.utc), shop_id=shop.id)
    (job,) = [job for job in claimed if job.kind == "discount_code.create"]
    report = deliveries.DrainReport()
    worker = threading.Thread(target=deliveries.deliver, args=(slow, job, report))
    worker.start()
    time.sleep(0.5)  # the create has been written and is waiting for its answer
    rewards.fail(
        db_session,
        shop_id=shop.id,
        redemption_id=job.payload["redemption_id"],
        reason="overdue",
        now=datetime.now(timezone.utc),
    )
    db_session.commit()
    worker.join(timeout=30)

    assert report.failed == 1 and "deactivating it" in report.errors[0]
    assert balance(db_session) == 1_200 and redemption(db_session).status == "failed"
    drain(outward)
    (node,) = shopify_fake.state.shop(SHOP).discounts.values()
    assert len(shopify_fake.recorder.graphql("discountCodeDeactivate")) == 1
    assert node["codeDiscount"]["endsAt"] is not None
