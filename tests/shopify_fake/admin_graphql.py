"""Admin GraphQL execution: validation against the served schema, cost, the leaky bucket, and Shopify's error bodies.

A request body that is not JSON with a `query` string is answered 400 as Shopify does; everything else is HTTP 200
with `data`, `errors` and `extensions.cost` (requestedQueryCost, actualQueryCost, throttleStatus).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    OperationDefinitionNode,
    build_schema,
    execute,
    get_operation_ast,
    parse,
    validate,
)

from tests.shopify_fake import billing, bulk, customers, discounts
from tests.shopify_fake.cost import MAX_QUERY_COST, CostCalculator
from tests.shopify_fake.faults import Faults
from tests.shopify_fake.state import ApiContext
from tests.shopify_fake.values import (
    CUSTOMER_GID,
    gid_kind,
    parse_datetime,
    parse_decimal,
    parse_unsigned_int64,
    parse_url,
)

SCHEMA_PATH = Path(__file__).with_name("admin_schema.graphql")
RATE_LIMITS_DOCS = "https://shopify.dev/api/usage/rate-limits"


@dataclass
class GraphQLRequest:
    """One Admin GraphQL request body, parsed enough to name its operation (for faults and the recorder)."""

    query: str
    variables: dict[str, Any]
    operation_name: str | None
    document: DocumentNode | None = None
    syntax_error: GraphQLError | None = None
    root_fields: tuple[str, ...] = ()
    names: set[str] = field(default_factory=set)


class BadRequest(Exception):
    """A body Shopify answers with 400: not JSON, or no query string."""


@functools.lru_cache(maxsize=512)
def _parse(query: str) -> DocumentNode:
    """Parsed documents, cached: clients send the same few documents over and over."""
    return parse(query)


@functools.lru_cache(maxsize=512)
def _problems(schema: GraphQLSchema, query: str) -> list[GraphQLError]:
    """A valid document's validation errors, cached: validation is most of a request's cost and never changes."""
    return validate(schema, _parse(query))


def parse_request(raw: bytes) -> GraphQLRequest:
    """The request's query, variables, operation and root fields; raises BadRequest for a malformed body."""
    try:
        payload = json.loads(raw or b"null")
    except ValueError:
        raise BadRequest from None
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        raise BadRequest
    variables = payload.get("variables") or {}
    request = GraphQLRequest(
        payload["query"], variables if isinstance(variables, dict) else {}, payload.get("operationName")
    )
    try:
        request.document = _parse(request.query)
    except GraphQLError as error:
        request.syntax_error = error
        return request
    operation = get_operation_ast(request.document, request.operation_name)
    if operation is not None:
        request.operation_name = request.operation_name or (operation.name.value if operation.name else None)
        request.root_fields = tuple(
            selection.name.value for selection in operation.selection_set.selections if isinstance(selection, FieldNode)
        )
    request.names = set(request.root_fields) | ({request.operation_name} if request.operation_name else set())
    return request


def _resolve_node(_: Any, info: GraphQLResolveInfo, id: str) -> dict[str, Any] | None:
    context: ApiContext = info.context
    shop = context.shop
    with context.state.lock:
        match gid_kind(id):
            case "Customer":
                return customers.customer_object(context, id) if CUSTOMER_GID.match(id) else None
            case "DiscountCodeNode":
                return shop.discounts.get(id)
            case "BulkOperation":
                return bulk.bulk_operation(context, id)
            case "AppSubscription":
                return shop.subscriptions.get(id)
            case "Order":
                return next((order for order in shop.orders if order["id"] == id), None)
    return None


RESOLVERS: dict[tuple[str, str], Callable[..., Any]] = {
    ("Query", "codeDiscountNodeByCode"): discounts.resolve_node_by_code,
    ("Query", "customer"): customers.resolve_customer,
    ("Query", "node"): _resolve_node,
    ("Query", "currentAppInstallation"): billing.resolve_current_installation,
    ("Query", "currentBulkOperation"): bulk.resolve_current,
    ("Query", "orders"): bulk.resolve_orders,
    ("Mutation", "discountCodeBasicCreate"): discounts.resolve_basic_create,
    ("Mutation", "discountCodeFreeShippingCreate"): discounts.resolve_free_shipping_create,
    ("Mutation", "discountCodeBxgyCreate"): discounts.resolve_bxgy_create,
    ("Mutation", "discountCodeDeactivate"): discounts.resolve_deactivate,
    ("Mutation", "metafieldsSet"): customers.resolve_metafields_set,
    ("Mutation", "tagsAdd"): customers.resolve_tags_add,
    ("Mutation", "tagsRemove"): customers.resolve_tags_remove,
    ("Mutation", "appSubscriptionCreate"): billing.resolve_subscription_create,
    ("Mutation", "bulkOperationRunQuery"): bulk.resolve_run_query,
    ("DiscountCodeBasic", "status"): discounts.resolve_status,
    ("DiscountCodeFreeShipping", "status"): discounts.resolve_status,
    ("DiscountCodeBxgy", "status"): discounts.resolve_status,
    ("DiscountCustomers", "customers"): discounts.resolve_context_customers,
    ("Customer", "metafield"): customers.resolve_metafield,
    ("Customer", "metafields"): customers.resolve_metafields,
    ("Order", "lineItems"): bulk.resolve_line_items,
}
SCALARS: dict[str, Callable[[Any], Any]] = {
    "DateTime": parse_datetime,
    "Decimal": parse_decimal,
    "UnsignedInt64": parse_unsigned_int64,
    "URL": parse_url,
}


def _forced_user_errors(resolver: Callable[..., Any], faults: Faults) -> Callable[..., Any]:
    """Wraps a mutation so an injected `user_errors` fault answers its payload's userErrors and writes nothing."""

    def resolve(parent: Any, info: GraphQLResolveInfo, **arguments: Any) -> Any:
        operation = info.operation.name.value if info.operation.name else None
        names = {info.field_name} | ({operation} if operation else set())
        fault = faults.take({"user_errors"}, names)
        if fault is not None:
            return {"userErrors": fault.user_errors}
        return resolver(parent, info, **arguments)

    return resolve


def build_admin_schema(faults: Faults) -> GraphQLSchema:
    """The served schema with its resolvers and scalar coercions bound."""
    schema = build_schema(SCHEMA_PATH.read_text())
    for (type_name, field_name), resolver in RESOLVERS.items():
        owner = schema.get_type(type_name)
        assert isinstance(owner, GraphQLObjectType)
        wrap = type_name == "Mutation"
        owner.fields[field_name].resolve = _forced_user_errors(resolver, faults) if wrap else resolver
    for name, parse_value in SCALARS.items():
        scalar = schema.get_type(name)
        assert isinstance(scalar, GraphQLScalarType)
        # graphql-core 3.3 coerces through coerce_input_value; 3.2 through parse_value.
        scalar.coerce_input_value = scalar.parse_value = parse_value  # type: ignore[method-assign]
    return schema


def _cost(requested: int, actual: int | None, context: ApiContext) -> dict[str, Any]:
    status = context.shop.bucket.status()
    return {"cost": {"requestedQueryCost": requested, "actualQueryCost": actual, "throttleStatus": status}}


def throttled_body(requested: int, context: ApiContext) -> dict[str, Any]:
    """Shopify's THROTTLED answer: no data, one error, the cost block with a null actual cost."""
    error = {"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": RATE_LIMITS_DOCS}}
    return {"errors": [error], "extensions": _cost(requested, None, context)}


class AdminGraphQL:
    def __init__(self, faults: Faults) -> None:
        self.schema = build_admin_schema(faults)

    def answer(self, request: GraphQLRequest, context: ApiContext, *, force_throttle: bool = False) -> dict[str, Any]:
        """Runs one request for the shop in `context`: the HTTP 200 body, charged to the shop's bucket."""
        if request.syntax_error is not None:
            return {"errors": [request.syntax_error.formatted]}
        assert request.document is not None
        problems = _problems(self.schema, request.query)
        if problems:
            return {"errors": [problem.formatted for problem in problems]}
        operation = get_operation_ast(request.document, request.operation_name)
        if not isinstance(operation, OperationDefinitionNode):
            return {"errors": [{"message": "An operation name is required when the document has several operations"}]}
        fragments = {
            definition.name.value: definition
            for definition in request.document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }
        calculator = CostCalculator(self.schema, fragments, request.variables)
        requested = calculator.operation_cost(operation)
        if requested > MAX_QUERY_COST:
            message = f"Query cost is {requested}, which exceeds the single query max cost limit ({MAX_QUERY_COST})."
            extensions = {"code": "MAX_COST_EXCEEDED", "cost": requested, "maxCost": MAX_QUERY_COST}
            return {
                "errors": [{"message": message, "extensions": extensions}],
                "extensions": _cost(requested, None, context),
            }
        if force_throttle or not context.shop.bucket.take(requested):
            return throttled_body(requested, context)
        result = execute(
            self.schema,
            request.document,
            operation_name=request.operation_name,
            variable_values=request.variables,
            context_value=context,
        )
        actual = calculator.operation_cost(operation, result.data) if result.data is not None else requested
        context.shop.bucket.refund(max(requested - actual, 0))
        body: dict[str, Any] = {}
        if result.errors:
            body["errors"] = [error.formatted for error in result.errors]
        if result.data is not None:
            body["data"] = result.data
        body["extensions"] = _cost(requested, actual, context)
        return body
