"""Verify an App Home request (the embedded admin): an App Bridge ID token in the `id_token` query parameter of a page
load, or in `Authorization: Bearer` of a fetch or htmx request.

Shopify's `verify_app_home_req` checks HS256 with the app secret (the previous one too), a 10 s leeway on exp and
nbf, and aud = the API key. Shopify's libraries disagree on the rest (the Node and Python app packages stop there;
ShopifyAPI also requires iss, dest, sub, jti and sid and the same host in iss and dest); this takes the stricter
reading and requires every claim an App Bridge token carries, each of the JSON type Shopify writes (id_tokens), dest
exactly `https://<handle>.myshopify.com`, and iss exactly that shop's admin, `https://<handle>.myshopify.com/admin`.
The shop comes from the verified dest only.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from shopify_app import IdTokenDetails, RequestInput, Res, verify_app_home_req

from app.config import Settings
from app.shopify.app_config import app_config_for
from app.shopify.id_tokens import missing_claims, mistyped_claim, refusal_reason
from app.shopify.shop_domains import InvalidShopDomain, shop_domain

# Where a page load without a usable id_token is sent to get one (shopify_app's "patch ID token" bounce page).
PATCH_ID_TOKEN_PATH = "/auth/patch-id-token"
REQUIRED_CLAIMS = ("iss", "dest", "aud", "sub", "exp", "nbf", "jti", "sid")
RETRY_HEADER = "X-Shopify-Retry-Invalid-Session-Request"


@dataclass(frozen=True)
class AppHomeCheck:
    """The verdict on one admin request. When not ok, `refusal` is the answer shopify_app suggests: for a page load
    a redirect to the bounce page (App Bridge comes back with a fresh token), for a fetch 401 with
    `X-Shopify-Retry-Invalid-Session-Request: 1` (App Bridge retries once with a fresh token)."""

    ok: bool
    code: str
    detail: str
    is_page_load: bool
    refusal: Res | None = None
    shop: str | None = None
    staff_user_id: str | None = None
    id_token: IdTokenDetails | None = None
    invalid_token_response: Res | None = None


def verify_app_home(request: RequestInput, settings: Settings) -> AppHomeCheck:
    """Verify the request's ID token; `request` is shopify_app's request shape, with the URL on the app's origin."""
    is_page_load = not any(name.lower() == "authorization" for name in request["headers"])
    token = _presented_token(request, is_page_load)
    mistyped = mistyped_claim(token) if token else None
    if mistyped is not None:
        # Refused before shopify_app reads it, answered as it answers a token for another app (aud): 401, and for a
        # fetch the header that has App Bridge retry once with a fresh token.
        refusal = Res(status=401, body="", headers={} if is_page_load else {RETRY_HEADER: "1"})
        return AppHomeCheck(False, "invalid_claims", f"session token refused: {mistyped}", is_page_load, refusal)
    result = verify_app_home_req(request, app_config_for(settings), PATCH_ID_TOKEN_PATH)
    if not result.ok or result.id_token is None:
        detail = refusal_reason(token, result.log.code) if token else "no session token was sent"
        return AppHomeCheck(False, result.log.code, f"session token refused: {detail}", is_page_load, result.response)

    claims = result.id_token.claims
    problem = _claims_problem(claims)
    if problem is not None:
        return AppHomeCheck(
            False, "invalid_claims", f"session token refused: {problem}", is_page_load, result.invalid_token_response
        )
    return AppHomeCheck(
        True,
        "verified",
        "App Home request verified",
        is_page_load,
        shop=shop_domain(str(claims["dest"]).removeprefix("https://")),
        staff_user_id=str(claims["sub"]),
        id_token=result.id_token,
        invalid_token_response=result.invalid_token_response,
    )


def _claims_problem(claims: dict[str, object]) -> str | None:
    missing = missing_claims(claims, REQUIRED_CLAIMS)
    if missing:
        return f"the {', '.join(missing)} claim is missing"
    dest = str(claims["dest"])
    try:
        shop = shop_domain(dest.removeprefix("https://"))
    except InvalidShopDomain:
        shop = None
    if shop is None or not dest.startswith("https://"):
        return "dest is not https://<handle>.myshopify.com"
    if str(claims["iss"]).lower() != f"https://{shop}/admin":
        return "iss is not the admin of the shop in dest"
    return None


def _presented_token(request: RequestInput, is_page_load: bool) -> str:
    if is_page_load:
        return parse_qs(urlsplit(request["url"]).query).get("id_token", [""])[0]
    authorization = next(value for name, value in request["headers"].items() if name.lower() == "authorization")
    return authorization.removeprefix("Bearer ").strip()
