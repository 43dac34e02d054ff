"""Rules a shop can start from, ready for `save_rule`: the spec's example, which the demo shop is seeded with, and the
builder's templates."""

from __future__ import annotations

from typing import Any

# The spec's example rule, verbatim. Callers copy it (`{**FIRST_ORDER_BONUS, ...}`) rather than change it.
FIRST_ORDER_BONUS: dict[str, Any] = {
    "name": "First Order Bonus",
    "conditions": {
        "operator": "and",
        "conditions": [
            {"type": "order_total", "operator": ">=", "value": 100},
            {"type": "frequency", "event_type": "order_created", "value": 1},
        ],
    },
    "actions": [{"type": "points", "amount": 500, "reason": "First order bonus"}],
}

# Ready rules the builder offers to start from: plain rules in the language, saved as drafts until the merchant makes
# them live (tests/loyalty/test_rule_templates.py validates each and runs it on an order it is meant for).
TEMPLATES: dict[str, dict[str, Any]] = {
    "first_order_bonus": {**FIRST_ORDER_BONUS, "status": "draft"},
    "points_per_currency": {
        "name": "Points per dollar",
        "status": "draft",
        "actions": [{"type": "points_per_currency", "rate": 1, "basis": "subtotal", "rounding": "floor"}],
    },
    "double_points_weekend": {
        "name": "Double points weekend",
        "status": "draft",
        "conditions": {"operator": "and", "conditions": [{"type": "day_of_week", "value": ["sat", "sun"]}]},
        "actions": [{"type": "multiply", "factor": 2}],
    },
    "vip_multiplier": {
        "name": "VIP multiplier",
        "status": "draft",
        "conditions": {"operator": "and", "conditions": [{"type": "customer_tag", "operator": "in", "value": ["VIP"]}]},
        "actions": [{"type": "multiply", "factor": 1.5}],
    },
    "birthday_month": {
        "name": "Birthday month bonus",
        "description": "Reads the birthday month the storefront saves as the order's first note attribute.",
        "status": "draft",
        "conditions": {
            "operator": "and",
            "conditions": [{"type": "attribute", "path": "event_data.note_attributes.0.value", "value": "birthday"}],
        },
        "limits": {"per_customer": 1, "per_customer_period": "year"},
        "actions": [{"type": "points", "amount": 250, "reason": "Happy birthday"}],
    },
    "product_bonus": {
        "name": "Product bonus",
        "status": "draft",
        "conditions": {
            "operator": "and",
            "conditions": [{"type": "line_item", "field": "product_id", "operator": "in", "value": ["1234567890"]}],
        },
        "actions": [{"type": "points", "amount": 100, "reason": "Featured product bonus"}],
    },
    "spend_threshold": {
        "name": "Spend over 200",
        "status": "draft",
        "conditions": {"operator": "and", "conditions": [{"type": "order_total", "operator": ">=", "value": 200}]},
        "actions": [{"type": "points", "amount": 300, "reason": "Big order bonus"}],
    },
    "win_back_90_days": {
        "name": "Win-back after 90 days",
        "description": "An order that is the customer's only one in 90 days, from a customer who ordered before.",
        "status": "draft",
        "conditions": {
            "operator": "and",
            "conditions": [
                {"type": "customer_order_count", "operator": ">=", "value": 2},
                {"type": "frequency", "event_type": "order_created", "value": 1, "within_days": 90},
            ],
        },
        "actions": [{"type": "points", "amount": 200, "reason": "Welcome back"}],
    },
}
