"""One storefront request cannot batch the API through aliases or an oversized document."""

from __future__ import annotations

from sqlalchemy import func, select

from app.graphql.limits import MAX_ROOT_FIELDS
from app.models import RedemptionLog


def post(client, shopify, query: str, variables: dict | None = None):  # type: ignore[no-untyped-def]
    token = shopify.session_token(customer_id="7393829330")
    return client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers={"Authorization": f"Bearer {token}"}
    )


def test_alias_batching_beyond_the_limit_is_refused_before_anything_runs(client, shopify, db_session, shop) -> None:  # type: ignore[no-untyped-def]
    many = " ".join(
        f'r{n}: redeemReward(input: {{customerId: "7393829330", rewardId: "1"}}) {{ success }}'
        for n in range(MAX_ROOT_FIELDS + 1)
    )
    response = post(client, shopify, f"mutation {{ {many} }}")
    assert response.status_code == 400
    assert "at most 5 root fields" in response.get_json()["errors"][0]["message"]
    assert db_session.execute(select(func.count()).select_from(RedemptionLog)).scalar_one() == 0


def test_a_few_aliases_are_fine(client, shopify, shop) -> None:  # type: ignore[no-untyped-def]
    query = (
        'query { a: loyaltyProfile(customerId: "7393829330") { points_balance } '
        'b: loyaltyProfile(customerId: "7393829330") { points_pending } }'
    )
    body = post(client, shopify, query).get_json()
    assert body["data"] == {"a": {"points_balance": 0}, "b": {"points_pending": 0}}


def test_an_oversized_document_is_refused_by_the_parser(client, shopify, shop) -> None:  # type: ignore[no-untyped-def]
    query = 'query { loyaltyProfile(customerId: "1") { ' + "points_balance " * 3_000 + "} }"
    response = post(client, shopify, query)
    assert response.status_code == 400
    assert "more than 2000 tokens" in response.get_json()["errors"][0]["message"]


def test_a_body_that_is_not_a_json_object_is_400(client, shopify, shop) -> None:  # type: ignore[no-untyped-def]
    token = shopify.session_token(customer_id="7393829330")
    for body in ([{"query": "{ __typename }"}], "not json"):
        kwargs = {"json": body} if isinstance(body, list) else {"data": body, "content_type": "application/json"}
        response = client.post("/graphql", headers={"Authorization": f"Bearer {token}"}, **kwargs)
        assert response.status_code == 400
        assert response.get_json()["error"] == "bad_request"
