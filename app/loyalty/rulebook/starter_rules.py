"""Rules a shop can start from, ready for `save_rule`: the spec's example, which the demo shop is seeded with."""

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
