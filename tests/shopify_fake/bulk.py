"""Orders, and bulk operations over them: bulkOperationRunQuery, then currentBulkOperation / node until COMPLETED.

A bulk query runs against the same schema with connections unpaged; its result is Shopify's JSONL: one object per
line, each object of a nested connection on its own line with `__parentId` naming its parent. The operation reports
CREATED when made, RUNNING on reads, and COMPLETED on the configured read (`bulk_polls_until_complete`), with `url`
pointing at the fake's own file (null when nothing matched, as Shopify does). One bulk query at a time per shop.
"""

from __future__ import annotations

import json
import operator
import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo, execute, parse, validate
from graphql.error import GraphQLSyntaxError

from tests.shopify_fake.state import ApiContext, State
from tests.shopify_fake.values import connection, cursor_offset, from_iso, gid_number, iso, money_bag, utc_now

MAX_PAGE = 250
FILTER = re.compile(r"^(created_at|updated_at|processed_at):(>=|<=|>|<)?['\"]?([^'\"]+)['\"]?$")
SORT_FIELDS = {"CREATED_AT": "createdAt", "UPDATED_AT": "updatedAt", "PROCESSED_AT": "processedAt", "ID": "id"}


def order_node(
    order_id: int,
    *,
    created_at: str,
    total: str,
    currency: str = "USD",
    customer_id: int | None = None,
    line_items: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """An Order object in Admin GraphQL shape, for `state.add_order`; line items as {id, title, quantity, price}."""
    items = line_items or [{"id": order_id + 1, "title": "Item", "quantity": 1, "price": total}]
    return {
        "__typename": "Order",
        "id": f"gid://shopify/Order/{order_id}",
        "name": f"#{1000 + order_id % 9000}",
        "createdAt": created_at,
        "updatedAt": created_at,
        "processedAt": created_at,
        "cancelledAt": None,
        "currencyCode": currency,
        "displayFinancialStatus": "PAID",
        "displayFulfillmentStatus": "UNFULFILLED",
        "fulfillments": [],
        "sourceName": "web",
        "test": False,
        "email": None,
        "tags": [],
        "discountCodes": [],
        "customer": {"__typename": "Customer", "id": f"gid://shopify/Customer/{customer_id}", "tags": []}
        if customer_id
        else None,
        "subtotalPriceSet": money_bag(total, currency),
        "currentSubtotalPriceSet": money_bag(total, currency),
        "totalPriceSet": money_bag(total, currency),
        "currentTotalPriceSet": money_bag(total, currency),
        "totalDiscountsSet": money_bag("0", currency),
        "line_items": [
            {
                "__typename": "LineItem",
                "id": f"gid://shopify/LineItem/{item['id']}",
                "name": item["title"],
                "title": item["title"],
                "sku": item.get("sku"),
                "vendor": item.get("vendor"),
                "quantity": item["quantity"],
                "currentQuantity": item["quantity"],
                "product": None,
                "variant": None,
                "originalUnitPriceSet": money_bag(item["price"], currency),
                "discountedTotalSet": money_bag(Decimal(str(item["price"])) * item["quantity"], currency),
            }
            for item in items
        ],
        **fields,
    }


def _filters(search: str | None) -> list[tuple[str, str, datetime]]:
    """Parses a Shopify search query; the fake understands date comparisons only and refuses anything else."""
    filters = []
    for term in (search or "").split():
        found = FILTER.match(term)
        if not found:
            raise GraphQLError(f"The fake supports only created_at/updated_at/processed_at filters, not {term!r}")
        field, operator, value = found.groups()
        filters.append((field.replace("_at", "At"), operator or ">=", from_iso(value)))
    return filters


def _matches(order: dict[str, Any], filters: list[tuple[str, str, datetime]]) -> bool:
    comparisons = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}
    return all(comparisons[sign](from_iso(order[field]), bound) for field, sign, bound in filters)


def _page(
    info: GraphQLResolveInfo, items: list[dict[str, Any]], first: int | None, after: str | None
) -> dict[str, Any]:
    context: ApiContext = info.context
    if context.bulk:
        return connection(items)
    if first is None:
        raise GraphQLError("you must provide one of first or last")
    if first > MAX_PAGE:
        raise GraphQLError(f"The maximum number of items you can request is {MAX_PAGE}")
    offset = cursor_offset(after)
    return connection(items[offset : offset + first], has_next_page=offset + first < len(items), offset=offset)


def resolve_orders(_: Any, info: GraphQLResolveInfo, **arguments: Any) -> dict[str, Any]:
    context: ApiContext = info.context
    with context.state.lock:
        filters = _filters(arguments.get("query"))
        orders = [order for order in context.shop.orders if _matches(order, filters)]
    orders.sort(key=lambda order: order[SORT_FIELDS[arguments["sortKey"]]], reverse=arguments["reverse"])
    return _page(info, orders, arguments.get("first"), arguments.get("after"))


def resolve_line_items(order: dict[str, Any], info: GraphQLResolveInfo, **arguments: Any) -> dict[str, Any]:
    return _page(info, order["line_items"], arguments.get("first"), arguments.get("after"))


def _nodes(value: dict[str, Any]) -> list[dict[str, Any]]:
    return value["nodes"] if "nodes" in value else [edge["node"] for edge in value["edges"]]


def _is_connection(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and set(value) <= {"edges", "nodes", "pageInfo"}


def _jsonl_lines(node: dict[str, Any], parent_id: str | None) -> list[dict[str, Any]]:
    line = {key: value for key, value in node.items() if not _is_connection(value)}
    if parent_id is not None:
        line["__parentId"] = parent_id
    lines = [line]
    for value in node.values():
        if _is_connection(value):
            for child in _nodes(value):
                lines += _jsonl_lines(child, node.get("id"))
    return lines


def _run(info: GraphQLResolveInfo, query: str) -> tuple[list[dict[str, Any]] | None, str | None]:
    """Runs a bulk query unpaged; its JSONL objects, or the reason it is not a valid bulk query."""
    try:
        document = parse(query)
    except GraphQLSyntaxError as error:
        return None, f"Invalid bulk query: {error.message}"
    problems = validate(info.schema, document)
    if problems:
        return None, f"Invalid bulk query: {problems[0].message}"
    context: ApiContext = info.context
    bulk_context = ApiContext(context.state, context.shop, context.origin, bulk=True)
    result = execute(info.schema, document, context_value=bulk_context)
    if result.errors:
        return None, f"Invalid bulk query: {result.errors[0].message}"
    roots = [value for value in (result.data or {}).values() if _is_connection(value)]
    if not roots:
        return None, "Invalid bulk query: Bulk queries must contain at least one connection."
    return [line for root in roots for node in _nodes(root) for line in _jsonl_lines(node, None)], None


def resolve_run_query(_: Any, info: GraphQLResolveInfo, query: str, groupObjects: bool = True) -> dict[str, Any]:
    context: ApiContext = info.context
    state, shop = context.state, context.shop
    with state.lock:
        running = [
            op for op in shop.bulk_operations.values() if _status(state, op, advance=False) in ("CREATED", "RUNNING")
        ]
        if running:
            message = f"A bulk query operation for this app and shop is already in progress: {running[0]['id']}."
            return {
                "bulkOperation": None,
                "userErrors": [{"field": None, "code": "OPERATION_IN_PROGRESS", "message": message}],
            }
        lines, problem = _run(info, query)
        if problem is not None:
            return {"bulkOperation": None, "userErrors": [{"field": ["query"], "code": "INVALID", "message": problem}]}
        operation_id = state.gid("BulkOperation")
        body = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines or []).encode()
        state.bulk_files[gid_number(operation_id)] = body
        shop.bulk_operations[operation_id] = {
            "id": operation_id,
            "query": query,
            "createdAt": iso(utc_now()),
            "objectCount": len(lines or []),
            "rootObjectCount": sum(1 for line in lines or [] if "__parentId" not in line),
            "fileSize": len(body),
            "reads": 0,
        }
        return {"bulkOperation": _view(context, shop.bulk_operations[operation_id], advance=False), "userErrors": []}


def _status(state: State, operation: dict[str, Any], *, advance: bool) -> str:
    if advance:
        operation["reads"] += 1
    if operation["reads"] == 0:
        return "CREATED"
    return "COMPLETED" if operation["reads"] >= state.config.bulk_polls_until_complete else "RUNNING"


def _view(context: ApiContext, operation: dict[str, Any], *, advance: bool = True) -> dict[str, Any]:
    """The BulkOperation as a read sees it; each read moves the operation along."""
    status = _status(context.state, operation, advance=advance)
    done = status == "COMPLETED"
    url = f"{context.origin}/bulk-operations/{gid_number(operation['id'])}.jsonl"
    if not done:
        operation.setdefault("completedAt", None)
    elif operation.get("completedAt") is None:
        operation["completedAt"] = iso(utc_now())
    return {
        "__typename": "BulkOperation",
        "id": operation["id"],
        "status": status,
        "type": "QUERY",
        "query": operation["query"],
        "errorCode": None,
        "createdAt": operation["createdAt"],
        "completedAt": operation["completedAt"],
        "objectCount": operation["objectCount"] if done else 0,
        "rootObjectCount": operation["rootObjectCount"] if done else 0,
        "fileSize": operation["fileSize"] if done and operation["objectCount"] else None,
        "url": url if done and operation["objectCount"] else None,
        "partialDataUrl": None,
    }


def resolve_current(_: Any, info: GraphQLResolveInfo, type: str = "QUERY") -> dict[str, Any] | None:
    context: ApiContext = info.context
    with context.state.lock:
        operations = list(context.shop.bulk_operations.values()) if type == "QUERY" else []
        return _view(context, operations[-1]) if operations else None


def bulk_operation(context: ApiContext, gid: str) -> dict[str, Any] | None:
    """node(id:) for a BulkOperation of this shop."""
    operation = context.shop.bulk_operations.get(gid)
    return _view(context, operation) if operation else None
