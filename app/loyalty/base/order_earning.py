"""Which of an order's events earns it its points: the shop's `orders_earn_on` setting (created, paid or fulfilled).

An order reaches us up to four times (orders/create, orders/paid, orders/fulfilled, orders/updated). Each records
it (the order row, the customer's contact fields and tags); only the shop's earning event runs the order rules. In
the rule language `order_created` is "an order" (the default of every rule's `event_types`), so at the earning
event the rules see the order as `order_created`, whichever topic it came by: a shop that earns on payment keeps
its rules as they are. The order's other events run only the rules that name their own type (`order_paid`,
`order_fulfilled`, `order_updated`), except `order_created` itself, which never earns when the shop earns later.

Whatever runs, a rule action credits an order once (its ledger key names the rule, the action and the order, L3):
a re-delivery, a replay or a second topic of the same order never credits twice.

Live processing and the replays of stored events (backtests, retroactive runs, dry runs) ask `rule_event_type`
alike, so a replay counts an order at the event the shop earns on, once.
"""

from __future__ import annotations

from app.loyalty.base.inbound import ORDER_PLACED, ORDERS_EARN_ON

DEFAULT_EARN_ON = "created"


def rule_event_type(orders_earn_on: str, event_type: str) -> str | None:
    """The event type an event has for the rules (an order event's as above, any other event's its own), or None
    when it runs no rules at all (an orders/create of a shop that earns on payment or fulfilment: the order is
    recorded, and earns when its earning event comes)."""
    earning = ORDERS_EARN_ON.get(orders_earn_on, ORDERS_EARN_ON[DEFAULT_EARN_ON])
    if event_type == earning:
        return ORDER_PLACED
    if event_type == ORDER_PLACED:
        return None
    return event_type


def recorded_only_note(orders_earn_on: str, order_id: str) -> str:
    """The outcome note of an order event that runs no rules (rule_event_type gave None)."""
    return f"order {order_id} recorded; it earns when {orders_earn_on} (the shop's orders_earn_on)"
