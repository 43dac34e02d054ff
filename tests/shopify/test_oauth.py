"""The authorization-code grant end to end against the fake Shopify: /auth, Shopify's approval, /auth/callback.

Every refusal comes before any call to Shopify, which the fake's recorder proves.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from app.models import Shop
from app.shopify.context import token_context
from tests.shopify.conftest import SHOP

OTHER_SHOP = "other-shop.myshopify.com"


def begin(client, shop: str = SHOP) -> str:  # type: ignore[no-untyped-def]
    """GET /auth like the merchant's browser; answers the state nonce Shopify is asked to return."""
    response = client.get("/auth", query_string={"shop": shop})
    assert response.status_code == 302, response.get_data(as_text=True)
    return parse_qs(urlsplit(response.headers["Location"]).query)["state"][0]


def callback_query(fake, *, state: str, shop: str = SHOP, code: str | None = None, **extra: str) -> str:  # type: ignore[no-untyped-def]
    """The callback query Shopify sends after the merchant approves: signed with the app secret."""
    params = {
        "code": code if code is not None else fake.state.issue_authorization_code(shop),
        "host": "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvdGVzdC1zaG9w",
        "shop": shop,
        "state": state,
        "timestamp": str(int(time.time())),
        **extra,
    }
    return fake.signer.oauth_query(params)


def shops(db_session) -> int:  # type: ignore[no-untyped-def]
    return db_session.execute(select(func.count()).select_from(Shop)).scalar_one()


def test_auth_sends_the_merchant_to_shopifys_authorize_page_with_a_state_cookie(client, shopify_fake) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/auth", query_string={"shop": SHOP})

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert (location.scheme, location.netloc, location.path) == ("https", SHOP, "/admin/oauth/authorize")
    query = parse_qs(location.query)
    assert query["client_id"] == ["test-api-key"]
    assert query["scope"] == ["read_orders,read_customers,write_customers,write_discounts,write_app_proxy"]
    assert query["redirect_uri"] == ["https://loyalty.test/auth/callback"]
    assert len(query["state"][0]) == 64
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("shopify_app_state=")
    assert all(part in cookie for part in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/auth", "Max-Age=600"))
    value = cookie.split(";")[0].removeprefix("shopify_app_state=")
    assert value != query["state"][0] and value.count(".") >= 2  # signed and timestamped, not the bare nonce
    assert shopify_fake.recorder.requests == []


def test_the_whole_grant_installs_the_shop_with_an_expiring_token(app, client, shopify_fake, db_session) -> None:  # type: ignore[no-untyped-def]
    state = begin(client)

    response = client.get(f"/auth/callback?{callback_query(shopify_fake, state=state)}")

    assert response.status_code == 302
    assert response.headers["Location"] == "https://admin.shopify.com/store/test-shop/apps/test-api-key"
    assert "shopify_app_state=;" in response.headers["Set-Cookie"]  # the state cookie is cleared
    [exchange] = shopify_fake.recorder.token_requests(shop=SHOP)
    sent = json.loads(exchange.body)
    assert (sent["client_id"], sent["expiring"], "grant_type" in sent) == ("test-api-key", 1, False)
    shop = db_session.execute(select(Shop)).scalar_one()
    assert (shop.domain, shop.uninstalled_at) == (SHOP, None)
    assert shop.access_token_expires_at - shop.installed_at > timedelta(minutes=59)
    access = token_context(app).cipher.decrypt(shop.access_token)
    assert shopify_fake.state.shop_for_access_token(access, SHOP)
    assert shop.refresh_token is not None


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"shop": "evil.test"}, "invalid_shop"),
        ({"shop": "test-shop.myshopify.com.evil.test"}, "invalid_shop"),
        ({}, "invalid_shop"),
        ({"shop": SHOP, "hmac": "0" * 64, "timestamp": "1"}, "invalid_hmac"),
    ],
    ids=["other-host", "suffix-trick", "no-shop", "bad-hmac"],
)
def test_auth_refuses_a_bad_shop_or_signature_before_anything(client, shopify_fake, query, code) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/auth", query_string=query)
    assert response.status_code in (400, 401)
    assert response.get_json()["error"] == code
    assert "Set-Cookie" not in response.headers
    assert shopify_fake.recorder.requests == []


def test_auth_with_a_valid_hmac_inside_the_admin_leaves_the_iframe_first(client, shopify_fake) -> None:  # type: ignore[no-untyped-def]
    signed = shopify_fake.signer.oauth_query({"shop": SHOP, "timestamp": str(int(time.time())), "embedded": "1"})

    response = client.get(f"/auth?{signed}")

    assert response.status_code == 200
    assert 'window.open("https://loyalty.test/auth?shop=test-shop.myshopify.com", "_top")' in response.get_data(
        as_text=True
    )
    assert "Set-Cookie" not in response.headers  # a cookie set inside the iframe would be a third-party one


class TestCallbackRefusals:
    """Each refused callback: the right status, a message, no shop, and not one request to Shopify."""

    def refused(self, client, shopify_fake, db_session, url: str, status: int, code: str) -> None:  # type: ignore[no-untyped-def]
        shopify_fake.recorder.clear()
        response = client.get(url)
        assert (response.status_code, response.get_json()["error"]) == (status, code), response.get_json()
        assert response.get_json()["message"]
        assert shopify_fake.recorder.requests == []
        assert shops(db_session) == 0

    def test_a_bad_hmac(self, client, shopify_fake, db_session) -> None:  # type: ignore[no-untyped-def]
        state = begin(client)
        query = callback_query(shopify_fake, state=state).replace("hmac=", "hmac=0")
        self.refused(client, shopify_fake, db_session, f"/auth/callback?{query}", 401, "invalid_hmac")

    def test_a_query_signed_with_another_secret(self, client, shopify_fake, db_session) -> None:  # type: ignore[no-untyped-def]
        state = begin(client)
        params = {"code": "x", "shop": SHOP, "state": state, "timestamp": str(int(time.time()))}
        query = shopify_fake.signer.oauth_query(params, secret="shpss_someone_else")
        self.refused(client, shopify_fake, db_session, f"/auth/callback?{query}", 401, "invalid_hmac")

    def test_no_hmac(self, client, shopify_fake, db_session) -> None:  # type: ignore[no-untyped-def]
        state = begin(client)
        url = f"/auth/callback?code=x&shop={SHOP}&state={state}&timestamp={int(time.time())}"
        self.refused(client, shopify_fake, db_session, url, 401, "missing_hmac")

    def test_a_stale_timestamp(self, client, shopify_fake, db_session) -> None:  # type: ignore[no-untyped-def]
        state = begin(client)
        query = callback_query(shopify_fake, state=state, timestamp=str(int(time.time()) - 91))
        self.refused(client, shopify_fake, db_session, f"/auth/callback?{query}", 401, "stale_query")

    @pytest.mark.parametrize("timestamp", ["soon", "9" * 400, "\u00b2"])
    def test_a_timestamp_that_is_not_a_time(self, client, shopify_fake, db_session, timestamp) -> None:  # type: ignore[no-untyped-def]
        state = begin(client)
        query = callback_query(shopify_fake, state=state, timestamp=timestamp)
        self.refused(client, shopify_fake, db_session, f"/auth/callback?{query}", 401, "invalid_timestamp")

    def test_a_mismatched_state(self, client, shopify_fake, db_session) -> None:  # type: ignore[no-untyped-def]
        begin(client)
        query = callback_query(shopify_fake, state="f" * 64)
        self.refused(client, shopify_fake, db_session, f"/auth/callback?{query}", 403, "state_mismatch")

    def test_a_browser_that_did_not_start_the_install(self, app, shopify_fake, db_session) -> None:  # type: ignore[no-untyped-def]
        state = begin(app.test_client())  # another browser started it
        query = callback_query(shopify_fake, state=state)
        self.refused(
            app.test_client(), shopify_fake, db_session, f"/auth/callback?{query}", 403, "missing_state_cookie"
        )

    def test_a_forged_state_cookie(self, client, shopify_fake, db_session) -> None:  # type: ignore[no-untyped-def]
        client.set_cookie("shopify_app_state", "eyJub25jZSI6ICJmZmYifQ.forged", path="/auth")
        query = callback_query(shopify_fake, state="fff")
        self.refused(client, shopify_fake, db_session, f"/auth/callback?{query}", 403, "invalid_state_cookie")

    def test_another_shop_than_the_install_began_for(self, client, shopify_fake, db_session) -> None:  # type: ignore[no-untyped-def]
        state = begin(client, SHOP)
        query = callback_query(shopify_fake, state=state, shop=OTHER_SHOP)
        self.refused(client, shopify_fake, db_session, f"/auth/callback?{query}", 403, "shop_mismatch")

    def test_a_repeated_parameter(self, client, shopify_fake, db_session) -> None:  # type: ignore[no-untyped-def]
        state = begin(client)
        query = callback_query(shopify_fake, state=state) + f"&shop={OTHER_SHOP}"
        self.refused(client, shopify_fake, db_session, f"/auth/callback?{query}", 400, "repeated_parameter")

    def test_a_reused_state(self, client, shopify_fake, db_session) -> None:  # type: ignore[no-untyped-def]
        state = begin(client)
        first = callback_query(shopify_fake, state=state)
        assert client.get(f"/auth/callback?{first}").status_code == 302
        shopify_fake.recorder.clear()
        client.set_cookie("shopify_app_state", self.cookie_for(client, state), path="/auth")  # replayed cookie too

        response = client.get(f"/auth/callback?{callback_query(shopify_fake, state=state)}")

        assert (response.status_code, response.get_json()["error"]) == (403, "state_reused")
        assert shopify_fake.recorder.requests == []

    @staticmethod
    def cookie_for(client, state: str) -> str:  # type: ignore[no-untyped-def]
        from flask import current_app

        from app.shopify import oauth

        return oauth.state_cookie(current_app.secret_key, oauth.InstallState(nonce=state, shop=SHOP))


def test_a_code_shopify_refuses_installs_nothing(client, shopify_fake, db_session) -> None:  # type: ignore[no-untyped-def]
    state = begin(client)
    response = client.get(f"/auth/callback?{callback_query(shopify_fake, state=state, code='not-issued')}")

    assert (response.status_code, response.get_json()["error"]) == (502, "code_exchange_failed")
    assert "Shopify refused the authorization code (invalid_request)" in response.get_json()["message"]
    assert len(shopify_fake.recorder.token_requests()) == 1
    assert shops(db_session) == 0
