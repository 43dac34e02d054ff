"""metafieldsSet, tagsAdd, tagsRemove and the Customer object, per customer gid of the shop.

metafieldsSet follows its reference page: at most 25 inputs, atomic (one refused input writes nothing), the
app-reserved namespace when `namespace` is omitted or `$app` (stored as `app--<api client id>`), `type` required to
create, and `compareDigest` for compare-and-set (null: must not exist yet). The fake models the value types a
loyalty app writes; other types are refused with a message that says so.
"""

from __future__ import annotations

import hashlib
import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo

from tests.shopify_fake.state import ApiContext, Customer
from tests.shopify_fake.values import CUSTOMER_GID, connection, from_iso, iso, utc_now

MAX_METAFIELDS_PER_CALL = 25


def _integer(value: str) -> int:
    if not re.fullmatch(r"-?[0-9]+", value) or not -(2**63) <= int(value) < 2**63:
        raise ValueError(value)
    return int(value)


def _decimal(value: str) -> str:
    if not Decimal(value).is_finite():
        raise ValueError(value)
    return value


def _boolean(value: str) -> bool:
    if value not in ("true", "false"):
        raise ValueError(value)
    return value == "true"


def _date_text(value: str) -> str:
    from_iso(value)
    return value


def _single_line(value: str) -> str:
    if "\n" in value:
        raise ValueError(value)
    return value


# type -> parser giving the metafield's jsonValue; raises ValueError (or json/decimal errors) for a bad value.
VALUE_TYPES: dict[str, Any] = {
    "number_integer": _integer,
    "number_decimal": _decimal,
    "boolean": _boolean,
    "single_line_text_field": _single_line,
    "multi_line_text_field": str,
    "json": json.loads,
    "date": _date_text,
    "date_time": _date_text,
}


def app_namespace(context: ApiContext, namespace: str | None) -> str:
    """Resolves the app-reserved namespace: `$app` -> `app--<id>`, `$app:loyalty` -> `app--<id>--loyalty`."""
    reserved = f"app--{context.state.config.app_id}"
    if namespace is None or namespace == "$app":
        return reserved
    if namespace.startswith("$app:"):
        return f"{reserved}--{namespace.removeprefix('$app:')}"
    return namespace


def customer_object(context: ApiContext, gid: str) -> dict[str, Any]:
    """The Customer as the Admin API returns it (metafields resolve through the record)."""
    record = context.shop.customer(gid)
    return {"__typename": "Customer", "id": gid, "tags": list(record.tags)}


def _record(context: ApiContext, customer: dict[str, Any]) -> Customer:
    return context.shop.customer(customer["id"])


def resolve_customer(_: Any, info: GraphQLResolveInfo, id: str) -> dict[str, Any] | None:
    context: ApiContext = info.context
    with context.state.lock:
        return customer_object(context, id) if CUSTOMER_GID.match(id) else None


def resolve_metafield(
    customer: dict[str, Any], info: GraphQLResolveInfo, key: str, namespace: str | None = None
) -> dict[str, Any] | None:
    context: ApiContext = info.context
    with context.state.lock:
        return _record(context, customer).metafields.get((app_namespace(context, namespace), key))


def resolve_metafields(customer: dict[str, Any], info: GraphQLResolveInfo, **arguments: Any) -> dict[str, Any]:
    context: ApiContext = info.context
    namespace = app_namespace(context, arguments["namespace"]) if arguments.get("namespace") else None
    keys = arguments.get("keys")
    with context.state.lock:
        found = [
            metafield
            for (stored_namespace, key), metafield in _record(context, customer).metafields.items()
            if (namespace is None or stored_namespace == namespace) and (keys is None or key in keys)
        ]
    return connection(found[: arguments.get("first") or len(found)])


def _problem(index: int, field: str, code: str, message: str) -> dict[str, Any]:
    return {"field": ["metafields", str(index), field], "code": code, "message": message, "elementIndex": None}


def _check(context: ApiContext, index: int, entry: dict[str, Any]) -> tuple[list[dict[str, Any]], Any]:
    """The userErrors for one input, and its parsed jsonValue when it has none."""
    if not CUSTOMER_GID.match(entry["ownerId"]):
        return [_problem(index, "ownerId", "INVALID", "Owner does not exist (the fake models Customer owners)")], None
    if not entry["key"].strip():
        return [_problem(index, "key", "BLANK", "Key can't be blank")], None
    namespace = app_namespace(context, entry.get("namespace"))
    existing = context.shop.customer(entry["ownerId"]).metafields.get((namespace, entry["key"]))
    if "compareDigest" in entry:
        current = existing["compareDigest"] if existing else None
        if entry["compareDigest"] != current:
            message = "The resource has been updated since it was loaded. Try again with an updated `compareDigest`."
            return [_problem(index, "compareDigest", "STALE_OBJECT", message)], None
    metafield_type = entry.get("type") or (existing["type"] if existing else None)
    if metafield_type is None:
        return [_problem(index, "type", "BLANK", "Type can't be blank")], None
    if metafield_type not in VALUE_TYPES:
        return [_problem(index, "type", "INVALID_TYPE", f"Type '{metafield_type}' is not modelled by the fake")], None
    try:
        return [], VALUE_TYPES[metafield_type](entry["value"])
    except (ValueError, InvalidOperation):
        message = f"Value '{entry['value']}' is invalid for type {metafield_type}"
        return [_problem(index, "value", "INVALID_VALUE", message)], None


def resolve_metafields_set(_: Any, info: GraphQLResolveInfo, metafields: list[dict[str, Any]]) -> dict[str, Any]:
    context: ApiContext = info.context
    state = context.state
    if len(metafields) > MAX_METAFIELDS_PER_CALL:
        size, maximum = len(metafields), MAX_METAFIELDS_PER_CALL
        message = f"The input array size of {size} is greater than the maximum allowed of {maximum}."
        raise GraphQLError(message, extensions={"code": "MAX_INPUT_SIZE_EXCEEDED"})
    with state.lock:
        checked = [_check(context, index, entry) for index, entry in enumerate(metafields)]
        errors = [error for problems, _ in checked for error in problems]
        if errors:
            return {"metafields": None, "userErrors": errors}
        written = []
        now = iso(utc_now())
        for entry, (_, json_value) in zip(metafields, checked, strict=True):
            namespace = app_namespace(context, entry.get("namespace"))
            record = context.shop.customer(entry["ownerId"])
            previous = record.metafields.get((namespace, entry["key"]))
            metafield_id = previous["id"] if previous else state.gid("Metafield")
            version = state.next_id()
            metafield = {
                "__typename": "Metafield",
                "id": metafield_id,
                "namespace": namespace,
                "key": entry["key"],
                "value": entry["value"],
                "type": entry.get("type") or previous["type"],
                "jsonValue": json_value,
                "compareDigest": hashlib.sha256(f"{metafield_id}|{version}".encode()).hexdigest(),
                "ownerType": "CUSTOMER",
                "createdAt": previous["createdAt"] if previous else now,
                "updatedAt": now,
            }
            record.metafields[(namespace, entry["key"])] = metafield
            written.append(metafield)
        return {"metafields": written, "userErrors": []}


def _tags(given: list[str]) -> list[str]:
    """Shopify splits comma-separated tags and trims them."""
    return [tag.strip() for value in given for tag in value.split(",") if tag.strip()]


def _tag_change(info: GraphQLResolveInfo, gid: str, tags: list[str], add: bool) -> dict[str, Any]:
    context: ApiContext = info.context
    if not CUSTOMER_GID.match(gid):
        return {"node": None, "userErrors": [{"field": ["id"], "message": "Invalid id (the fake tags customers)"}]}
    wanted = _tags(tags)
    too_long = [tag for tag in wanted if len(tag) > 255]
    if too_long:
        return {"node": None, "userErrors": [{"field": ["tags"], "message": "Tags must be 255 characters or less"}]}
    with context.state.lock:
        record = context.shop.customer(gid)
        if add:
            known = {tag.lower() for tag in record.tags}
            for tag in wanted:
                if tag.lower() not in known:
                    record.tags.append(tag)
                    known.add(tag.lower())
        else:
            dropped = {tag.lower() for tag in wanted}
            record.tags[:] = [tag for tag in record.tags if tag.lower() not in dropped]
        return {"node": customer_object(context, gid), "userErrors": []}


def resolve_tags_add(_: Any, info: GraphQLResolveInfo, id: str, tags: list[str]) -> dict[str, Any]:
    return _tag_change(info, id, tags, add=True)


def resolve_tags_remove(_: Any, info: GraphQLResolveInfo, id: str, tags: list[str]) -> dict[str, Any]:
    return _tag_change(info, id, tags, add=False)
