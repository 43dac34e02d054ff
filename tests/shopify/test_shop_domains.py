"""The shop-domain check: `<handle>.myshopify.com` and nothing else, never repaired into one."""

from __future__ import annotations

import pytest

from app.shopify.shop_domains import InvalidShopDomain, is_shop_domain, shop_domain, shop_handle

ACCEPTED = {
    "demo.myshopify.com": "demo.myshopify.com",
    "a.myshopify.com": "a.myshopify.com",
    "my-shop-2.myshopify.com": "my-shop-2.myshopify.com",
    "0shop.myshopify.com": "0shop.myshopify.com",
    "Demo-Shop.myshopify.com": "demo-shop.myshopify.com",  # host names are case-insensitive
    "a" * 63 + ".myshopify.com": "a" * 63 + ".myshopify.com",
}

ADVERSARIAL = [
    # other hosts, and Shopify's own that are not a shop
    "evil.com",
    "shopify.com",
    "myshopify.com",
    ".myshopify.com",
    "admin.shopify.com",
    "admin.shopify.com/store/demo",
    "demo.shopify.com",
    "demo.myshopify.io",
    "demo.shop.dev",
    "demo.myshopify.co",
    "demo.myshopifyxcom",
    "demomyshopify.com",
    "demo.evilmyshopify.com",
    # suffix tricks
    "demo.myshopify.com.evil.test",
    "demo.myshopify.com.evil.test/x.myshopify.com",
    "evil.test/demo.myshopify.com",
    "evil.test?demo.myshopify.com",
    "evil.test#demo.myshopify.com",
    "evil.test\\demo.myshopify.com",
    "demo.myshopify.com%2eevil.test",
    "sub.demo.myshopify.com",
    "demo..myshopify.com",
    # credentials and ports
    "evil.test@demo.myshopify.com",
    "demo.myshopify.com@evil.test",
    "user:pass@demo.myshopify.com",
    "demo.myshopify.com:443",
    "demo.myshopify.com:8080",
    # schemes and paths
    "https://demo.myshopify.com",
    "http://demo.myshopify.com",
    "//demo.myshopify.com",
    "javascript:alert(1)//demo.myshopify.com",
    "demo.myshopify.com/",
    "demo.myshopify.com/admin",
    "demo.myshopify.com?x=1",
    "demo.myshopify.com#x",
    # trailing dots and separators
    "demo.myshopify.com.",
    "demo.myshopify.com..",
    "demo。myshopify.com",  # ideographic full stop
    "demo．myshopify.com",  # fullwidth full stop
    # whitespace and control characters
    " demo.myshopify.com",
    "demo.myshopify.com ",
    "demo.myshopify.com\n",
    "demo.myshopify.com\r\nX-Injected: 1",
    "demo .myshopify.com",
    "demo\t.myshopify.com",
    "demo.myshopify.com\x00",
    "\u200bdemo.myshopify.com",  # zero-width space
    # internationalised names and punycode
    "shöp.myshopify.com",
    "xn--shp-sna.myshopify.com",
    "XN--shp-sna.myshopify.com",
    "dеmo.myshopify.com",  # Cyrillic е
    "ｄｅｍｏ.myshopify.com",  # fullwidth letters
    # case of the suffix, which Shopify's pattern writes in lower case
    "demo.MYSHOPIFY.COM",
    "demo.MyShopify.com",
    # handle shape
    "-demo.myshopify.com",
    "demo-.myshopify.com",
    "de_mo.myshopify.com",
    "de*mo.myshopify.com",
    "a" * 64 + ".myshopify.com",
    "%64emo.myshopify.com",
    "demo%2Emyshopify.com",
    # not strings, or empty
    "",
    None,
    42,
    b"demo.myshopify.com",
    ["demo.myshopify.com"],
]


@pytest.mark.parametrize(("value", "expected"), ACCEPTED.items())
def test_shop_domains_are_accepted_in_lower_case(value: str, expected: str) -> None:
    assert shop_domain(value) == expected and is_shop_domain(value)


def test_there_are_at_least_fifty_adversarial_values() -> None:
    assert len(ADVERSARIAL) >= 50


@pytest.mark.parametrize("value", ADVERSARIAL, ids=repr)
def test_adversarial_values_are_refused_with_a_reason(value: object) -> None:
    with pytest.raises(InvalidShopDomain, match="shop"):
        shop_domain(value)
    assert not is_shop_domain(value)


def test_the_refusal_shows_control_characters_escaped() -> None:
    with pytest.raises(InvalidShopDomain) as refused:
        shop_domain("demo.myshopify.com\r\nX-Injected: 1")
    assert "\r" not in str(refused.value) and "\\r\\n" in str(refused.value)


def test_punycode_is_refused_as_such() -> None:
    with pytest.raises(InvalidShopDomain, match="punycode"):
        shop_domain("xn--shp-sna.myshopify.com")


def test_the_handle_is_the_first_label() -> None:
    assert shop_handle("Demo-Shop.myshopify.com") == "demo-shop"
