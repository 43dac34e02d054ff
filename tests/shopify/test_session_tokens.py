"""Extension session tokens: HS256 with the app secret, aud = API key, bare dest, optional customer sub."""

from __future__ import annotations

import time

import jwt
import pytest

from app.shopify.session_tokens import InvalidSessionToken, bearer_token, verify_extension_token

KEY, SECRET = "test-api-key", "shpss_test_secret_0123456789abcdef"


def verify(token: str, secrets: tuple[str, ...] = (SECRET,)):  # type: ignore[no-untyped-def]
    return verify_extension_token(token, api_key=KEY, secrets=secrets)


def test_a_logged_in_shopper(shopify) -> None:  # type: ignore[no-untyped-def]
    session = verify(shopify.session_token(customer_id="7393829330"))
    assert (session.shop, session.customer_id) == ("test-shop.myshopify.com", "7393829330")


def test_a_guest_has_no_customer(shopify) -> None:  # type: ignore[no-untyped-def]
    assert verify(shopify.session_token()).customer_id is None


def test_a_future_nbf_within_the_leeway_is_accepted(shopify) -> None:  # type: ignore[no-untyped-def]
    assert verify(shopify.session_token(issued_at=int(time.time()) + 5)).shop == "test-shop.myshopify.com"


def test_the_old_secret_still_verifies_during_rotation(shopify) -> None:  # type: ignore[no-untyped-def]
    token = shopify.session_token(secret="shpss_old_secret_0123456789abcdefgh")
    assert verify(token, (SECRET, "shpss_old_secret_0123456789abcdefgh")).shop == "test-shop.myshopify.com"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda s: s.session_token(issued_at=int(time.time()) - 400, lifetime=300), "expired"),
        (lambda s: s.session_token(audience="another-app"), "(?i)audience"),
        (lambda s: s.session_token(secret="shpss_not_our_secret_0123456789abcd"), "Signature"),
        (
            lambda s: jwt.encode(
                {"dest": "a.myshopify.com", "aud": KEY, "exp": time.time() + 60}, None, algorithm="none"
            ),
            "alg",
        ),
        (lambda s: jwt.encode({"aud": KEY, "exp": time.time() + 60}, SECRET, algorithm="HS256"), "dest"),
        (
            lambda s: jwt.encode({"dest": "evil.com", "aud": KEY, "exp": time.time() + 60}, SECRET, algorithm="HS256"),
            "myshopify",
        ),
        (
            lambda s: jwt.encode(
                {"dest": "a.myshopify.com", "aud": KEY, "exp": time.time() + 60, "sub": "gid://shopify/StaffMember/1"},
                SECRET,
                algorithm="HS256",
            ),
            "customer",
        ),
        (lambda s: "not.a.jwt", "header|segments"),
    ],
    ids=["expired", "wrong-aud", "wrong-secret", "alg-none", "no-dest", "bad-dest", "staff-sub", "garbage"],
)
def test_bad_tokens_are_refused_with_a_reason(shopify, make, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidSessionToken, match=message):
        verify(make(shopify))


@pytest.mark.parametrize("header", [None, "", "Token abc", "bearer abc"])
def test_authorization_must_be_a_bearer_token(header) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidSessionToken, match="Bearer"):
        bearer_token(header)
