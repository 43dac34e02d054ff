"""The plain-language summary is generated from the rule: each part of the rule shows in it, an invalid rule has
none."""

from __future__ import annotations

import pytest

from app.loyalty.rulebook import FIRST_ORDER_BONUS, TEMPLATES
from app.rules.summary import summarize


@pytest.mark.parametrize(
    ("rule", "currency", "sentence"),
    [
        (
            FIRST_ORDER_BONUS,
            "USD",
            "Customers earn 500 points (First order bonus) when an order is placed and the order total is at least "
            "$100 and it is the customer's first order.",
        ),
        (
            {
                "name": "VIP",
                "conditions": {
                    "operator": "and",
                    "conditions": [
                        {"type": "customer_tag", "value": ["VIP"]},
                        {"type": "order_subtotal", "operator": ">", "value": 50},
                    ],
                },
                "limits": {"per_customer": 1, "per_customer_period": "day"},
                "actions": [{"type": "points_per_currency", "rate": 2}],
            },
            "EUR",
            "Customers earn 2 points per €1 of the order subtotal (rounded down) when an order is placed and the "
            "customer is tagged VIP and the order subtotal is more than €50, at most once a day per customer.",
        ),
        (
            {
                "name": "Not weekend",
                "status": "paused",
                "conditions": {
                    "operator": "not",
                    "conditions": [
                        {
                            "operator": "or",
                            "conditions": [
                                {"type": "day_of_week", "value": ["sat", "sun"]},
                                {"type": "discount_code", "operator": "exists"},
                            ],
                        }
                    ],
                },
                "actions": [{"type": "tag_customer", "add": ["weekday"]}],
                "limits": {"budget_points": 5000},
            },
            "CHF",
            "(Paused) Customers get tagged weekday when an order is placed and not (either it is Saturday or Sunday "
            "or a discount code is used), until 5,000 points have been issued in all.",
        ),
    ],
)
def test_the_summary_says_what_the_rule_does(rule: dict, currency: str, sentence: str) -> None:
    assert summarize(rule, currency) == sentence


@pytest.mark.parametrize("key", sorted(TEMPLATES))
def test_every_template_has_a_summary(key: str) -> None:
    assert summarize(TEMPLATES[key], "USD").startswith("(Draft) Customers ")


def test_an_invalid_rule_has_no_summary() -> None:
    assert summarize({"name": "x", "actions": []}, "USD") is None


def test_the_summary_calls_points_by_the_shops_name() -> None:
    rule = {
        "name": "Loyal",
        "status": "active",
        "actions": [
            {"type": "points", "amount": 50},
            {"type": "points_per_currency", "rate": 2},
            {"type": "multiply", "factor": 2},
        ],
        "limits": {"budget_points": 9000},
    }
    assert summarize(rule, "USD", "Stars") == (
        "Customers earn 50 Stars, earn 2 Stars per $1 of the order subtotal (rounded down) and get the Stars of the "
        "other rules multiplied by 2 when an order is placed, until 9,000 Stars have been issued in all."
    )
    assert "points" not in summarize(rule, "USD", "Stars")
    assert summarize(rule, "USD").startswith("Customers earn 50 points, earn 2 points per $1")
