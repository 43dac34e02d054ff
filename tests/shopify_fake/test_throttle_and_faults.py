"""Cost, the leaky bucket and every injectable fault, seen through a plain HTTP client; and the recorder."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.shopify_fake.bucket import LeakyBucket
from tests.shopify_fake.bulk import order_node
from tests.shopify_fake.calls import CREATE_REWARD, FIND_CODE, OTHER_SHOP, SHOP, ShopifyCalls, reward_input
from tests.shopify_fake.server import FakeShopify

ORDER_IDS = "query Orders($n: Int!) { orders(first: $n) { edges { node { id } } } }"


def create_reward(calls: ShopifyCalls, token: str, code: str, *, timeout: float | None = None) -> httpx.Response:
    return calls.graphql(CREATE_REWARD, {"input": reward_input(code=code)}, token=token, timeout=timeout)


@pytest.fixture
def token(shopify_fake: FakeShopify) -> str:
    return shopify_fake.state.install(SHOP)["access_token"]


def test_every_answer_carries_the_cost_block(calls: ShopifyCalls, shopify_fake: FakeShopify, token: str) -> None:
    for order_id in (1, 2):
        shopify_fake.state.add_order(SHOP, order_node(order_id, created_at="2026-01-01T00:00:00Z", total="1.00"))

    query = calls.graphql(ORDER_IDS, {"n": 10}, token=token).json()["extensions"]["cost"]
    mutation = create_reward(calls, token, "COST-1").json()["extensions"]["cost"]

    # A connection costs 2 plus one per node: 10 requested, 2 returned.
    assert (query["requestedQueryCost"], query["actualQueryCost"]) == (12, 4)
    assert (mutation["requestedQueryCost"], mutation["actualQueryCost"]) == (10, 10)
    status = mutation["throttleStatus"]
    assert set(status) == {"maximumAvailable", "currentlyAvailable", "restoreRate"}
    assert (status["maximumAvailable"], status["restoreRate"]) == (2000.0, 100.0)
    assert 2000.0 - 14 <= status["currentlyAvailable"] <= 2000.0


def test_an_empty_bucket_answers_throttled_and_writes_nothing(
    calls: ShopifyCalls, shopify_fake: FakeShopify, token: str
) -> None:
    shopify_fake.configure_bucket(25, 0.01)

    answers = [create_reward(calls, token, f"BURST-{n}") for n in range(3)]

    assert [answer.status_code for answer in answers] == [200, 200, 200]
    throttled = answers[2].json()
    assert throttled["errors"] == [
        {
            "message": "Throttled",
            "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"},
        }
    ]
    assert "data" not in throttled
    cost = throttled["extensions"]["cost"]
    assert (cost["requestedQueryCost"], cost["actualQueryCost"]) == (10, None)
    assert cost["throttleStatus"]["currentlyAvailable"] == 5.0
    assert shopify_fake.state.discount_codes(SHOP) == ["BURST-0", "BURST-1"]


def test_the_bucket_refills_at_its_restore_rate_up_to_its_maximum() -> None:
    now = [100.0]
    bucket = LeakyBucket(maximum=50, restore_rate=10, clock=lambda: now[0])
    assert bucket.take(50) and not bucket.take(1)

    now[0] += 2.5
    assert bucket.status()["currentlyAvailable"] == 25.0
    assert bucket.take(25) and not bucket.take(1)
    bucket.refund(5)
    now[0] += 60
    assert bucket.status() == {"maximumAvailable": 50.0, "currentlyAvailable": 50.0, "restoreRate": 10.0}


def test_buckets_are_per_shop(calls: ShopifyCalls, shopify_fake: FakeShopify, token: str) -> None:
    other_token = shopify_fake.state.install(OTHER_SHOP)["access_token"]
    shopify_fake.configure_bucket(2000, 0.01)  # so slow that the drained bucket stays empty for the test
    shopify_fake.state.shop(SHOP).bucket.drain()

    own = create_reward(calls, token, "PER-SHOP").json()
    other = calls.graphql(CREATE_REWARD, {"input": reward_input(code="PER-SHOP")}, shop=OTHER_SHOP, token=other_token)

    assert own["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert "errors" not in other.json()


def test_a_query_requesting_more_than_1000_points_is_refused_before_it_runs(calls: ShopifyCalls, token: str) -> None:
    query = "{ orders(first: 250) { edges { node { id lineItems(first: 250) { nodes { id } } } } } }"

    body = calls.graphql(query, token=token).json()

    assert body["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert body["extensions"]["cost"]["requestedQueryCost"] == 2 + 250 * (1 + 2 + 250)


@pytest.mark.parametrize(("status", "retry_after"), [(500, None), (502, None), (503, "2"), (504, None)])
def test_a_server_error_fault_answers_its_status_once(
    status: int, retry_after: str | None, calls: ShopifyCalls, shopify_fake: FakeShopify, token: str
) -> None:
    shopify_fake.faults.server_error(status=status, retry_after=retry_after)

    failed = create_reward(calls, token, "FAULT-1")
    recovered = create_reward(calls, token, "FAULT-2")

    assert failed.status_code == status
    assert failed.headers.get("Retry-After") == retry_after
    assert recovered.status_code == 200
    assert shopify_fake.state.discount_codes(SHOP) == ["FAULT-2"]


@pytest.mark.parametrize(("status", "reason"), [(402, "Payment Required"), (403, "Forbidden"), (423, "Locked")])
def test_a_refused_fault_answers_its_status_and_writes_nothing(
    status: int, reason: str, calls: ShopifyCalls, shopify_fake: FakeShopify, token: str
) -> None:
    shopify_fake.faults.refused("discountCodeBasicCreate", status=status, times=2)

    answers = [create_reward(calls, token, f"REFUSED-{n}") for n in range(3)]

    assert [(answer.status_code, answer.headers.get("Retry-After")) for answer in answers[:2]] == [(status, None)] * 2
    assert answers[0].json() == {"errors": reason}
    assert answers[2].status_code == 200
    assert shopify_fake.state.discount_codes(SHOP) == ["REFUSED-2"]


def test_a_refused_fault_is_only_for_statuses_shopify_refuses_a_shop_with(shopify_fake: FakeShopify) -> None:
    with pytest.raises(ValueError, match=r"refused\(\) answers one of \[402, 403, 423\], not 500"):
        shopify_fake.faults.refused(status=500)


def test_a_rate_limited_fault_answers_429_with_whole_seconds_to_wait(
    calls: ShopifyCalls, shopify_fake: FakeShopify, token: str
) -> None:
    shopify_fake.faults.rate_limited(retry_after="3", times=2)

    answers = [create_reward(calls, token, f"LIMITED-{n}") for n in range(3)]

    assert [answer.status_code for answer in answers] == [429, 429, 200]
    assert int(answers[0].headers["Retry-After"]) == 3


def test_a_throttled_fault_answers_throttled_whatever_the_bucket_holds(
    calls: ShopifyCalls, shopify_fake: FakeShopify, token: str
) -> None:
    shopify_fake.faults.throttled("discountCodeBasicCreate")

    body = create_reward(calls, token, "THROTTLED-1").json()

    assert body["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert shopify_fake.state.discount_codes(SHOP) == []


def test_a_fault_for_one_operation_leaves_the_others_alone(
    calls: ShopifyCalls, shopify_fake: FakeShopify, token: str
) -> None:
    shopify_fake.faults.server_error("metafieldsSet")

    lookup = calls.graphql(FIND_CODE, {"code": "ANY"}, token=token)
    created = create_reward(calls, token, "UNTOUCHED")

    assert (lookup.status_code, created.status_code) == (200, 200)


def test_a_timeout_after_the_write_closes_the_connection_once_the_code_exists(
    calls: ShopifyCalls, shopify_fake: FakeShopify, token: str
) -> None:
    shopify_fake.faults.timeout_after_write("CreateReward")

    with pytest.raises(httpx.RemoteProtocolError):
        create_reward(calls, token, "WRITTEN-1")

    found = calls.graphql(FIND_CODE, {"code": "WRITTEN-1"}, token=token).json()
    assert found["data"]["codeDiscountNodeByCode"] is not None
    assert shopify_fake.state.discount_codes(SHOP) == ["WRITTEN-1"]


def test_a_stalled_write_times_the_client_out_after_the_write(
    calls: ShopifyCalls, shopify_fake: FakeShopify, token: str
) -> None:
    shopify_fake.faults.timeout_after_write("discountCodeBasicCreate", mode="stall", stall_seconds=5)

    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        create_reward(calls, token, "STALLED-1", timeout=0.3)

    assert time.monotonic() - started < 2
    assert shopify_fake.state.discount_codes(SHOP) == ["STALLED-1"]


@pytest.mark.parametrize(("after_write", "written"), [(False, []), (True, ["INTERNAL-1"])])
def test_an_internal_error_fault_answers_200_with_internal_server_error(
    after_write: bool, written: list[str], calls: ShopifyCalls, shopify_fake: FakeShopify, token: str
) -> None:
    shopify_fake.faults.internal_error("discountCodeBasicCreate", after_write=after_write)

    answer = create_reward(calls, token, "INTERNAL-1")

    assert answer.status_code == 200
    (error,) = answer.json()["errors"]
    assert "data" not in answer.json()
    assert error["message"].startswith("Internal error. Looks like something went wrong on our end.")
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR" and error["extensions"]["requestId"]
    assert shopify_fake.state.discount_codes(SHOP) == written


@pytest.mark.parametrize(("after_write", "written"), [(False, []), (True, ["MALFORMED-1"])])
def test_a_malformed_fault_answers_200_with_its_body(
    after_write: bool, written: list[str], calls: ShopifyCalls, shopify_fake: FakeShopify, token: str
) -> None:
    shopify_fake.faults.malformed("discountCodeBasicCreate", after_write=after_write, body=b'{"data": {"discount')

    answer = create_reward(calls, token, "MALFORMED-1")

    assert (answer.status_code, answer.content) == (200, b'{"data": {"discount')
    assert shopify_fake.state.discount_codes(SHOP) == written


def test_forced_user_errors_answer_the_payload_and_write_nothing(
    calls: ShopifyCalls, shopify_fake: FakeShopify, token: str
) -> None:
    error = {"field": ["basicCodeDiscount", "customerGets"], "code": "INVALID", "message": "Forced by the test"}
    shopify_fake.faults.user_errors("discountCodeBasicCreate", [error])

    refused = create_reward(calls, token, "REFUSED-1").json()["data"]["discountCodeBasicCreate"]
    accepted = create_reward(calls, token, "ACCEPTED-1").json()["data"]["discountCodeBasicCreate"]

    assert refused == {"codeDiscountNode": None, "userErrors": [error]}
    assert accepted["userErrors"] == []
    assert shopify_fake.state.discount_codes(SHOP) == ["ACCEPTED-1"]


def test_a_token_endpoint_fault_leaves_admin_graphql_alone(
    calls: ShopifyCalls, shopify_fake: FakeShopify, token: str
) -> None:
    shopify_fake.faults.server_error("oauth", status=502)
    refresh_token = shopify_fake.state.install(SHOP)["refresh_token"]

    created = create_reward(calls, token, "NOT-OAUTH")
    failed = calls.token(SHOP, grant_type="refresh_token", refresh_token=refresh_token)
    refreshed = calls.token(SHOP, grant_type="refresh_token", refresh_token=refresh_token)

    assert (created.status_code, failed.status_code, refreshed.status_code) == (200, 502, 200)


def test_the_recorder_keeps_shopifys_side_of_the_conversation(
    calls: ShopifyCalls, shopify_fake: FakeShopify, token: str
) -> None:
    create_reward(calls, token, "RECORDED-1")
    calls.token(SHOP, code="unknown")

    [graphql] = shopify_fake.recorder.graphql("discountCodeBasicCreate", shop=SHOP)
    assert (graphql.method, graphql.path, graphql.shop) == ("POST", "/admin/api/2026-10/graphql.json", SHOP)
    assert graphql.header("x-shopify-access-token") == token
    assert (graphql.operation_name, graphql.root_fields) == ("CreateReward", ("discountCodeBasicCreate",))
    assert graphql.variables["input"]["code"] == "RECORDED-1"
    assert shopify_fake.recorder.graphql("CreateReward") == [graphql]
    assert shopify_fake.recorder.graphql(shop=OTHER_SHOP) == []
    [token_request] = shopify_fake.recorder.token_requests(shop=SHOP)
    assert token_request.body and token_request.header("Content-Type") == "application/json"
