"""The token validation matrix: App Home ID tokens on the admin, extension session tokens on /graphql. Every bad
token is 401 with a reason, and none of them makes the app call Shopify."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.helpers import GET_LOYALTY_PROFILE
from tests.shopify.conftest import SHOP
from tests.shopify_fake.signing import ShopifySigner

OTHER_SHOP = "other-shop.myshopify.com"
ANOTHER_SECRET = "shpss_another_apps_secret_0123456789"
RETRY = "X-Shopify-Retry-Invalid-Session-Request"
# The HS512 tokens are signed with a 34-byte test secret; PyJWT warns that SHA-512 wants 64. They are refused anyway.
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _resigned(token: str, key: object, algorithm: str) -> str:
    """The same claims under another algorithm (`none`: unsigned)."""
    return jwt.encode(jwt.decode(token, options={"verify_signature": False}), key, algorithm=algorithm)  # type: ignore[arg-type]


def _without(token: str, *claims: str, secret: str) -> str:
    payload = jwt.decode(token, options={"verify_signature": False})
    return jwt.encode({k: v for k, v in payload.items() if k not in claims}, secret, algorithm="HS256")


def _retyped(token: str, secret: str, **claims: Any) -> str:
    """The token with some claims of another JSON type, signed with `secret` (PyJWT's encode refuses a non-string iss,
    so the payload is signed as it is)."""
    payload = {**jwt.decode(token, options={"verify_signature": False}), **claims}
    return jwt.PyJWS().encode(json.dumps(payload).encode(), secret, algorithm="HS256")


Maker = Callable[[ShopifySigner, int], str]

# Each builds, from Shopify's signer and the time now, an App Home token the admin must refuse with 401.
APP_HOME_TOKENS: dict[str, Maker] = {
    "expired beyond the 10 s leeway": lambda s, now: s.app_home_token(shop=SHOP, issued_at=now - 75),
    "nbf beyond the 10 s leeway": lambda s, now: s.app_home_token(shop=SHOP, nbf=now + 30),
    "wrong aud": lambda s, _: s.app_home_token(shop=SHOP, audience="another-app"),
    "wrong secret": lambda s, _: s.app_home_token(shop=SHOP, secret=ANOTHER_SECRET),
    "alg none": lambda s, _: _resigned(s.app_home_token(shop=SHOP), None, "none"),
    "alg switched to HS512": lambda s, _: s.app_home_token(shop=SHOP, algorithm="HS512"),
    "alg switched to RS256": lambda s, _: _resigned(s.app_home_token(shop=SHOP), _RSA_KEY, "RS256"),
    "dest not myshopify": lambda s, _: s.app_home_token(shop="evil.test"),
    "dest with a port": lambda s, _: s.app_home_token(shop=SHOP, dest=f"https://{SHOP}:8443"),
    "dest without https": lambda s, _: s.app_home_token(shop=SHOP, dest=f"http://{SHOP}"),
    "iss of another shop": lambda s, _: s.app_home_token(shop=SHOP, iss=f"https://{OTHER_SHOP}/admin"),
    "iss not an admin": lambda s, _: s.app_home_token(shop=SHOP, iss=f"https://{SHOP}"),
    "no sid": lambda s, _: _without(s.app_home_token(shop=SHOP), "sid", secret=s.api_secret),
    "no exp": lambda s, _: _without(s.app_home_token(shop=SHOP), "exp", secret=s.api_secret),
    "checkout extension token": lambda s, _: s.session_token(shop=SHOP, customer_id="7"),
    "not a JWT": lambda s, _: "not-a-jwt",
    # Signed with the app's secret, each with a claim of a JSON type Shopify never writes it in.
    "dest a number": lambda s, _: _retyped(s.app_home_token(shop=SHOP), s.api_secret, dest=123),
    "dest a list": lambda s, _: _retyped(s.app_home_token(shop=SHOP), s.api_secret, dest=[f"https://{SHOP}"]),
    "dest an object": lambda s, _: _retyped(s.app_home_token(shop=SHOP), s.api_secret, dest={"host": SHOP}),
    "sub a number": lambda s, _: _retyped(s.app_home_token(shop=SHOP), s.api_secret, sub=69523243207),
    "sid a list": lambda s, _: _retyped(s.app_home_token(shop=SHOP), s.api_secret, sid=["a-session"]),
    "iss an object": lambda s, _: _retyped(s.app_home_token(shop=SHOP), s.api_secret, iss={"shop": SHOP}),
    "aud a list": lambda s, _: _retyped(s.app_home_token(shop=SHOP), s.api_secret, aud=[s.api_key]),
    "exp a string": lambda s, now: _retyped(s.app_home_token(shop=SHOP), s.api_secret, exp=str(now + 60)),
}

# Each builds an extension session token /graphql must refuse with 401.
EXTENSION_TOKENS: dict[str, Maker] = {
    "expired beyond the 10 s leeway": lambda s, now: s.session_token(shop=SHOP, customer_id="7", issued_at=now - 315),
    "nbf beyond the 10 s leeway": lambda s, now: s.session_token(shop=SHOP, customer_id="7", issued_at=now + 30),
    "wrong aud": lambda s, _: s.session_token(shop=SHOP, customer_id="7", audience="another-app"),
    "wrong secret": lambda s, _: s.session_token(shop=SHOP, customer_id="7", secret=ANOTHER_SECRET),
    "alg none": lambda s, _: _resigned(s.session_token(shop=SHOP, customer_id="7"), None, "none"),
    "alg switched to HS512": lambda s, _: s.session_token(shop=SHOP, customer_id="7", algorithm="HS512"),
    "alg switched to RS256": lambda s, _: _resigned(s.session_token(shop=SHOP, customer_id="7"), _RSA_KEY, "RS256"),
    "dest not myshopify": lambda s, _: s.session_token(shop="evil.test", customer_id="7"),
    "no exp": lambda s, _: _without(s.session_token(shop=SHOP, customer_id="7"), "exp", secret=s.api_secret),
    "sub not a customer": lambda s, _: _without(
        s.app_home_token(shop=SHOP), "iss", "sid", secret=s.api_secret
    ),  # a staff user's sub
    "not a JWT": lambda s, _: "not-a-jwt",
    "dest a number": lambda s, _: _retyped(s.session_token(shop=SHOP, customer_id="7"), s.api_secret, dest=123),
    "dest a list": lambda s, _: _retyped(s.session_token(shop=SHOP, customer_id="7"), s.api_secret, dest=[SHOP]),
    "sub a number": lambda s, _: _retyped(s.session_token(shop=SHOP, customer_id="7"), s.api_secret, sub=7),
}


def _now() -> int:
    return int(time.time())


class TestAppHomeTokens:
    @pytest.mark.parametrize("make", APP_HOME_TOKENS.values(), ids=APP_HOME_TOKENS.keys())
    def test_an_htmx_request_with_a_bad_token_is_401_with_the_retry_header(  # type: ignore[no-untyped-def]
        self, admin, shopify_fake, shop, make
    ) -> None:
        response = admin.htmx(make(shopify_fake.signer, _now()))

        assert response.status_code == 401
        assert response.headers[RETRY] == "1"
        assert response.get_json()["error"] == "invalid_session_token"
        assert response.get_json()["message"].startswith("session token refused: ")
        assert response.headers["Content-Security-Policy"] == "frame-ancestors https://admin.shopify.com;"
        assert shopify_fake.recorder.requests == []

    @pytest.mark.parametrize("make", APP_HOME_TOKENS.values(), ids=APP_HOME_TOKENS.keys())
    def test_a_page_load_with_a_bad_token_is_refused_and_sent_for_a_new_one(  # type: ignore[no-untyped-def]
        self, admin, shopify_fake, make
    ) -> None:
        """shopify_app answers a page load with the bounce page (or 401 for another app's token)."""
        response = admin.page(make(shopify_fake.signer, _now()))

        assert response.status_code in (302, 401)
        if response.status_code == 302:
            assert response.headers["Location"].startswith("https://loyalty.test/auth/patch-id-token?")
            assert "id_token" not in response.headers["Location"]
        assert "Connected to" not in response.get_data(as_text=True)
        assert shopify_fake.recorder.requests == []

    @pytest.mark.parametrize(
        ("make", "reason"),
        [
            (APP_HOME_TOKENS["expired beyond the 10 s leeway"], "has expired"),
            (APP_HOME_TOKENS["nbf beyond the 10 s leeway"], "not valid yet"),
            (APP_HOME_TOKENS["wrong aud"], "audience"),
            (APP_HOME_TOKENS["wrong secret"], "Signature verification failed"),
            (APP_HOME_TOKENS["alg none"], "alg 'none' is not allowed"),
            (APP_HOME_TOKENS["alg switched to HS512"], "alg 'HS512' is not allowed"),
            (APP_HOME_TOKENS["dest not myshopify"], "dest is not https://<handle>.myshopify.com"),
            (APP_HOME_TOKENS["iss of another shop"], "iss is not the admin of the shop in dest"),
            (APP_HOME_TOKENS["no sid"], "the sid claim is missing"),
            (APP_HOME_TOKENS["dest a number"], "the dest claim is not a string"),
            (APP_HOME_TOKENS["dest a list"], "the dest claim is not a string"),
            (APP_HOME_TOKENS["dest an object"], "the dest claim is not a string"),
            (APP_HOME_TOKENS["sub a number"], "the sub claim is not a string"),
            (APP_HOME_TOKENS["sid a list"], "the sid claim is not a string"),
            (APP_HOME_TOKENS["iss an object"], "the iss claim is not a string"),
            (APP_HOME_TOKENS["aud a list"], "the aud claim is not a string"),
            (APP_HOME_TOKENS["exp a string"], "the exp claim is not a number of seconds"),
        ],
        ids=[
            "expired",
            "nbf",
            "aud",
            "secret",
            "none",
            "hs512",
            "dest",
            "iss",
            "sid",
            "dest a number",
            "dest a list",
            "dest an object",
            "sub a number",
            "sid a list",
            "iss an object",
            "aud a list",
            "exp a string",
        ],
    )
    def test_the_refusal_says_why(self, admin, shopify_fake, shop, make, reason) -> None:  # type: ignore[no-untyped-def]
        assert reason in admin.htmx(make(shopify_fake.signer, _now())).get_json()["message"]

    def test_an_uninstalled_shops_token_is_401_and_says_so(self, admin, shopify_fake, make_shop) -> None:  # type: ignore[no-untyped-def]
        make_shop(uninstalled_at=datetime(2026, 2, 1, tzinfo=timezone.utc))
        response = admin.htmx(shopify_fake.signer.app_home_token(shop=SHOP))

        assert response.status_code == 401
        assert response.get_json() == {
            "error": "shop_not_installed",
            "message": f"loyalty is not installed on {SHOP}: open it from the Shopify admin to install it",
        }
        assert RETRY not in response.headers  # a new token would not help
        assert shopify_fake.recorder.requests == []

    def test_a_shop_that_never_installed_is_401_on_htmx(self, admin, shopify_fake) -> None:  # type: ignore[no-untyped-def]
        response = admin.htmx(shopify_fake.signer.app_home_token(shop=SHOP))
        assert (response.status_code, response.get_json()["error"]) == (401, "shop_not_installed")
        assert shopify_fake.recorder.requests == []

    def test_a_future_nbf_within_the_leeway_is_accepted(self, admin, shopify_fake, make_shop) -> None:  # type: ignore[no-untyped-def]
        make_shop(access_token="stored")  # installed with a token: no exchange needed
        response = admin.htmx(shopify_fake.signer.app_home_token(shop=SHOP, nbf=_now() + 5))
        assert response.status_code == 200

    def test_the_previous_secret_still_verifies_during_a_rotation(  # type: ignore[no-untyped-def]
        self, settings_overrides, shopify_fake, make_shop
    ) -> None:
        from app import create_app

        rotated = create_app(
            {
                **settings_overrides,
                "shopify_api_secret": "shpss_new_secret",
                "shopify_old_api_secret": "shpss_test_secret_0123456789abcdef",
            }
        )
        with rotated.app_context():
            make_shop(access_token="stored")
            response = rotated.test_client().get(
                "/", headers={"Authorization": f"Bearer {shopify_fake.signer.app_home_token(shop=SHOP)}"}
            )
        assert response.status_code == 200


class TestExtensionTokens:
    @pytest.mark.parametrize("make", EXTENSION_TOKENS.values(), ids=EXTENSION_TOKENS.keys())
    def test_a_bad_token_is_401_with_a_reason(self, client, shopify_fake, shop, make) -> None:  # type: ignore[no-untyped-def]
        response = client.post(
            "/graphql",
            json={"query": GET_LOYALTY_PROFILE, "variables": {"customerId": "7"}},
            headers={"Authorization": f"Bearer {make(shopify_fake.signer, _now())}"},
        )
        assert response.status_code == 401
        assert response.get_json()["error"] == "invalid_session_token"
        assert response.get_json()["message"].startswith("session token refused: ")
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert shopify_fake.recorder.requests == []

    @pytest.mark.parametrize(
        ("make", "reason"),
        [
            (EXTENSION_TOKENS["dest a number"], "the dest claim is not a string"),
            (EXTENSION_TOKENS["dest a list"], "the dest claim is not a string"),
            (EXTENSION_TOKENS["sub a number"], "the sub claim is not a string"),
        ],
        ids=["dest a number", "dest a list", "sub a number"],
    )
    def test_the_refusal_of_a_claim_of_another_type_says_which(self, client, shopify_fake, shop, make, reason) -> None:  # type: ignore[no-untyped-def]
        response = client.post(
            "/graphql",
            json={"query": GET_LOYALTY_PROFILE, "variables": {"customerId": "7"}},
            headers={"Authorization": f"Bearer {make(shopify_fake.signer, _now())}"},
        )
        assert response.status_code == 401
        assert response.get_json()["message"] == f"session token refused: {reason}"

    def test_an_uninstalled_shops_token_is_401(self, client, shopify_fake, make_shop) -> None:  # type: ignore[no-untyped-def]
        make_shop(uninstalled_at=datetime(2026, 2, 1, tzinfo=timezone.utc))
        response = client.post(
            "/graphql",
            json={"query": GET_LOYALTY_PROFILE, "variables": {"customerId": "7"}},
            headers={"Authorization": f"Bearer {shopify_fake.signer.session_token(shop=SHOP, customer_id='7')}"},
        )
        assert response.status_code == 401
        assert response.get_json() == {
            "error": "shop_not_installed",
            "message": f"loyalty is not installed on {SHOP}",
        }
        assert shopify_fake.recorder.requests == []
