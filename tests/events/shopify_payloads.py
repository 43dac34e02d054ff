"""Webhook bodies copied from Shopify's documented example payloads (shopify.dev webhook reference), not built by
our own helpers: what a subscription really receives.

- The Order (orders/create, orders/paid, orders/fulfilled share it) is the reference's 2025-10 example. Its example
  is a voided test order (`test: true`, `cancelled_at` set, which earn nothing), so `live_order` clears those two
  fields and says which financial and fulfilment status the order has. The JSON of the reference rounds ids beyond
  2^53 (820982911946154500); its `admin_graphql_api_id` keeps the true id, used here.
- The Customer (customers/create, customers/update) is the reference's example from 2023-07, an API version that
  still sent `tags` as ONE comma-separated string; from 2025-01 the field is gone (`current_customer` drops it) and
  `customer.tags_added` / `customer.tags_removed` carry {"customerId": gid, "tags": [...], "occurredAt": …}.
- customers/delete sends the id and little else.
"""

from __future__ import annotations

import copy
from typing import Any

ORDER_ID = 820982911946154508
CUSTOMER_ID = 115310627314723954


def _money(amount: str) -> dict[str, Any]:
    return {
        "shop_money": {"amount": amount, "currency_code": "USD"},
        "presentment_money": {"amount": amount, "currency_code": "USD"},
    }


def _line_item(line_id: int, name: str, price: str, sku: str, grams: int) -> dict[str, Any]:
    return {
        "id": line_id,
        "admin_graphql_api_id": f"gid://shopify/LineItem/{line_id}",
        "attributed_staffs": [],
        "current_quantity": 1,
        "fulfillable_quantity": 1,
        "fulfillment_service": "manual",
        "fulfillment_status": None,
        "gift_card": False,
        "grams": grams,
        "name": name,
        "price": price,
        "price_set": _money(price),
        "product_exists": True,
        "product_id": 788032119674292922,
        "properties": [],
        "quantity": 1,
        "requires_shipping": True,
        "sales_line_item_group_id": None,
        "sku": sku,
        "taxable": True,
        "title": name,
        "total_discount": "0.00",
        "total_discount_set": _money("0.00"),
        "variant_id": None,
        "variant_inventory_management": None,
        "variant_title": None,
        "vendor": None,
        "tax_lines": [],
        "duties": [],
        "discount_allocations": [],
    }


_ADDRESS = {
    "first_name": "Steve",
    "address1": "123 Shipping Street",
    "phone": "555-555-SHIP",
    "city": "Shippington",
    "zip": "40003",
    "province": "Kentucky",
    "country": "United States",
    "last_name": "Shipper",
    "address2": None,
    "company": "Shipping Company",
    "latitude": None,
    "longitude": None,
    "name": "Steve Shipper",
    "country_code": "US",
    "province_code": "KY",
}

DOCUMENTED_ORDER: dict[str, Any] = {
    "id": ORDER_ID,
    "admin_graphql_api_id": f"gid://shopify/Order/{ORDER_ID}",
    "app_id": None,
    "browser_ip": None,
    "buyer_accepts_marketing": True,
    "cancel_reason": "customer",
    "cancelled_at": "2021-12-31T19:00:00-05:00",
    "cart_token": None,
    "checkout_token": None,
    "client_details": None,
    "closed_at": None,
    "confirmation_number": None,
    "confirmed": False,
    "contact_email": "jon@example.com",
    "created_at": "2021-12-31T19:00:00-05:00",
    "currency": "USD",
    "current_shipping_price_set": _money("0.00"),
    "current_subtotal_price": "369.97",
    "current_subtotal_price_set": _money("369.97"),
    "current_total_additional_fees_set": None,
    "current_total_discounts": "0.00",
    "current_total_discounts_set": _money("0.00"),
    "current_total_duties_set": None,
    "current_total_price": "369.97",
    "current_total_price_set": _money("369.97"),
    "current_total_tax": "0.00",
    "current_total_tax_set": _money("0.00"),
    "customer_locale": "en",
    "device_id": None,
    "discount_codes": [],
    "duties_included": False,
    "email": "jon@example.com",
    "estimated_taxes": False,
    "financial_status": "voided",
    "fulfillment_status": None,
    "landing_site": None,
    "landing_site_ref": None,
    "location_id": None,
    "merchant_business_entity_id": "MTU0ODM4MDAwOQ",
    "merchant_of_record_app_id": None,
    "name": "#9999",
    "note": None,
    "note_attributes": [],
    "number": 234,
    "order_number": 1234,
    "order_status_url": "https://jsmith.myshopify.com/548380009/orders/123456abcd/authenticate?key=abcdefg",
    "original_total_additional_fees_set": None,
    "original_total_duties_set": None,
    "payment_gateway_names": ["visa", "bogus"],
    "phone": None,
    "po_number": None,
    "presentment_currency": "USD",
    "processed_at": "2021-12-31T19:00:00-05:00",
    "reference": None,
    "referring_site": None,
    "source_identifier": None,
    "source_name": "web",
    "source_url": None,
    "subtotal_price": "359.97",
    "subtotal_price_set": _money("359.97"),
    "tags": "tag1, tag2",
    "tax_exempt": False,
    "tax_lines": [],
    "taxes_included": False,
    "test": True,
    "token": "123456abcd",
    "total_discounts": "20.00",
    "total_discounts_set": _money("20.00"),
    "total_line_items_price": "369.97",
    "total_line_items_price_set": _money("369.97"),
    "total_outstanding": "369.97",
    "total_price": "359.97",
    "total_price_set": _money("359.97"),
    "total_shipping_price_set": _money("10.00"),
    "total_tax": "0.00",
    "total_tax_set": _money("0.00"),
    "total_tip_received": "0.00",
    "total_weight": 0,
    "updated_at": "2021-12-31T19:00:00-05:00",
    "user_id": None,
    "billing_address": dict(_ADDRESS),
    "customer": {
        "id": CUSTOMER_ID,
        "created_at": None,
        "updated_at": None,
        "first_name": "John",
        "last_name": "Smith",
        "state": "disabled",
        "note": None,
        "verified_email": True,
        "multipass_identifier": None,
        "tax_exempt": False,
        "email": "john@example.com",
        "phone": None,
        "currency": "USD",
        "tax_exemptions": [],
        "admin_graphql_api_id": f"gid://shopify/Customer/{CUSTOMER_ID}",
        "default_address": {
            "id": 715243470612851245,
            "customer_id": CUSTOMER_ID,
            "first_name": "John",
            "last_name": "Smith",
            "company": None,
            "address1": "123 Elm St.",
            "address2": None,
            "city": "Ottawa",
            "province": "Ontario",
            "country": "Canada",
            "zip": "K2H7A8",
            "phone": "123-123-1234",
            "name": "John Smith",
            "province_code": "ON",
            "country_code": "CA",
            "country_name": "Canada",
            "default": True,
        },
    },
    "discount_applications": [],
    "fulfillments": [],
    "line_items": [
        _line_item(487817672276298554, "Aviator sunglasses", "89.99", "SKU2006-001", 100),
        _line_item(976318377106520349, "Mid-century lounger", "159.99", "SKU2006-020", 1000),
        _line_item(315789986012684393, "Coffee table", "119.99", "SKU2006-035", 500),
    ],
    "payment_terms": None,
    "refunds": [],
    "shipping_address": dict(_ADDRESS),
    "shipping_lines": [
        {
            "id": 271878346596884015,
            "carrier_identifier": None,
            "code": None,
            "discounted_price": "0.00",
            "discounted_price_set": _money("0.00"),
            "is_removed": False,
            "phone": None,
            "price": "10.00",
            "price_set": _money("10.00"),
            "requested_fulfillment_service_id": None,
            "source": "shopify",
            "title": "Generic Shipping",
            "tax_lines": [],
            "discount_allocations": [],
        }
    ],
    "returns": [],
    "line_item_groups": [],
}

DOCUMENTED_CUSTOMER: dict[str, Any] = {
    "id": 706405506930370084,
    "email": "bob@biller.com",
    "created_at": "2021-12-31T19:00:00-05:00",
    "updated_at": "2021-12-31T19:00:00-05:00",
    "first_name": "Bob",
    "last_name": "Biller",
    "orders_count": 0,
    "state": "disabled",
    "total_spent": "0.00",
    "last_order_id": None,
    "note": "This customer loves ice cream",
    "verified_email": True,
    "multipass_identifier": None,
    "tax_exempt": False,
    "tags": "",
    "last_order_name": None,
    "currency": "USD",
    "phone": None,
    "addresses": [],
    "accepts_marketing": False,
    "accepts_marketing_updated_at": None,
    "marketing_opt_in_level": None,
    "tax_exemptions": [],
    "email_marketing_consent": None,
    "sms_marketing_consent": None,
    "admin_graphql_api_id": "gid://shopify/Customer/706405506930370084",
}


def live_order(
    order_id: int = ORDER_ID,
    *,
    customer_id: int = CUSTOMER_ID,
    financial_status: str = "paid",
    fulfillment_status: str | None = None,
    customer_tags: str | None = None,
) -> dict[str, Any]:
    """The documented Order as a real (not test, not cancelled) order of `customer_id`; `customer_tags` adds the
    `tags` string the order's customer carried before API version 2025-01."""
    order = copy.deepcopy(DOCUMENTED_ORDER)
    order.update(
        id=order_id,
        admin_graphql_api_id=f"gid://shopify/Order/{order_id}",
        test=False,
        cancelled_at=None,
        cancel_reason=None,
        financial_status=financial_status,
        fulfillment_status=fulfillment_status,
    )
    customer = order["customer"]
    customer.update(id=customer_id, admin_graphql_api_id=f"gid://shopify/Customer/{customer_id}")
    customer["default_address"]["customer_id"] = customer_id
    if customer_tags is not None:
        customer["tags"] = customer_tags
    return order


def customer_before_2025(customer_id: int = CUSTOMER_ID, *, tags: str, **fields: Any) -> dict[str, Any]:
    """customers/create or customers/update as API versions before 2025-01 send it: `tags` one string."""
    customer = copy.deepcopy(DOCUMENTED_CUSTOMER)
    customer.update(id=customer_id, admin_graphql_api_id=f"gid://shopify/Customer/{customer_id}", tags=tags, **fields)
    return customer


def current_customer(customer_id: int = CUSTOMER_ID, **fields: Any) -> dict[str, Any]:
    """customers/create or customers/update from API version 2025-01 on: no `tags` (nor the fields removed before)."""
    customer = customer_before_2025(customer_id, tags="", **fields)
    for removed in (
        "tags",
        "orders_count",
        "total_spent",
        "last_order_id",
        "last_order_name",
        "email_marketing_consent",
        "sms_marketing_consent",
    ):
        customer.pop(removed)
    return customer


def tags_changed(tags: list[str], customer_id: int = CUSTOMER_ID) -> dict[str, Any]:
    """customer.tags_added or customer.tags_removed."""
    return {
        "customerId": f"gid://shopify/Customer/{customer_id}",
        "tags": tags,
        "occurredAt": "2026-03-02T15:30:00.000Z",
    }


def customer_deleted(customer_id: int = CUSTOMER_ID) -> dict[str, Any]:
    return {"id": customer_id, "tax_exemptions": [], "admin_graphql_api_id": f"gid://shopify/Customer/{customer_id}"}
