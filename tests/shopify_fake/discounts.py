"""discountCodeBasicCreate, discountCodeFreeShippingCreate, discountCodeBxgyCreate, discountCodeDeactivate and
codeDiscountNodeByCode.

Codes are unique per shop, case-insensitively, as in Shopify; a refused create writes nothing and answers
`userErrors` with `field` paths into the mutation's argument. The required fields follow the input objects' pages:
code, context (or the deprecated customerSelection) and title; free shipping also requires startsAt.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLResolveInfo

from tests.shopify_fake.customers import customer_object
from tests.shopify_fake.state import ApiContext
from tests.shopify_fake.values import CUSTOMER_GID, connection, from_iso, iso, money, utc_now

TAKEN_MESSAGE = "Code must be unique. Please try a different code."


def _error(path: list[str], code: str, message: str) -> dict[str, Any]:
    return {"field": path, "code": code, "message": message, "extraInfo": None}


def _validate(argument: str, data: dict[str, Any], context: ApiContext, kind: str) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    code = (data.get("code") or "").strip()
    if not code:
        errors.append(_error([argument, "code"], "BLANK", "Code can't be blank"))
    elif len(code) > 255:
        errors.append(_error([argument, "code"], "TOO_LONG", "Code is too long (maximum is 255 characters)"))
    elif context.shop.discount_by_code(code) is not None:
        errors.append(_error([argument, "code"], "TAKEN", TAKEN_MESSAGE))
    if not (data.get("title") or "").strip():
        errors.append(_error([argument, "title"], "BLANK", "Title can't be blank"))
    if data.get("context") is None and data.get("customerSelection") is None:
        errors.append(_error([argument, "context"], "BLANK", "Context can't be blank"))
    if data.get("context") is not None and data.get("customerSelection") is not None:
        errors.append(_error([argument, "context"], "CONFLICT", "Only one of context or customerSelection is allowed"))
    selection = data.get("context") or data.get("customerSelection") or {}
    for index, gid in enumerate((selection.get("customers") or {}).get("add") or []):
        if not CUSTOMER_GID.match(gid):
            path = [argument, "context", "customers", "add", str(index)]
            errors.append(_error(path, "INVALID", f"Customer {gid} does not exist"))
    if kind == "DiscountCodeFreeShipping" and data.get("startsAt") is None:
        errors.append(_error([argument, "startsAt"], "BLANK", "Starts at can't be blank"))
    starts, ends = data.get("startsAt"), data.get("endsAt")
    if starts and ends and from_iso(ends) <= from_iso(starts):
        errors.append(_error([argument, "endsAt"], "INVALID", "Ends at needs to be after starts_at"))
    if data.get("usageLimit") is not None and data["usageLimit"] < 1:
        errors.append(_error([argument, "usageLimit"], "GREATER_THAN", "Usage limit must be greater than 0"))
    minimum = data.get("minimumRequirement") or {}
    if minimum.get("quantity") and minimum.get("subtotal"):
        errors.append(
            _error(
                [argument, "minimumRequirement"],
                "MINIMUM_SUBTOTAL_AND_QUANTITY_RANGE_BOTH_PRESENT",
                "Minimum subtotal and quantity range can't both be present",
            )
        )
    if kind != "DiscountCodeFreeShipping":
        errors += _validate_customer_gets(argument, data.get("customerGets"), kind)
    if kind == "DiscountCodeBxgy" and not data.get("customerBuys"):
        errors.append(_error([argument, "customerBuys"], "BLANK", "Customer buys can't be blank"))
    return errors


def _validate_customer_gets(argument: str, gets: dict[str, Any] | None, kind: str) -> list[dict[str, Any]]:
    path = [argument, "customerGets"]
    if not gets:
        return [_error(path, "BLANK", "Customer gets can't be blank")]
    errors = []
    value = {key: given for key, given in (gets.get("value") or {}).items() if given is not None}
    if len(value) != 1:
        errors.append(
            _error(
                [*path, "value"],
                "INVALID",
                "Exactly one of discountAmount, discountOnQuantity or percentage is required",
            )
        )
    elif "percentage" in value and not 0 < value["percentage"] <= 1:
        errors.append(_error([*path, "value", "percentage"], "VALUE_OUTSIDE_RANGE", "Percentage must be in (0, 1]"))
    elif kind == "DiscountCodeBxgy" and "discountOnQuantity" not in value:
        errors.append(_error([*path, "value"], "INVALID", "Buy X get Y discounts need discountOnQuantity"))
    if not {key for key, given in (gets.get("items") or {}).items() if given}:
        errors.append(_error([*path, "items"], "BLANK", "Items can't be blank"))
    return errors


def _items(items: dict[str, Any]) -> dict[str, Any]:
    if items.get("all"):
        return {"__typename": "AllDiscountItems", "allItems": True}
    if items.get("collections"):
        collections = [{"id": gid} for gid in items["collections"].get("add") or []]
        return {"__typename": "DiscountCollections", "collections": connection(collections)}
    products = items.get("products") or {}
    return {
        "__typename": "DiscountProducts",
        "products": connection([{"id": gid} for gid in products.get("productsToAdd") or []]),
        "productVariants": connection([{"id": gid} for gid in products.get("productVariantsToAdd") or []]),
    }


def _value(value: dict[str, Any], currency: str) -> dict[str, Any]:
    if value.get("percentage") is not None:
        return {"__typename": "DiscountPercentage", "percentage": value["percentage"]}
    if value.get("discountAmount") is not None:
        amount = value["discountAmount"]
        return {
            "__typename": "DiscountAmount",
            "amount": money(amount.get("amount") or 0, currency),
            "appliesOnEachItem": bool(amount.get("appliesOnEachItem")),
        }
    on_quantity = value["discountOnQuantity"]
    effect = on_quantity.get("effect") or {}
    return {
        "__typename": "DiscountOnQuantity",
        "quantity": {"quantity": int(on_quantity.get("quantity") or 1)},
        "effect": (
            {"__typename": "DiscountPercentage", "percentage": effect["percentage"]}
            if effect.get("percentage") is not None
            else {
                "__typename": "DiscountAmount",
                "amount": money(effect.get("amount") or 0, currency),
                "appliesOnEachItem": False,
            }
        ),
    }


def _customer_gets(gets: dict[str, Any], currency: str) -> dict[str, Any]:
    return {
        "value": _value(gets["value"], currency),
        "items": _items(gets["items"]),
        "appliesOnOneTimePurchase": gets.get("appliesOnOneTimePurchase", True) is not False,
        "appliesOnSubscription": bool(gets.get("appliesOnSubscription")),
    }


def _context(data: dict[str, Any]) -> dict[str, Any]:
    """The buyer context, from `context` or the deprecated `customerSelection` (its `all` is a Boolean)."""
    selection = data.get("context") or data.get("customerSelection") or {}
    if selection.get("customers"):
        return {"__typename": "DiscountCustomers", "customer_ids": list(selection["customers"].get("add") or [])}
    if selection.get("customerSegments"):
        segments = [{"id": gid} for gid in selection["customerSegments"].get("add") or []]
        return {"__typename": "DiscountCustomerSegments", "segments": segments}
    return {"__typename": "DiscountBuyerSelectionAll", "all": "ALL"}


def _minimum(minimum: dict[str, Any] | None, currency: str) -> dict[str, Any] | None:
    if not minimum:
        return None
    if minimum.get("quantity"):
        quantity = minimum["quantity"]["greaterThanOrEqualToQuantity"]
        return {"__typename": "DiscountMinimumQuantity", "greaterThanOrEqualToQuantity": quantity}
    subtotal = minimum["subtotal"]["greaterThanOrEqualToSubtotal"]
    return {"__typename": "DiscountMinimumSubtotal", "greaterThanOrEqualToSubtotal": money(subtotal, currency)}


def _combines_with(combines: dict[str, Any] | None) -> dict[str, Any]:
    combines = combines or {}
    tags = combines.get("productDiscountsWithTagsOnSameCartLine") or {}
    return {
        "orderDiscounts": bool(combines.get("orderDiscounts")),
        "productDiscounts": bool(combines.get("productDiscounts")),
        "shippingDiscounts": bool(combines.get("shippingDiscounts")),
        "productDiscountsWithTagsOnSameCartLine": tags.get("add"),
    }


def _free_shipping_fields(data: dict[str, Any], currency: str) -> dict[str, Any]:
    countries = (data.get("destination") or {}).get("countries")
    maximum = data.get("maximumShippingPrice")
    return {
        "discountClasses": ["SHIPPING"],
        "appliesOnOneTimePurchase": data.get("appliesOnOneTimePurchase", True) is not False,
        "appliesOnSubscription": bool(data.get("appliesOnSubscription")),
        "maximumShippingPrice": money(maximum, currency) if maximum else None,
        "destinationSelection": (
            {
                "__typename": "DiscountCountries",
                "countries": countries.get("add") or [],
                "includeRestOfWorld": bool(countries.get("includeRestOfWorld")),
            }
            if countries
            else {"__typename": "DiscountCountryAll", "allCountries": True}
        ),
    }


def _customer_gets_fields(kind: str, gets: dict[str, Any], currency: str) -> dict[str, Any]:
    customer_gets = _customer_gets(gets, currency)
    order_wide = customer_gets["items"]["__typename"] == "AllDiscountItems" and kind == "DiscountCodeBasic"
    return {"customerGets": customer_gets, "discountClasses": ["ORDER"] if order_wide else ["PRODUCT"]}


def _bxgy_fields(data: dict[str, Any]) -> dict[str, Any]:
    buys = data["customerBuys"]
    value = buys.get("value") or {}
    return {
        "usesPerOrderLimit": data.get("usesPerOrderLimit"),
        "customerBuys": {
            "isOneTimePurchase": buys.get("isOneTimePurchase") is not False,
            "isSubscription": bool(buys.get("isSubscription")),
            "items": _items(buys.get("items") or {"all": True}),
            "value": (
                {"__typename": "DiscountPurchaseAmount", "amount": value["amount"]}
                if value.get("amount") is not None
                else {"__typename": "DiscountQuantity", "quantity": int(value.get("quantity") or 1)}
            ),
        },
    }


def _summary(kind: str, discount: dict[str, Any]) -> str:
    if kind == "DiscountCodeFreeShipping":
        return "Free shipping on all products"
    value = discount["customerGets"]["value"]
    if value["__typename"] == "DiscountPercentage":
        off = f"{value['percentage'] * 100:g}% off"
    elif value["__typename"] == "DiscountAmount":
        off = f"{value['amount']['amount']} {value['amount']['currencyCode']} off"
    else:
        off = f"{value['quantity']['quantity']} item(s) discounted"
    return f"{off} entire order" if discount["customerGets"]["items"]["__typename"] == "AllDiscountItems" else off


def _create(info: GraphQLResolveInfo, kind: str, argument: str, data: dict[str, Any]) -> dict[str, Any]:
    context: ApiContext = info.context
    state, shop = context.state, context.shop
    with state.lock:
        errors = _validate(argument, data, context, kind)
        if errors:
            return {"codeDiscountNode": None, "userErrors": errors}
        now = iso(utc_now())
        code = data["code"].strip()
        redeem_code = {"id": state.gid("DiscountRedeemCode"), "code": code, "asyncUsageCount": 0}
        discount: dict[str, Any] = {
            "__typename": kind,
            "title": data["title"],
            "appliesOncePerCustomer": bool(data.get("appliesOncePerCustomer")),
            "asyncUsageCount": 0,
            "codes": connection([redeem_code]),
            "codesCount": {"count": 1, "precision": "EXACT"},
            "combinesWith": _combines_with(data.get("combinesWith")),
            "context": _context(data),
            "createdAt": now,
            "updatedAt": now,
            "startsAt": data.get("startsAt") or now,
            "endsAt": data.get("endsAt"),
            "usageLimit": data.get("usageLimit"),
            "recurringCycleLimit": data.get("recurringCycleLimit"),
            "minimumRequirement": _minimum(data.get("minimumRequirement"), shop.currency),
            "tags": list(data.get("tags") or []),
        }
        if kind == "DiscountCodeFreeShipping":
            discount |= _free_shipping_fields(data, shop.currency)
        else:
            discount |= _customer_gets_fields(kind, data["customerGets"], shop.currency)
        if kind == "DiscountCodeBxgy":
            discount |= _bxgy_fields(data)
        discount["summary"] = _summary(kind, discount)
        node = {"__typename": "DiscountCodeNode", "id": state.gid("DiscountCodeNode"), "codeDiscount": discount}
        shop.discounts[node["id"]] = node
        shop.codes[code.upper()] = node["id"]
        return {"codeDiscountNode": node, "userErrors": []}


def resolve_basic_create(_: Any, info: GraphQLResolveInfo, basicCodeDiscount: dict[str, Any]) -> dict[str, Any]:
    return _create(info, "DiscountCodeBasic", "basicCodeDiscount", basicCodeDiscount)


def resolve_free_shipping_create(
    _: Any, info: GraphQLResolveInfo, freeShippingCodeDiscount: dict[str, Any]
) -> dict[str, Any]:
    return _create(info, "DiscountCodeFreeShipping", "freeShippingCodeDiscount", freeShippingCodeDiscount)


def resolve_bxgy_create(_: Any, info: GraphQLResolveInfo, bxgyCodeDiscount: dict[str, Any]) -> dict[str, Any]:
    return _create(info, "DiscountCodeBxgy", "bxgyCodeDiscount", bxgyCodeDiscount)


def resolve_deactivate(_: Any, info: GraphQLResolveInfo, id: str) -> dict[str, Any]:
    """Deactivates a code discount: it stays in the store, and its status reads EXPIRED from now on (Shopify's
    reference: "Temporarily suspends a code discount"; a deactivated discount is expired until reactivated)."""
    context: ApiContext = info.context
    with context.state.lock:
        node = context.shop.discounts.get(id)
        if node is None:
            return {"codeDiscountNode": None, "userErrors": [_error(["id"], "INVALID", "Discount does not exist")]}
        discount = node["codeDiscount"]
        now = utc_now()
        if not discount.get("endsAt") or from_iso(discount["endsAt"]) > now:
            discount["endsAt"] = iso(now)
        discount["updatedAt"] = iso(now)
        return {"codeDiscountNode": node, "userErrors": []}


def resolve_node_by_code(_: Any, info: GraphQLResolveInfo, code: str) -> dict[str, Any] | None:
    context: ApiContext = info.context
    with context.state.lock:
        return context.shop.discount_by_code(code)


def resolve_status(discount: dict[str, Any], _: GraphQLResolveInfo) -> str:
    """ACTIVE, SCHEDULED or EXPIRED from the discount's dates, at the time of the read."""
    now = utc_now()
    if from_iso(discount["startsAt"]) > now:
        return "SCHEDULED"
    ends = discount.get("endsAt")
    if ends and from_iso(ends) <= now:
        return "EXPIRED"
    return "ACTIVE"


def resolve_context_customers(selection: dict[str, Any], info: GraphQLResolveInfo) -> list[dict[str, Any]]:
    context: ApiContext = info.context
    return [customer_object(context, gid) for gid in selection["customer_ids"]]
