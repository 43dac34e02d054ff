"""The one check of a shop's domain: `<handle>.myshopify.com` and nothing else, before any other use of it.

Shopify's app security check WEAK_SHOP_VALIDATION gives the anchored pattern
`^[a-zA-Z0-9][a-zA-Z0-9-]*\\.myshopify\\.com$`; ShopifyAPI's `sanitize_shop_domain` lower-cases, strips whitespace
and schemes, and appends `.myshopify.com` to a bare handle; Node's `sanitizeShop` also allows `_` and other Shopify
domains. Where they disagree this takes the stricter reading: nothing is stripped, appended or rewritten (a value
with a scheme, whitespace, a port, a path or a trailing dot is refused, not repaired), the suffix is the lower-case
`.myshopify.com` of Shopify's pattern, and a handle is a DNS label (at most 63 characters, no trailing hyphen, no
`xn--` punycode prefix: Shopify's handles are plain ASCII, and a punycode label is an internationalised name in
disguise). Upper-case letters in the handle, which Shopify's pattern allows, are accepted and lower-cased, since host
names are case-insensitive.
"""

from __future__ import annotations

import re

MYSHOPIFY_SUFFIX = ".myshopify.com"
# re.fullmatch, never `$`: `$` also matches before a trailing newline ("shop.myshopify.com\n").
_SHOP_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.myshopify\.com", re.ASCII)
MAX_LENGTH = 63 + len(MYSHOPIFY_SUFFIX)


class InvalidShopDomain(ValueError):
    """The value is not a `<handle>.myshopify.com` domain; the message says what it is instead."""


def shop_domain(value: object) -> str:
    """The value as a lower-case `<handle>.myshopify.com` domain; raises InvalidShopDomain for anything else."""
    if not isinstance(value, str) or not value:
        raise InvalidShopDomain("shop is missing: expected <handle>.myshopify.com")
    shown = value[:80]  # repr escapes control characters, so a refusal never echoes a raw newline
    if len(value) > MAX_LENGTH or not _SHOP_DOMAIN.fullmatch(value):
        raise InvalidShopDomain(f"shop {shown!r} is not a <handle>.myshopify.com domain")
    domain = value.lower()
    if domain.startswith("xn--"):
        raise InvalidShopDomain(f"shop {shown!r} is a punycode (internationalised) name, not a Shopify handle")
    return domain


def is_shop_domain(value: object) -> bool:
    """Whether shop_domain(value) would accept the value."""
    try:
        shop_domain(value)
    except InvalidShopDomain:
        return False
    return True


def shop_handle(domain: str) -> str:
    """The handle of a validated domain: `demo` for `demo.myshopify.com` (what shopify_app calls the shop)."""
    return shop_domain(domain).removesuffix(MYSHOPIFY_SUFFIX)
