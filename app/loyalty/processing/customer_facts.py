"""What Shopify's payloads say about a customer, as the profile keeps it: email, names and tags.

Tags arrive in three shapes, by topic and API version:
- `customers/create`, `customers/update` and the `customer` of an order carry `tags` as ONE comma-separated string
  ("VIP, wholesale") in API versions before 2025-01: the customer's whole set, which replaces the profile's;
- from 2025-01 those payloads carry no `tags` at all (absent says nothing: the profile's tags stay);
- `customer.tags_added` / `customer.tags_removed` carry the tags that came or went, as a list.
Shopify's tags are not case-sensitive: one spelling of each is kept (the first seen), and rules compare them folded.
"""

from __future__ import annotations

from typing import Any

from app.models import CustomerLoyaltyProfile

CONTACT_FIELDS = ("email", "first_name", "last_name")
# The profile's columns: email VARCHAR(320) (no address is longer), names VARCHAR(255) (Shopify's own limit).
MAX_EMAIL_LENGTH = 320
MAX_NAME_LENGTH = 255
TAG_EVENTS = frozenset({"customer_tags_added", "customer_tags_removed"})
# Shopify's own limits: 250 tags on a resource, 255 characters each. More in a payload is not Shopify's.
MAX_TAGS = 250
MAX_TAG_LENGTH = 255


def profile_changes(profile: CustomerLoyaltyProfile, customer: dict[str, Any]) -> dict[str, Any]:
    """The profile columns a customer object (a customers/* payload, or an order's `customer`) changes; none for a
    profile GDPR redacted or deleted in Shopify (its contact fields were cleared for good)."""
    if profile.redacted_at is not None or profile.deleted_at is not None or not isinstance(customer, dict):
        return {}
    changes: dict[str, Any] = {}
    for column in CONTACT_FIELDS:
        value = _contact(column, customer.get(column))
        if value and getattr(profile, column) != value:
            changes[column] = value
    tags = parse_tags(customer.get("tags"))
    if tags is not None and tags != list(profile.tags or ()):
        changes["tags"] = tags
    return changes


def _contact(column: str, value: Any) -> str | None:
    """A contact field as the profile keeps it, or None (leave the profile's as it is) for what is not Shopify's: not
    text, or an email longer than any address. A longer name is cut: it is only shown."""
    if not isinstance(value, str):
        return None
    if column == "email":
        return value if len(value) <= MAX_EMAIL_LENGTH else None
    return value[:MAX_NAME_LENGTH]


def remember(profile: CustomerLoyaltyProfile, changes: dict[str, Any]) -> None:
    """Keep changed columns (of profile_changes and the like) on the profile as the caller holds it."""
    for column, value in changes.items():
        setattr(profile, column, value)


def customer_event_changes(profile: CustomerLoyaltyProfile, event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The profile columns a customer event changes: customers/create and customers/update carry the customer,
    customer.tags_added/removed a change of tags; other events change nothing here."""
    if event_type in ("customer_created", "customer_updated"):
        return profile_changes(profile, payload)
    return tag_event_changes(profile, event_type, payload)


def tag_event_changes(profile: CustomerLoyaltyProfile, event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The profile's tags after a customer.tags_added or customer.tags_removed event, as a change ({} if none)."""
    if profile.redacted_at is not None or profile.deleted_at is not None or event_type not in TAG_EVENTS:
        return {}
    given = parse_tags(payload.get("tags")) or []
    current = list(profile.tags or ())
    if event_type == "customer_tags_added":
        tags = _unique([*current, *given])
    else:
        gone = {tag.casefold() for tag in given}
        tags = [tag for tag in current if str(tag).casefold() not in gone]
    return {"tags": tags} if tags != current else {}


def parse_tags(value: Any) -> list[str] | None:
    """Shopify's tags as a list: "VIP, wholesale" and ["VIP", "wholesale"] both give ["VIP", "wholesale"]; "" gives
    [] (no tags); None (absent: the payload says nothing about tags) or any other shape gives None."""
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        items = value
    else:
        return None
    return _unique(tag.strip()[:MAX_TAG_LENGTH] for tag in items)[:MAX_TAGS]


def _unique(tags: Any) -> list[str]:
    seen: set[str] = set()
    kept = []
    for tag in tags:
        folded = str(tag).casefold()
        if folded and folded not in seen:
            seen.add(folded)
            kept.append(str(tag))
    return kept
