"""The Admin API client against the fake Shopify: pinned version, the shop's token, the shared leaky bucket, bounded
retries with Retry-After, typed userErrors, one refresh on a 401, and nothing sent for a shop without a token."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import update

from app.models import Shop
from app.shopify.admin_api import AdminApi, OutcomeUnknown, RequestRefused, RetryLater, UserErrors
from app.shopify.tokens import ShopNotConnected
from tests.shopify.conftest import SHOP, make_admin_api

CUSTOMER = "gid://shopify/Customer/115310627314723954"
TAGS_ADD = """
mutation AddLoyaltyTag($id: ID!, $tags: [String!]!) {
  tagsAdd(id: $id, tags: $tags) { node { id } userErrors { field message } }
}
"""
FIND = "query FindCode($code: String!) { codeDiscountNodeByCode(code: $code) { id } }"


@pytest.fixture
def api(app, admin, redis_client, redis_namespace, sleeps) -> AdminApi:  # type: ignore[no-untyped-def]
    admin.install()
    return make_admin_api(app, redis_client, redis_namespace, sleeps)


def tag(api: AdminApi, value: str = "vip") -> dict:
    return api.mutate(SHOP, TAGS_ADD, {"id": CUSTOMER, "tags": [value]}, payload="tagsAdd")


def test_a_call_uses_the_pinned_version_the_shops_token_and_the_one_http_client(api, shopify_fake) -> None:  # type: ignore[no-untyped-def]
    shopify_fake.recorder.clear()
    tag(api)
    (request,) = shopify_fake.recorder.graphql("tagsAdd", shop=SHOP)
    assert request.path == "/admin/api/2026-10/graphql.json"
    assert request.header("X-Shopify-Access-Token").startswith("shpat_")
    assert shopify_fake.state.shop(SHOP).customer(CUSTOMER).tags == ["vip"]


def test_throttled_is_retried_after_the_bucket_refills(api, shopify_fake, sleeps) -> None:  # type: ignore[no-untyped-def]
    shopify_fake.faults.throttled("tagsAdd", times=2)
    tag(api)
    assert len(shopify_fake.recorder.graphql("tagsAdd")) == 3
    assert len(sleeps) == 2 and all(wait > 0 for wait in sleeps)


@pytest.mark.parametrize("status", [429, 503])
def test_429_and_503_are_retried_after_retry_after(api, shopify_fake, sleeps, status) -> None:  # type: ignore[no-untyped-def]
    shopify_fake.faults.server_error("tagsAdd", status=status, retry_after="2")
    tag(api)
    assert len(shopify_fake.recorder.graphql("tagsAdd")) == 2
    assert sleeps == [2.0]


def test_retries_are_bounded_and_end_in_retry_later(api, shopify_fake) -> None:  # type: ignore[no-untyped-def]
    shopify_fake.faults.server_error("tagsAdd", status=503, retry_after="0", times=10)
    with pytest.raises(RetryLater):
        tag(api)
    assert len(shopify_fake.recorder.graphql("tagsAdd")) == api.max_attempts


def test_a_retry_after_longer_than_the_client_waits_is_handed_back(api, shopify_fake, sleeps) -> None:  # type: ignore[no-untyped-def]
    shopify_fake.faults.rate_limited("tagsAdd", retry_after="120")
    with pytest.raises(RetryLater) as raised:
        tag(api)
    assert raised.value.retry_after == 120.0 and sleeps == []


def test_a_write_with_no_answer_is_outcome_unknown_and_not_repeated(api, shopify_fake) -> None:  # type: ignore[no-untyped-def]
    shopify_fake.faults.timeout_after_write("tagsAdd")
    with pytest.raises(OutcomeUnknown):
        tag(api)
    assert len(shopify_fake.recorder.graphql("tagsAdd")) == 1  # the client does not write blindly again
    assert shopify_fake.state.shop(SHOP).customer(CUSTOMER).tags == ["vip"]  # it had been written


def test_a_read_with_no_answer_is_retried(api, shopify_fake) -> None:  # type: ignore[no-untyped-def]
    shopify_fake.faults.timeout_after_write("codeDiscountNodeByCode")
    assert api.query(SHOP, FIND, {"code": "NOPE"}) == {"codeDiscountNodeByCode": None}
    assert len(shopify_fake.recorder.graphql("codeDiscountNodeByCode")) == 2


def test_shopifys_internal_error_after_a_write_is_outcome_unknown_and_not_repeated(api, shopify_fake) -> None:  # type: ignore[no-untyped-def]
    """Shopify answers INTERNAL_SERVER_ERROR (HTTP 200) instead of a 500: the write may have happened."""
    shopify_fake.faults.internal_error("tagsAdd", after_write=True)
    with pytest.raises(OutcomeUnknown) as raised:
        tag(api)
    assert "Internal error. Looks like something went wrong on our end." in str(raised.value)
    assert len(shopify_fake.recorder.graphql("tagsAdd")) == 1
    assert shopify_fake.state.shop(SHOP).customer(CUSTOMER).tags == ["vip"]


def test_shopifys_internal_error_on_a_read_is_retried(api, shopify_fake, sleeps) -> None:  # type: ignore[no-untyped-def]
    shopify_fake.faults.internal_error("codeDiscountNodeByCode", times=2)
    assert api.query(SHOP, FIND, {"code": "NOPE"}) == {"codeDiscountNodeByCode": None}
    assert len(shopify_fake.recorder.graphql("codeDiscountNodeByCode")) == 3
    assert sleeps == [1.0, 2.0]


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body>Bad gateway</body></html>",
        b'{"data": {"tags',
        b'{"extensions": {}}',
        b'[{"data": {"tagsAdd": {"userErrors": []}}}]',
        b"[]",
        b"null",
        b'"data"',
    ],
)
def test_a_200_that_is_not_a_graphql_answer_after_a_write_is_outcome_unknown(api, shopify_fake, body) -> None:  # type: ignore[no-untyped-def]
    """Not JSON, cut off, JSON with no `data`, or JSON that is not an object (a list, null, a string: shopify_app
    itself raises AttributeError on those): nothing says what happened to the write, so it is not taken as a
    refusal (nor as an answer)."""
    shopify_fake.faults.malformed("tagsAdd", after_write=True, body=body)
    with pytest.raises(OutcomeUnknown) as raised:
        tag(api)
    assert "not a GraphQL answer" in str(raised.value)
    assert len(shopify_fake.recorder.graphql("tagsAdd")) == 1
    assert shopify_fake.state.shop(SHOP).customer(CUSTOMER).tags == ["vip"]


def test_a_200_that_is_not_a_graphql_answer_to_a_read_is_retried_not_taken_as_nothing(  # type: ignore[no-untyped-def]
    api, shopify_fake, sleeps
) -> None:
    shopify_fake.faults.malformed("codeDiscountNodeByCode", times=2)
    assert api.query(SHOP, FIND, {"code": "NOPE"}) == {"codeDiscountNodeByCode": None}
    assert len(shopify_fake.recorder.graphql("codeDiscountNodeByCode")) == 3
    shopify_fake.faults.malformed("codeDiscountNodeByCode", times=10)
    with pytest.raises(RetryLater) as raised:
        api.query(SHOP, FIND, {"code": "NOPE"})
    assert "not a GraphQL answer" in str(raised.value)


@pytest.mark.parametrize("body", [b'[{"data": {"codeDiscountNodeByCode": null}}]', b"null", b"42"])
def test_a_200_whose_json_is_not_an_object_is_retried_as_a_read(api, shopify_fake, sleeps, body) -> None:  # type: ignore[no-untyped-def]
    shopify_fake.faults.malformed("codeDiscountNodeByCode", times=2, body=body)
    assert api.query(SHOP, FIND, {"code": "NOPE"}) == {"codeDiscountNodeByCode": None}
    assert len(shopify_fake.recorder.graphql("codeDiscountNodeByCode")) == 3
    assert sleeps == [1.0, 2.0]
    shopify_fake.faults.malformed("codeDiscountNodeByCode", times=10, body=body)
    with pytest.raises(RetryLater) as raised:
        api.query(SHOP, FIND, {"code": "NOPE"})
    assert (
        str(raised.value)
        == f"Admin API for {SHOP}: HTTP 200 with a body that is not a GraphQL answer after 4 attempt(s)"
    )
    assert len(shopify_fake.recorder.graphql("codeDiscountNodeByCode")) == 7


def test_user_errors_are_typed_with_their_fields_and_codes(api, shopify_fake) -> None:  # type: ignore[no-untyped-def]
    shopify_fake.faults.user_errors("tagsAdd", [{"field": ["tags"], "message": "Tags are bad"}])
    with pytest.raises(UserErrors) as raised:
        tag(api)
    assert raised.value.errors == [{"field": ["tags"], "message": "Tags are bad"}]
    assert str(raised.value) == "tagsAdd refused: tags: Tags are bad"
    assert shopify_fake.state.shop(SHOP).customer(CUSTOMER).tags == []


def test_graphql_errors_are_refused_without_retry(api, shopify_fake) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RequestRefused):
        api.query(SHOP, "query Broken { noSuchField }")
    assert len(shopify_fake.recorder.graphql()) == 1


def test_a_401_refreshes_the_token_once_and_repeats_the_call_once(api, shopify_fake, db_session) -> None:  # type: ignore[no-untyped-def]
    first = tag(api)
    assert first["userErrors"] == []
    token = shopify_fake.recorder.graphql("tagsAdd")[-1].header("X-Shopify-Access-Token")
    shopify_fake.state.expire_access_token(token)  # Shopify no longer takes it; our row still says it is good
    shopify_fake.recorder.clear()
    tag(api, "gold")
    calls = shopify_fake.recorder.graphql("tagsAdd")
    assert len(calls) == 2 and len(shopify_fake.recorder.token_requests(shop=SHOP)) == 1
    assert calls[0].header("X-Shopify-Access-Token") == token != calls[1].header("X-Shopify-Access-Token")


def test_an_uninstalled_shop_sends_nothing(api, shopify_fake, db_session) -> None:  # type: ignore[no-untyped-def]
    db_session.execute(update(Shop).where(Shop.domain == SHOP).values(uninstalled_at=Shop.installed_at))
    db_session.commit()
    shopify_fake.recorder.clear()
    with pytest.raises(ShopNotConnected):
        tag(api)
    assert shopify_fake.recorder.requests == []


def test_workers_share_the_bucket_and_wait_instead_of_being_throttled(  # type: ignore[no-untyped-def]
    app, api, shopify_fake, redis_client, redis_namespace, sleeps
) -> None:
    """Two clients (two workers) call for one shop through a small bucket: they wait their turn (the bucket state is
    in Redis), so Shopify never answers THROTTLED and no call is sent twice."""
    shopify_fake.configure_bucket(maximum=60, restore_rate=40)
    other_worker = make_admin_api(app, redis_client, redis_namespace, sleeps)
    shopify_fake.recorder.clear()
    for index in range(10):
        tag(api if index % 2 else other_worker, f"t{index}")
    assert len(shopify_fake.recorder.graphql("tagsAdd")) == 10  # no THROTTLED answer was retried
    assert sum(sleeps) > 0  # they waited before the bucket ran dry


def test_a_refresh_shopify_cannot_answer_is_retry_later_and_nothing_is_sent(api, shopify_fake, db_session) -> None:  # type: ignore[no-untyped-def]
    soon = datetime.now(timezone.utc) + timedelta(minutes=1)  # inside the refresh margin
    db_session.execute(update(Shop).where(Shop.domain == SHOP).values(access_token_expires_at=soon))
    db_session.commit()
    shopify_fake.faults.server_error("oauth", status=503, times=5)
    with pytest.raises(RetryLater):
        tag(api)
    assert shopify_fake.recorder.graphql("tagsAdd") == []
