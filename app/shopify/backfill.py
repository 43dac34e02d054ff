"""Backfill: the shop's past orders, paged out of Shopify by a bulk operation, into the inbox as historical events.

`flask --app app shopify backfill --shop … --since …` runs `bulkOperationRunQuery` over the orders created since the
date, polls the operation until it completes, reads its JSONL (each line item on its own line with `__parentId`),
and records each order as an `order_created` event shaped like the orders/create webhook, marked
`"historical": true` and already `processed`: the stream never runs rules on it (no points are credited), while
backtests, rule history ("is this their first order?") and retroactive runs see it from day one. In a shop that
earns on payment or fulfilment (`orders_earn_on`), an order Shopify reports paid (or shipped) is also recorded as
that event, as the live webhook would have been, so replays credit past orders where live processing would have.

Idempotent: each event's id derives from the shop and the order id (and an earning event's type), and an event of an
order the inbox (or its archive) already has, from a live webhook or an earlier run, is skipped, so running it twice,
or over a period webhooks already covered, adds nothing twice; a run after the shop changed `orders_earn_on` adds
just the earning events that are missing. An order a live webhook brought gets its earning event only once that is
later than a webhook comes (`ORDER_WAIT`): until then its own webhook may still arrive.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import String, any_, literal, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.orm import Session

from app.events.envelope import EVENT_ID_NAMESPACE, parse_timestamp
from app.loyalty.processing.lifecycle import ORDER_WAIT
from app.models import EventQueue, Shop, event_history
from app.shopify.admin_api import AdminApi, RequestRefused, RetryLater
from app.shopify.topics import event_type_for

RUN = """
mutation RunLoyaltyBackfill($query: String!) {
  bulkOperationRunQuery(query: $query) {
    bulkOperation { id status }
    userErrors { field code message }
  }
}
"""
POLL = """
query LoyaltyBackfillStatus($id: ID!) {
  node(id: $id) { ... on BulkOperation { id status errorCode objectCount url } }
}
"""
MONEY = "shopMoney { amount currencyCode }"
ORDERS = (
    '{ orders(query: "created_at:>=%s") { edges { node {'
    " id name createdAt processedAt cancelledAt currencyCode sourceName test tags discountCodes displayFinancialStatus"
    " displayFulfillmentStatus fulfillments { createdAt }"
    f" email customer {{ id }} subtotalPriceSet {{ {MONEY} }} totalPriceSet {{ {MONEY} }}"
    f" totalDiscountsSet {{ {MONEY} }}"
    " lineItems { edges { node { id title sku vendor quantity product { id } variant { id }"
    f" originalUnitPriceSet {{ {MONEY} }} }} }} }}"
    " } } } }"
)
FAILED = frozenset({"FAILED", "CANCELED", "CANCELLED", "EXPIRED"})
# Financial statuses of an order that was paid in full once (orders/paid was sent), refunds since or not.
PAID = frozenset({"PAID", "PARTIALLY_REFUNDED", "REFUNDED"})


@dataclass(frozen=True)
class BackfillResult:
    orders_read: int
    recorded: int  # orders recorded (their orders/create event)
    already_in_inbox: int  # orders whose orders/create event was there already
    earning_recorded: int  # orders/paid or orders/fulfilled events recorded (orders_earn_on)


def backfill_orders(
    api: AdminApi,
    session: Session,
    shop: Shop,
    *,
    since: date,
    now: datetime,
    sleep: Callable[[float], None],
    poll_every_s: float = 2.0,
    max_polls: int = 900,
) -> BackfillResult:
    """Run the bulk query for orders created since `since` and record them (the caller commits)."""
    run = api.mutate(shop.domain, RUN, {"query": ORDERS % since.isoformat()}, payload="bulkOperationRunQuery")
    operation_id = (run.get("bulkOperation") or {}).get("id")
    if not operation_id:
        raise RequestRefused("bulkOperationRunQuery answered no operation")
    url = _wait_for(api, shop.domain, operation_id, sleep=sleep, every=poll_every_s, max_polls=max_polls)
    if url is None:  # Shopify gives no file when nothing matched
        return BackfillResult(0, 0, 0, 0)
    response = api.tokens.http.get(url)
    if response.status_code != 200:
        raise RetryLater(f"the bulk operation's result could not be read (HTTP {response.status_code})")
    orders = list(_orders(response.text.splitlines()))
    return _record(session, shop, orders, now)


def _wait_for(
    api: AdminApi, domain: str, operation_id: str, *, sleep: Callable[[float], None], every: float, max_polls: int
) -> str | None:
    for _ in range(max_polls):
        node = api.query(domain, POLL, {"id": operation_id}).get("node") or {}
        status = node.get("status")
        if status == "COMPLETED":
            return node.get("url")
        if status in FAILED:
            raise RequestRefused(f"the bulk operation {operation_id} ended {status} ({node.get('errorCode')})")
        sleep(every)
    raise RetryLater(f"the bulk operation {operation_id} is still running; run the backfill again later")


def _orders(lines: list[str]) -> Iterator[dict[str, Any]]:
    """Orders with their line items re-attached (JSONL lists children after their parent, `__parentId` naming it)."""
    orders: dict[str, dict[str, Any]] = {}
    for line in lines:
        if not line.strip():
            continue
        item = json.loads(line)
        parent = item.pop("__parentId", None)
        if parent is None:
            orders[item["id"]] = {**item, "lineItems": []}
        elif parent in orders:
            orders[parent]["lineItems"].append(item)
    yield from orders.values()


def _number(gid: str | None) -> int | None:
    return int(gid.rsplit("/", 1)[-1]) if gid else None


def _amount(money_bag: dict[str, Any] | None) -> str | None:
    return ((money_bag or {}).get("shopMoney") or {}).get("amount")


def webhook_shape(order: dict[str, Any]) -> dict[str, Any]:
    """A bulk Order (Admin GraphQL) as the orders/create webhook body (REST Order) that processing reads; money
    stays a string, ids are numbers as in webhooks (JSON numbers of any size)."""
    customer = order.get("customer") or None
    return {
        "id": _number(order["id"]),
        "admin_graphql_api_id": order["id"],
        "name": order.get("name"),
        "email": order.get("email"),
        "created_at": order["createdAt"],
        "processed_at": order.get("processedAt"),
        "cancelled_at": order.get("cancelledAt"),
        "currency": order.get("currencyCode"),
        "source_name": order.get("sourceName"),
        "test": bool(order.get("test")),
        "financial_status": (order.get("displayFinancialStatus") or "").lower() or None,
        "total_price": _amount(order.get("totalPriceSet")),
        "subtotal_price": _amount(order.get("subtotalPriceSet")),
        "total_discounts": _amount(order.get("totalDiscountsSet")) or "0.00",
        "tags": ", ".join(order.get("tags") or []),
        "discount_codes": [{"code": code} for code in order.get("discountCodes") or []],
        "customer": {"id": _number(customer["id"]), "admin_graphql_api_id": customer["id"]} if customer else None,
        "line_items": [
            {
                "id": _number(item["id"]),
                "title": item.get("title"),
                "sku": item.get("sku"),
                "vendor": item.get("vendor"),
                "quantity": item.get("quantity"),
                "product_id": _number((item.get("product") or {}).get("id")),
                "variant_id": _number((item.get("variant") or {}).get("id")),
                "price": _amount(item.get("originalUnitPriceSet")),
            }
            for item in order.get("lineItems") or []
        ],
        "historical": True,
    }


def _record(session: Session, shop: Shop, orders: list[dict[str, Any]], now: datetime) -> BackfillResult:
    payloads = [webhook_shape(order) for order in orders]
    # Each order's events as the live webhooks would have brought them: orders/create, then its earning event.
    events = [(payload, _topics(shop, order, payload)) for order, payload in zip(orders, payloads, strict=True)]
    known, live = _known(session, shop, events)
    recorded = earning_recorded = 0
    for payload, topics in events:
        for topic, occurred_at in topics:
            if (str(payload["id"]), _event_type(topic)) in known:
                continue
            if (
                topic != "orders/create"
                and str(payload["id"]) in live
                and now - parse_timestamp(occurred_at) < ORDER_WAIT
            ):
                # The order came by a live webhook, so this event's own webhook may still be on its way: recorded
                # here as well, history would hold it twice. Once later than a webhook can come, it is missing.
                continue
            inserted = _insert(session, shop, payload, topic, occurred_at, now)
            if topic == "orders/create":
                recorded += inserted
            else:
                earning_recorded += inserted
    return BackfillResult(
        orders_read=len(payloads),
        recorded=recorded,
        already_in_inbox=len(payloads) - recorded,
        earning_recorded=earning_recorded,
    )


def _known(
    session: Session, shop: Shop, events: list[tuple[dict[str, Any], list[tuple[str, str]]]]
) -> tuple[set[tuple[str, str]], set[str]]:
    """The (order id, event type) pairs among `events` that the inbox or its archive already holds, from a live
    webhook or an earlier backfill: an order recorded months ago must not come back as new, while an earning event
    an earlier run did not record (the shop earned at creation then) is still missing. Per event type, so a re-run
    after `orders_earn_on` changed adds exactly the missing earning events. Also the ids of the orders whose creation
    a live webhook brought."""
    if not events:
        return set(), set()
    order_ids = sorted({str(payload["id"]) for payload, _ in events})
    event_types = sorted({_event_type(topic) for _, topics in events for topic, _ in topics})
    # Bounded by time, so the archive is read through its (shop_id, occurred_at) index from there on, not whole.
    # None of these events is older than the earliest time this run would record one at: a backfilled event has the
    # same time on every run (the order's creation, its processing, which Shopify may date before the creation of an
    # imported order, or its first fulfilment), and a live webhook's row has Shopify's trigger time, after the order
    # was created; the day of margin is for that stamp coming from another clock than the order's.
    earliest = min(parse_timestamp(occurred_at) for _, topics in events for _, occurred_at in topics) - timedelta(
        days=1
    )
    rows = session.execute(
        select(
            event_history.c.payload["id"].astext,
            event_history.c.event_type,
            event_history.c.payload["historical"].astext,
        ).where(
            event_history.c.shop_id == shop.id,
            event_history.c.occurred_at >= earliest,
            # Array parameters: one statement text for any number of orders, and no limit on how many (an IN list
            # takes a parameter per order, and a statement at most 65535).
            event_history.c.event_type == any_(literal(event_types, ARRAY(String))),
            event_history.c.payload["id"].astext == any_(literal(order_ids, ARRAY(String))),
        )
    ).all()
    live = {order_id for order_id, event_type, historical in rows if event_type == "order_created" and not historical}
    return {(order_id, event_type) for order_id, event_type, _ in rows}, live


def _topics(shop: Shop, order: dict[str, Any], payload: dict[str, Any]) -> list[tuple[str, str]]:
    """The topics (and times) the order is recorded as: orders/create, and its earning event if it has one."""
    earning = _earning_event(shop, order)
    return [("orders/create", payload["created_at"]), *([earning] if earning else [])]


def _earning_event(shop: Shop, order: dict[str, Any]) -> tuple[str, str] | None:
    """The topic and time of the order's earning event, for a shop that earns after creation: paid (at processing,
    the time Shopify gives for it) or fulfilled (its first fulfilment); None if it has not, or the shop earns at
    creation."""
    if shop.orders_earn_on == "paid" and order.get("displayFinancialStatus") in PAID:
        return "orders/paid", order.get("processedAt") or order["createdAt"]
    if shop.orders_earn_on == "fulfilled" and order.get("displayFulfillmentStatus") == "FULFILLED":
        shipped = sorted(f["createdAt"] for f in order.get("fulfillments") or [] if f.get("createdAt"))
        return "orders/fulfilled", shipped[0] if shipped else order.get("processedAt") or order["createdAt"]
    return None


def _insert(session: Session, shop: Shop, payload: dict[str, Any], topic: str, occurred_at: str, now: datetime) -> bool:
    """Record one historical event of the order, as the webhook of `topic` would be, already processed; False if its
    event id is recorded (the orders/create event's id names the order alone, as it always has)."""
    event_type = _event_type(topic)
    suffix = "" if topic == "orders/create" else f"|{event_type}"
    customer = payload["customer"]
    inserted = session.execute(
        insert(EventQueue)
        .values(
            event_id=uuid.uuid5(EVENT_ID_NAMESPACE, f"{shop.domain}|backfill|order:{payload['id']}{suffix}"),
            shop_id=shop.id,
            event_type=event_type,
            topic=topic,
            customer_id=str(customer["id"]) if customer else None,
            payload=payload,
            occurred_at=parse_timestamp(occurred_at),
            status="processed",
            processed_at=now,
        )
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(EventQueue.id)
    ).first()
    return inserted is not None


def _event_type(topic: str) -> str:
    event_type = event_type_for(topic)
    assert event_type is not None, topic  # an order topic
    return event_type
