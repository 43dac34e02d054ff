"""Admin GraphQL held to Shopify's documented shapes: discounts, metafields, tags, billing and bulk operations."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.shopify_fake.bulk import order_node
from tests.shopify_fake.calls import CREATE_REWARD, CUSTOMER, FIND_CODE, OTHER_SHOP, SHOP, ShopifyCalls, reward_input
from tests.shopify_fake.server import FakeShopify


def test_discount_code_basic_create_answers_the_documented_payload(calls: ShopifyCalls) -> None:
    body = calls.admin(CREATE_REWARD, {"input": reward_input()})

    payload = body["data"]["discountCodeBasicCreate"]
    assert payload["userErrors"] == []
    node = payload["codeDiscountNode"]
    assert node["id"].startswith("gid://shopify/DiscountCodeNode/")
    assert node["codeDiscount"] == {
        "title": "Loyalty reward – 500 pts",
        "status": "ACTIVE",
        "usageLimit": 1,
        "appliesOncePerCustomer": True,
        "startsAt": "2026-09-01T00:00:00Z",
        "endsAt": None,
        "codes": {"nodes": [{"code": "LOYAL-7F3K9Q"}]},
        "context": {"customers": [{"id": CUSTOMER}]},
        "customerGets": {
            "value": {"amount": {"amount": "5.0", "currencyCode": "USD"}, "appliesOnEachItem": False},
            "items": {"allItems": True},
        },
        "combinesWith": {"orderDiscounts": False, "productDiscounts": True, "shippingDiscounts": True},
    }


def test_code_discount_node_by_code_finds_the_code_whatever_its_case(calls: ShopifyCalls) -> None:
    created = calls.admin(CREATE_REWARD, {"input": reward_input()})["data"]["discountCodeBasicCreate"]

    found = calls.admin(FIND_CODE, {"code": "loyal-7f3k9q"})["data"]["codeDiscountNodeByCode"]
    missing = calls.admin(FIND_CODE, {"code": "NEVER-MADE"})["data"]["codeDiscountNodeByCode"]

    assert found["id"] == created["codeDiscountNode"]["id"]
    assert found["codeDiscount"]["codes"]["nodes"] == [{"code": "LOYAL-7F3K9Q"}]
    assert missing is None


DEACTIVATE = """
mutation discountCodeDeactivate($id: ID!) {
  discountCodeDeactivate(id: $id) {
    codeDiscountNode { id codeDiscount { ... on DiscountCodeBasic { title status endsAt } } }
    userErrors { field code message }
  }
}
"""


def test_discount_code_deactivate_expires_the_code_and_keeps_it(calls: ShopifyCalls) -> None:
    created = calls.admin(CREATE_REWARD, {"input": reward_input(startsAt="2026-01-01T00:00:00Z")})
    node_id = created["data"]["discountCodeBasicCreate"]["codeDiscountNode"]["id"]

    payload = calls.admin(DEACTIVATE, {"id": node_id})["data"]["discountCodeDeactivate"]
    unknown = calls.admin(DEACTIVATE, {"id": "gid://shopify/DiscountCodeNode/1"})["data"]["discountCodeDeactivate"]

    assert payload["userErrors"] == []
    assert payload["codeDiscountNode"]["id"] == node_id
    assert payload["codeDiscountNode"]["codeDiscount"]["status"] == "EXPIRED"
    assert calls.admin(FIND_CODE, {"code": "LOYAL-7F3K9Q"})["data"]["codeDiscountNodeByCode"]["id"] == node_id
    assert unknown == {
        "codeDiscountNode": None,
        "userErrors": [{"field": ["id"], "code": "INVALID", "message": "Discount does not exist"}],
    }


def test_a_taken_code_is_refused_with_userErrors_and_nothing_is_written(
    calls: ShopifyCalls, shopify_fake: FakeShopify
) -> None:
    calls.admin(CREATE_REWARD, {"input": reward_input()})

    again = calls.admin(CREATE_REWARD, {"input": reward_input(code="loyal-7f3k9q", title="Second")})

    assert again["data"]["discountCodeBasicCreate"] == {
        "codeDiscountNode": None,
        "userErrors": [
            {
                "field": ["basicCodeDiscount", "code"],
                "code": "TAKEN",
                "message": "Code must be unique. Please try a different code.",
            }
        ],
    }
    assert shopify_fake.state.discount_codes(SHOP) == ["LOYAL-7F3K9Q"]


def test_codes_are_unique_per_shop_and_a_shop_never_sees_another_shops_codes(
    calls: ShopifyCalls, shopify_fake: FakeShopify
) -> None:
    calls.admin(CREATE_REWARD, {"input": reward_input()})

    other = calls.admin(CREATE_REWARD, {"input": reward_input()}, shop=OTHER_SHOP)
    found_by_other = calls.admin(FIND_CODE, {"code": "LOYAL-7F3K9Q"}, shop=OTHER_SHOP)

    assert other["data"]["discountCodeBasicCreate"]["userErrors"] == []
    own_id = shopify_fake.state.shop(SHOP).discount_by_code("LOYAL-7F3K9Q")["id"]
    assert found_by_other["data"]["codeDiscountNodeByCode"]["id"] != own_id


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"code": "  "}, ["basicCodeDiscount", "code"], "BLANK"),
        ({"code": "X" * 256}, ["basicCodeDiscount", "code"], "TOO_LONG"),
        ({"title": ""}, ["basicCodeDiscount", "title"], "BLANK"),
        ({"context": None}, ["basicCodeDiscount", "context"], "BLANK"),
        (
            {"context": {"customers": {"add": ["7393829330"]}}},
            ["basicCodeDiscount", "context", "customers", "add", "0"],
            "INVALID",
        ),
        ({"customerGets": None}, ["basicCodeDiscount", "customerGets"], "BLANK"),
        (
            {"customerGets": {"value": {"percentage": 1.5}, "items": {"all": True}}},
            ["basicCodeDiscount", "customerGets", "value", "percentage"],
            "VALUE_OUTSIDE_RANGE",
        ),
        ({"endsAt": "2026-08-01T00:00:00Z"}, ["basicCodeDiscount", "endsAt"], "INVALID"),
        ({"usageLimit": 0}, ["basicCodeDiscount", "usageLimit"], "GREATER_THAN"),
    ],
)
def test_invalid_discount_inputs_answer_userErrors_and_write_nothing(
    fields: dict[str, Any], field: list[str], code: str, calls: ShopifyCalls, shopify_fake: FakeShopify
) -> None:
    body = calls.admin(CREATE_REWARD, {"input": reward_input(**fields)})

    payload = body["data"]["discountCodeBasicCreate"]
    assert payload["codeDiscountNode"] is None
    assert [(error["field"], error["code"]) for error in payload["userErrors"]] == [(field, code)]
    assert shopify_fake.state.discount_codes(SHOP) == []


@pytest.mark.parametrize(
    "variables",
    [
        {"input": reward_input(customerGet={"items": {"all": True}})},  # misspelt field
        {"input": reward_input(startsAt="next tuesday")},  # not a DateTime
        {"input": reward_input(customerGets={"value": {"discountAmount": {"amount": "five"}}, "items": {"all": True}})},
        {},  # the input is required
    ],
    ids=["unknown field", "bad DateTime", "bad Decimal", "missing variable"],
)
def test_inputs_outside_the_schema_are_top_level_errors_and_write_nothing(
    variables: dict[str, Any], calls: ShopifyCalls, shopify_fake: FakeShopify
) -> None:
    body = calls.admin(CREATE_REWARD, variables)

    assert body["errors"][0]["message"]
    assert "data" not in body or body["data"] is None
    assert shopify_fake.state.discount_codes(SHOP) == []


def test_free_shipping_and_bxgy_codes_answer_their_payloads(calls: ShopifyCalls) -> None:
    free_shipping = calls.admin(
        """mutation($input: DiscountCodeFreeShippingInput!) {
          discountCodeFreeShippingCreate(freeShippingCodeDiscount: $input) {
            codeDiscountNode { codeDiscount { ... on DiscountCodeFreeShipping {
              title discountClasses destinationSelection { ... on DiscountCountryAll { allCountries } } } } }
            userErrors { field code message }
          }
        }""",
        {
            "input": {
                "title": "Free shipping reward",
                "code": "SHIP-ABC123",
                "startsAt": "2026-09-01T00:00:00Z",
                "context": {"customers": {"add": [CUSTOMER]}},
                "destination": {"all": True},
                "usageLimit": 1,
            }
        },
    )
    bxgy = calls.admin(
        """mutation($input: DiscountCodeBxgyInput!) {
          discountCodeBxgyCreate(bxgyCodeDiscount: $input) {
            codeDiscountNode { codeDiscount { ... on DiscountCodeBxgy {
              title usesPerOrderLimit
              customerGets { value { ... on DiscountOnQuantity {
                quantity { quantity } effect { ... on DiscountPercentage { percentage } } } } } } } }
            userErrors { field code message }
          }
        }""",
        {
            "input": {
                "title": "Free product reward",
                "code": "GIFT-ABC123",
                "context": {"customers": {"add": [CUSTOMER]}},
                "customerBuys": {"items": {"all": True}, "value": {"quantity": "1"}},
                "customerGets": {
                    "items": {"products": {"productsToAdd": ["gid://shopify/Product/1"]}},
                    "value": {"discountOnQuantity": {"quantity": "1", "effect": {"percentage": 1.0}}},
                },
                "usesPerOrderLimit": 1,
                "usageLimit": 1,
            }
        },
    )

    shipping = free_shipping["data"]["discountCodeFreeShippingCreate"]
    assert shipping["userErrors"] == []
    assert shipping["codeDiscountNode"]["codeDiscount"] == {
        "title": "Free shipping reward",
        "discountClasses": ["SHIPPING"],
        "destinationSelection": {"allCountries": True},
    }
    product = bxgy["data"]["discountCodeBxgyCreate"]
    assert product["userErrors"] == []
    assert product["codeDiscountNode"]["codeDiscount"] == {
        "title": "Free product reward",
        "usesPerOrderLimit": 1,
        "customerGets": {"value": {"quantity": {"quantity": 1}, "effect": {"percentage": 1.0}}},
    }


SET_POINTS = """
mutation SetPoints($m: [MetafieldsSetInput!]!) {
  metafieldsSet(metafields: $m) {
    metafields { id namespace key value type compareDigest ownerType }
    userErrors { field message code elementIndex }
  }
}
"""
READ_POINTS = """
query Read($id: ID!) {
  customer(id: $id) { id tags points: metafield(namespace: "$app", key: "points") { value jsonValue } }
}
"""


def points(value: str, **fields: Any) -> dict[str, Any]:
    return {
        "ownerId": CUSTOMER,
        "namespace": "$app",
        "key": "points",
        "type": "number_integer",
        "value": value,
    } | fields


def test_metafields_set_answers_the_documented_payload_in_the_app_namespace(
    calls: ShopifyCalls, shopify_fake: FakeShopify
) -> None:
    body = calls.admin(SET_POINTS, {"m": [points("1250")]})

    payload = body["data"]["metafieldsSet"]
    assert payload["userErrors"] == []
    [metafield] = payload["metafields"]
    assert metafield["id"].startswith("gid://shopify/Metafield/")
    assert (metafield["namespace"], metafield["key"]) == (f"app--{shopify_fake.config.app_id}", "points")
    assert (metafield["value"], metafield["type"], metafield["ownerType"]) == ("1250", "number_integer", "CUSTOMER")
    assert metafield["compareDigest"]
    read = calls.admin(READ_POINTS, {"id": CUSTOMER})["data"]["customer"]
    assert read["points"] == {"value": "1250", "jsonValue": 1250}


def test_compare_digest_makes_metafields_set_a_compare_and_set(calls: ShopifyCalls) -> None:
    first = calls.admin(SET_POINTS, {"m": [points("100", compareDigest=None)]})["data"]["metafieldsSet"]
    digest = first["metafields"][0]["compareDigest"]

    create_again = calls.admin(SET_POINTS, {"m": [points("999", compareDigest=None)]})["data"]["metafieldsSet"]
    stale = calls.admin(SET_POINTS, {"m": [points("999", compareDigest="0" * 64)]})["data"]["metafieldsSet"]
    current = calls.admin(SET_POINTS, {"m": [points("200", compareDigest=digest)]})["data"]["metafieldsSet"]

    for refused in (create_again, stale):
        assert refused["metafields"] is None
        assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [
            (["metafields", "0", "compareDigest"], "STALE_OBJECT")
        ]
    assert current["userErrors"] == [] and current["metafields"][0]["compareDigest"] != digest
    assert calls.admin(READ_POINTS, {"id": CUSTOMER})["data"]["customer"]["points"]["value"] == "200"


@pytest.mark.parametrize(
    ("entry", "field", "code"),
    [
        (points("12.5"), "value", "INVALID_VALUE"),
        (points("1", type=None), "type", "BLANK"),
        (points("1", type="list.product_reference"), "type", "INVALID_TYPE"),
        (points("1", ownerId="gid://shopify/Customer/not-a-number"), "ownerId", "INVALID"),
    ],
)
def test_metafields_set_is_atomic_one_bad_input_writes_nothing(
    entry: dict[str, Any], field: str, code: str, calls: ShopifyCalls
) -> None:
    tier = points("Gold", key="tier", type="single_line_text_field")

    body = calls.admin(SET_POINTS, {"m": [tier, entry]})

    payload = body["data"]["metafieldsSet"]
    assert payload["metafields"] is None
    assert [(error["field"], error["code"]) for error in payload["userErrors"]] == [(["metafields", "1", field], code)]
    assert calls.admin(READ_POINTS, {"id": CUSTOMER})["data"]["customer"]["points"] is None


def test_metafields_set_takes_at_most_25_inputs(calls: ShopifyCalls) -> None:
    body = calls.admin(SET_POINTS, {"m": [points(str(n), key=f"k{n}") for n in range(26)]})

    assert body["errors"][0]["extensions"]["code"] == "MAX_INPUT_SIZE_EXCEEDED"
    assert body["data"]["metafieldsSet"] is None


def test_tags_add_and_remove_change_the_customers_tags(calls: ShopifyCalls) -> None:
    add = """mutation($id: ID!, $tags: [String!]!) {
      tagsAdd(id: $id, tags: $tags) { node { id } userErrors { field message } }
    }"""
    remove = add.replace("tagsAdd", "tagsRemove")

    added = calls.admin(add, {"id": CUSTOMER, "tags": ["loyalty-gold, vip", "VIP"]})["data"]["tagsAdd"]
    removed = calls.admin(remove, {"id": CUSTOMER, "tags": ["Loyalty-Gold"]})["data"]["tagsRemove"]
    refused = calls.admin(add, {"id": "7393829330", "tags": ["x"]})["data"]["tagsAdd"]

    assert added == {"node": {"id": CUSTOMER}, "userErrors": []}
    assert removed["userErrors"] == []
    assert calls.admin(READ_POINTS, {"id": CUSTOMER})["data"]["customer"]["tags"] == ["vip"]
    assert refused["node"] is None and refused["userErrors"][0]["field"] == ["id"]


CREATE_SUBSCRIPTION = """
mutation AppSubscriptionCreate($name: String!, $lineItems: [AppSubscriptionLineItemInput!]!,
                               $returnUrl: URL!, $test: Boolean, $trialDays: Int) {
  appSubscriptionCreate(name: $name, returnUrl: $returnUrl, lineItems: $lineItems, test: $test, trialDays: $trialDays) {
    userErrors { field message }
    appSubscription { id status }
    confirmationUrl
  }
}
"""
ACTIVE_SUBSCRIPTIONS = "{ currentAppInstallation { activeSubscriptions { id name status trialDays } } }"
PAID_PLAN = {
    "name": "Loyalty Pro",
    "returnUrl": "https://loyalty.test/billing/return",
    "test": True,
    "trialDays": 14,
    "lineItems": [{"plan": {"appRecurringPricingDetails": {"price": {"amount": 10, "currencyCode": "USD"}}}}],
}


def test_a_subscription_is_pending_until_the_merchant_approves_it(calls: ShopifyCalls) -> None:
    created = calls.admin(CREATE_SUBSCRIPTION, PAID_PLAN)["data"]["appSubscriptionCreate"]
    subscription = created["appSubscription"]
    before = calls.admin(ACTIVE_SUBSCRIPTIONS)["data"]["currentAppInstallation"]["activeSubscriptions"]

    approval = calls.http.get(
        created["confirmationUrl"].replace(f"https://{SHOP}", calls.fake.origin), headers={"Host": SHOP}
    )

    after = calls.admin(ACTIVE_SUBSCRIPTIONS)["data"]["currentAppInstallation"]["activeSubscriptions"]
    assert created["userErrors"] == [] and subscription["status"] == "PENDING"
    assert created["confirmationUrl"].startswith(f"https://{SHOP}/admin/charges/")
    assert before == []
    assert approval.status_code == 302
    charge_id = subscription["id"].rsplit("/", 1)[1]
    assert approval.headers["Location"] == f"https://loyalty.test/billing/return?charge_id={charge_id}"
    assert after == [{"id": subscription["id"], "name": "Loyalty Pro", "status": "ACTIVE", "trialDays": 14}]


def test_a_subscription_without_a_name_or_plan_is_refused(calls: ShopifyCalls) -> None:
    body = calls.admin(CREATE_SUBSCRIPTION, PAID_PLAN | {"name": " ", "lineItems": [{"plan": {}}]})

    payload = body["data"]["appSubscriptionCreate"]
    assert payload["appSubscription"] is None and payload["confirmationUrl"] is None
    assert [error["field"] for error in payload["userErrors"]] == [["name"], ["lineItems", "0", "plan"]]


RUN_BULK = """
mutation Backfill($query: String!) {
  bulkOperationRunQuery(query: $query) { bulkOperation { id status } userErrors { field message code } }
}
"""
ORDERS_SINCE = """
{ orders(query: "created_at:>=2026-01-01") { edges { node {
    id name createdAt totalPriceSet { shopMoney { amount currencyCode } } customer { id }
    lineItems { edges { node { id quantity } } } } } } }
"""
POLL = "{ currentBulkOperation { id status objectCount rootObjectCount url } }"


def test_a_bulk_query_completes_on_polling_and_serves_shopifys_jsonl(
    calls: ShopifyCalls, shopify_fake: FakeShopify
) -> None:
    state = shopify_fake.state
    state.add_order(SHOP, order_node(1001, created_at="2025-12-31T10:00:00Z", total="10.00", customer_id=5))
    line_items = [{"id": 7, "title": "Tea", "quantity": 2, "price": "5.00"}]
    state.add_order(
        SHOP, order_node(1002, created_at="2026-02-01T10:00:00Z", total="10.00", customer_id=5, line_items=line_items)
    )

    started = calls.admin(RUN_BULK, {"query": ORDERS_SINCE})["data"]["bulkOperationRunQuery"]
    busy = calls.admin(RUN_BULK, {"query": ORDERS_SINCE})["data"]["bulkOperationRunQuery"]
    running = calls.admin(POLL)["data"]["currentBulkOperation"]
    done = calls.admin(POLL)["data"]["currentBulkOperation"]
    by_node = calls.admin("query($id: ID!) { node(id: $id) { ... on BulkOperation { status } } }", {"id": done["id"]})

    assert started["userErrors"] == [] and started["bulkOperation"]["status"] == "CREATED"
    assert busy["bulkOperation"] is None and busy["userErrors"][0]["code"] == "OPERATION_IN_PROGRESS"
    assert (running["status"], running["url"]) == ("RUNNING", None)
    assert (done["status"], done["objectCount"], done["rootObjectCount"]) == ("COMPLETED", 2, 1)
    assert by_node["data"]["node"] == {"status": "COMPLETED"}
    lines = [json.loads(line) for line in calls.http.get(done["url"]).text.splitlines()]
    assert lines == [
        {
            "id": "gid://shopify/Order/1002",
            "name": "#2002",
            "createdAt": "2026-02-01T10:00:00Z",
            "totalPriceSet": {"shopMoney": {"amount": "10.0", "currencyCode": "USD"}},
            "customer": {"id": "gid://shopify/Customer/5"},
        },
        {"id": "gid://shopify/LineItem/7", "quantity": 2, "__parentId": "gid://shopify/Order/1002"},
    ]


def test_a_bulk_query_with_no_results_completes_without_a_url(calls: ShopifyCalls) -> None:
    calls.admin(RUN_BULK, {"query": ORDERS_SINCE})

    calls.admin(POLL)
    done = calls.admin(POLL)["data"]["currentBulkOperation"]

    assert (done["status"], done["objectCount"], done["url"]) == ("COMPLETED", 0, None)


@pytest.mark.parametrize(
    "query",
    [
        "{ orders { edges { node { nope } } } }",
        "{ currentAppInstallation { id } }",
        '{ orders(query: "tag:vip") { edges { node { id } } } }',
    ],
    ids=["unknown field", "no connection", "unsupported filter"],
)
def test_an_invalid_bulk_query_is_refused_with_userErrors(query: str, calls: ShopifyCalls) -> None:
    payload = calls.admin(RUN_BULK, {"query": query})["data"]["bulkOperationRunQuery"]

    assert payload["bulkOperation"] is None
    assert payload["userErrors"][0]["field"] == ["query"] and payload["userErrors"][0]["code"] == "INVALID"
    assert calls.admin(POLL)["data"]["currentBulkOperation"] is None
