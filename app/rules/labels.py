"""What each word of the rule language is called for merchants: one place for the admin's rule builder, the
plain-language summary (app.rules.summary) and the storefront's ways to earn, so they always name a condition or an
action the same way."""

from __future__ import annotations

CONDITION_LABELS = {
    "order_total": "Order total",
    "order_subtotal": "Order subtotal",
    "frequency": "Nth event of the customer",
    "customer_order_count": "Customer's order count",
    "customer_lifetime_spend": "Customer's lifetime spend",
    "customer_tag": "Customer tag",
    "customer_tier": "Customer tier",
    "line_item": "Line item",
    "discount_code": "Discount code",
    "source_name": "Sales channel",
    "shipping_country": "Shipping country",
    "currency": "Order currency",
    "date": "Date",
    "day_of_week": "Day of the week",
    "time_of_day": "Time of day",
    "referred_customer": "Referred customer",
    "event_type": "Event type",
    "attribute": "Order field",
}
ACTION_LABELS = {
    "points": "Give points",
    "points_per_currency": "Points per amount spent",
    "multiply": "Multiply points",
    "issue_reward": "Give a reward",
    "tag_customer": "Tag the customer",
    "webhook": "Send a webhook",
    "referral_advocate_points": "Points to the referrer",
}
OPERATOR_LABELS = {
    "==": "is",
    "!=": "is not",
    ">": "is more than",
    ">=": "is at least",
    "<": "is less than",
    "<=": "is at most",
    "between": "is between",
    "in": "is any of",
    "not_in": "is none of",
    "exists": "exists",
    "and": "All of these",
    "or": "Any of these",
    "not": "Not this",
}
WEEKDAY_LABELS = {"mon": "Mon", "tue": "Tue", "wed": "Wed", "thu": "Thu", "fri": "Fri", "sat": "Sat", "sun": "Sun"}
LINE_ITEM_FIELD_LABELS = {
    "product_id": "Product",
    "variant_id": "Variant",
    "sku": "SKU",
    "product_tag": "Product tag",
    "collection_id": "Collection",
    "vendor": "Vendor",
}
STATUS_LABELS = {"draft": "Draft", "active": "Active", "paused": "Paused", "archived": "Archived"}
PERIOD_LABELS = {"day": "a day", "week": "a week", "month": "a month", "year": "a year", "lifetime": "ever"}
# Conditions whose value is money in the shop's currency (the editor shows the currency beside them).
MONEY_CONDITIONS = frozenset({"order_total", "order_subtotal", "customer_lifetime_spend"})
