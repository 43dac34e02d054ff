"""Requests through Shopify's app proxy (`/apps/loyalty/*` on the shop's storefront, forwarded to `/proxy/*`).

Shopify's `verify_app_proxy_req` checks the `signature` (hex HMAC-SHA256 of the sorted query parameters, the previous
secret too during a rotation) and a 90 s freshness on `timestamp`, and refuses a repeated `shop`. On top of it, the
stricter reading: `shop` must be a myshopify.com domain, `logged_in_customer_id` appears at most once and is either
blank (a guest) or a numeric customer id. The shopper comes from these signed parameters only, never from the body.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

from shopify_app import verify_app_proxy_req

from app.shopify.app_config import app_config
from app.shopify.shop_domains import InvalidShopDomain, shop_domain

CUSTOMER_ID = re.compile(r"\d{1,20}", re.ASCII)
# Shopify's signature is a hex HMAC-SHA256. Anything else is refused before the comparison, which raises TypeError on
# non-ASCII text (a 500 anyone could cause, since the proxy's URL is the app's own).
SIGNATURE = re.compile(r"[0-9a-f]{64}", re.ASCII)
# Shopify's proxy URLs: a subpath prefix (apps, a, community or tools) and the app's subpath (letters, digits, _ and -).
# The prefix becomes part of the share links the API hands out, so it is never taken from anyone else.
PATH_PREFIX = re.compile(r"/(?:apps|a|community|tools)/[A-Za-z0-9_-]{1,64}", re.ASCII)
# What Shopify adds to a proxied request's query; the rest of the query is the storefront caller's own.
PROXY_PARAMETERS = frozenset({"shop", "logged_in_customer_id", "path_prefix", "timestamp", "signature"})


class InvalidProxyRequest(Exception):
    """The request did not come through Shopify's app proxy for our app, or came too late."""


@dataclass(frozen=True)
class ProxySession:
    shop: str
    customer_id: str | None
    path_prefix: str


def verify_proxy_request(url: str, *, method: str, secrets: Sequence[str]) -> ProxySession:
    """The shop and shopper of a proxied request, from its verified query string."""
    params = parse_qs(urlsplit(url).query, keep_blank_values=True)
    if not all(SIGNATURE.fullmatch(signature) for signature in params.get("signature", [])):
        raise InvalidProxyRequest("app proxy request refused: signature is not a hex HMAC-SHA256")
    request = {"method": method, "headers": {}, "url": url, "body": ""}
    result = verify_app_proxy_req(request, app_config(api_key="", secrets=secrets))
    if not result.ok:
        raise InvalidProxyRequest(f"app proxy request refused: {result.log.code.replace('_', ' ')}")
    try:
        shop = shop_domain((params.get("shop") or [""])[0])
    except InvalidShopDomain as exc:
        raise InvalidProxyRequest(f"app proxy request refused: {exc}") from None
    customers = params.get("logged_in_customer_id", [""])
    if len(customers) != 1:
        raise InvalidProxyRequest("app proxy request refused: logged_in_customer_id is repeated")
    customer = customers[0]
    if customer and not CUSTOMER_ID.fullmatch(customer):
        raise InvalidProxyRequest("app proxy request refused: logged_in_customer_id is not a customer id")
    prefixes = params.get("path_prefix", ["/apps/loyalty"])
    if len(prefixes) != 1 or not PATH_PREFIX.fullmatch(prefixes[0]):
        raise InvalidProxyRequest("app proxy request refused: path_prefix is repeated or not an app proxy path")
    prefix = prefixes[0]
    return ProxySession(shop=shop, customer_id=customer or None, path_prefix=prefix)


def sign_proxy_query(
    params: Mapping[str, str], *, secret: str, shop: str, customer_id: str | None, path_prefix: str
) -> str:
    """The query string Shopify's app proxy would forward (development mode's stand-in for the proxy)."""
    signed: dict[str, str] = {
        **{key: value for key, value in params.items() if key not in PROXY_PARAMETERS},
        "shop": shop,
        "logged_in_customer_id": customer_id or "",
        "path_prefix": path_prefix,
        "timestamp": str(int(time.time())),
    }
    message = "".join(f"{key}={signed[key]}" for key in sorted(signed))
    signed["signature"] = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return urlencode(signed)
