"""The token endpoint and Admin API authentication, held to Shopify's documented fields and errors."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from tests.shopify_fake.calls import OTHER_SHOP, SHOP, ShopifyCalls
from tests.shopify_fake.oauth import ID_TOKEN_TYPE, OFFLINE_TOKEN_TYPE, ONLINE_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT
from tests.shopify_fake.server import UNAUTHORIZED, FakeShopify
from tests.shopify_fake.signing import ShopifySigner

QUERY = "{ currentAppInstallation { id } }"


def exchange(calls: ShopifyCalls, subject_token: str, shop: str = SHOP, **fields: Any) -> Any:
    request = {
        "grant_type": TOKEN_EXCHANGE_GRANT,
        "subject_token": subject_token,
        "subject_token_type": ID_TOKEN_TYPE,
        "requested_token_type": OFFLINE_TOKEN_TYPE,
    }
    return calls.token(shop, **(request | fields))


def test_token_exchange_with_expiring_answers_an_expiring_offline_pair(
    calls: ShopifyCalls, shopify_fake: FakeShopify
) -> None:
    response = exchange(calls, shopify_fake.signer.app_home_token(shop=SHOP), expiring=1)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "scope", "expires_in", "refresh_token", "refresh_token_expires_in"}
    assert (body["expires_in"], body["refresh_token_expires_in"]) == (3600, 90 * 24 * 3600)
    assert body["scope"] == shopify_fake.config.scopes
    assert calls.graphql(QUERY, token=body["access_token"]).status_code == 200


def test_token_exchange_without_expiring_answers_a_non_expiring_token(
    calls: ShopifyCalls, shopify_fake: FakeShopify
) -> None:
    response = exchange(calls, shopify_fake.signer.app_home_token(shop=SHOP), expiring="0")

    assert response.status_code == 200
    assert set(response.json()) == {"access_token", "scope"}


def test_online_token_exchange_names_the_staff_user(calls: ShopifyCalls, shopify_fake: FakeShopify) -> None:
    token = shopify_fake.signer.app_home_token(shop=SHOP, user_id="69523243207")

    response = exchange(calls, token, requested_token_type=ONLINE_TOKEN_TYPE)

    body = response.json()
    assert (body["expires_in"], body["associated_user"]["id"]) == (86400, 69523243207)
    assert body["associated_user_scope"] == body["scope"]


def _unsigned(token: str) -> str:
    return jwt.encode(jwt.decode(token, options={"verify_signature": False}), None, "none")


# Each builds, from the app's signer and the time now, an ID token Shopify refuses to exchange.
BAD_SUBJECT_TOKENS: dict[str, Callable[[ShopifySigner, int], str]] = {
    "expired beyond the leeway": lambda signer, now: signer.app_home_token(shop=SHOP, issued_at=now - 100),
    "nbf beyond the leeway": lambda signer, now: signer.app_home_token(shop=SHOP, nbf=now + 30),
    "wrong secret": lambda signer, _: signer.app_home_token(shop=SHOP, secret="shpss_another_apps_secret_0123456789"),
    "wrong audience": lambda signer, _: signer.app_home_token(shop=SHOP, audience="another-app"),
    "alg none": lambda signer, _: _unsigned(signer.app_home_token(shop=SHOP)),
    "alg switched to HS512": lambda signer, _: signer.app_home_token(shop=SHOP, algorithm="HS512"),
    "another shop's token": lambda signer, _: signer.app_home_token(shop=OTHER_SHOP),
    "issuer of another shop": lambda signer, _: signer.app_home_token(shop=SHOP, iss=f"https://{OTHER_SHOP}/admin"),
    "checkout extension token": lambda signer, _: signer.session_token(shop=SHOP, customer_id="7"),
    "not a JWT": lambda signer, _: "not-a-jwt",
}


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(case, marks=pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning"))
        for case in BAD_SUBJECT_TOKENS
    ],
)
def test_token_exchange_refuses_a_subject_token_shopify_would_not_accept(
    case: str, calls: ShopifyCalls, shopify_fake: FakeShopify
) -> None:
    token = BAD_SUBJECT_TOKENS[case](shopify_fake.signer, int(time.time()))

    response = exchange(calls, token, expiring=1)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_subject_token"
    assert response.json()["error_description"]
    assert shopify_fake.state.access_tokens == {}


def test_a_subject_token_inside_the_ten_second_leeway_is_accepted(
    calls: ShopifyCalls, shopify_fake: FakeShopify
) -> None:
    token = shopify_fake.signer.app_home_token(shop=SHOP, nbf=int(time.time()) + 5)

    assert exchange(calls, token, expiring=1).status_code == 200


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"subject_token_type": "urn:ietf:params:oauth:token-type:jwt"}, "invalid_request"),
        ({"requested_token_type": "urn:shopify:params:oauth:token-type:forever-token"}, "invalid_request"),
        ({"grant_type": "password"}, "unsupported_grant_type"),
    ],
)
def test_malformed_exchanges_are_refused_by_name(
    fields: dict[str, str], error: str, calls: ShopifyCalls, shopify_fake: FakeShopify
) -> None:
    response = exchange(calls, shopify_fake.signer.app_home_token(shop=SHOP), **fields)

    assert (response.status_code, response.json()["error"]) == (400, error)
    assert shopify_fake.state.access_tokens == {}


def test_wrong_client_credentials_are_invalid_client(calls: ShopifyCalls, shopify_fake: FakeShopify) -> None:
    token = shopify_fake.signer.app_home_token(shop=SHOP)

    response = exchange(calls, token, client_secret="shpss_wrong")

    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")


def test_an_authorization_code_buys_one_token_once(calls: ShopifyCalls, shopify_fake: FakeShopify) -> None:
    code = shopify_fake.state.issue_authorization_code(SHOP)

    first = calls.token(SHOP, code=code)
    again = calls.token(SHOP, code=code)

    assert first.status_code == 200 and set(first.json()) == {"access_token", "scope"}
    assert again.status_code == 400
    assert again.json() == {
        "error": "invalid_request",
        "error_description": "The authorization code was not found or was already used",
    }


def test_an_authorization_code_is_good_only_at_its_own_shop(calls: ShopifyCalls, shopify_fake: FakeShopify) -> None:
    code = shopify_fake.state.issue_authorization_code(SHOP)

    assert calls.token(OTHER_SHOP, code=code).status_code == 400


def test_the_token_endpoint_also_takes_form_encoded_bodies(calls: ShopifyCalls, shopify_fake: FakeShopify) -> None:
    config = shopify_fake.config
    form = {
        "client_id": config.api_key,
        "client_secret": config.api_secret,
        "code": shopify_fake.state.issue_authorization_code(SHOP),
    }

    response = calls.http.post("/admin/oauth/access_token", headers={"Host": SHOP}, data=form)

    assert response.status_code == 200 and "access_token" in response.json()


def test_refresh_rotates_the_pair_and_the_used_refresh_token_stops_working(
    calls: ShopifyCalls, shopify_fake: FakeShopify
) -> None:
    first = shopify_fake.state.install(SHOP)

    refreshed = calls.token(SHOP, grant_type="refresh_token", refresh_token=first["refresh_token"])
    replayed = calls.token(SHOP, grant_type="refresh_token", refresh_token=first["refresh_token"])

    body = refreshed.json()
    assert set(body) == {"access_token", "scope", "expires_in", "refresh_token", "refresh_token_expires_in"}
    assert body["refresh_token"] != first["refresh_token"] and body["access_token"] != first["access_token"]
    assert calls.graphql(QUERY, token=body["access_token"]).status_code == 200
    assert (replayed.status_code, replayed.json()["error"]) == (400, "invalid_grant")
    assert calls.token(SHOP, grant_type="refresh_token", refresh_token=body["refresh_token"]).status_code == 200


@pytest.mark.parametrize("case", ["unknown", "expired", "another shop's", "revoked by uninstall"])
def test_refresh_answers_invalid_grant_for_a_dead_refresh_token(
    case: str, calls: ShopifyCalls, shopify_fake: FakeShopify
) -> None:
    state = shopify_fake.state
    refresh_token = state.install(OTHER_SHOP if case == "another shop's" else SHOP)["refresh_token"]
    if case == "unknown":
        refresh_token = "shprt_unknown"
    elif case == "expired":
        state.expire_refresh_token(refresh_token)
    elif case == "revoked by uninstall":
        state.uninstall(SHOP)

    response = calls.token(SHOP, grant_type="refresh_token", refresh_token=refresh_token)

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "The refresh token is invalid, expired, or has been revoked.",
    }


@pytest.mark.parametrize("case", ["missing", "unknown", "expired", "uninstalled", "another shop's"])
def test_admin_graphql_needs_a_live_token_of_the_shop(
    case: str, calls: ShopifyCalls, shopify_fake: FakeShopify
) -> None:
    state = shopify_fake.state
    token: str | None = state.install(OTHER_SHOP if case == "another shop's" else SHOP)["access_token"]
    if case == "missing":
        token = None
    elif case == "unknown":
        token = "shpat_unknown"
    elif case == "expired":
        state.expire_access_token(str(token))
    elif case == "uninstalled":
        state.uninstall(SHOP)

    response = calls.graphql(QUERY, token=token)

    assert (response.status_code, response.json()) == (401, {"errors": UNAUTHORIZED})


def test_a_request_whose_host_names_no_shop_is_refused_with_the_reason(calls: ShopifyCalls) -> None:
    response = calls.http.post("/admin/api/2026-10/graphql.json", json={"query": QUERY})

    assert response.status_code == 404
    assert "Host header must name a shop" in response.json()["errors"]


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"variables": {}}', b'{"query": 3}'])
def test_a_body_without_a_query_string_is_a_400(body: bytes, calls: ShopifyCalls, shopify_fake: FakeShopify) -> None:
    token = shopify_fake.state.install(SHOP)["access_token"]

    response = calls.http.post(
        "/admin/api/2026-10/graphql.json",
        headers={"Host": SHOP, "X-Shopify-Access-Token": token},
        content=body,
    )

    assert (response.status_code, response.json()) == (
        400,
        {"errors": {"query": "Required parameter missing or invalid"}},
    )
