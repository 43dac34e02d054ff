"""The rule language's words: condition types, operators, actions and text patterns (DESIGN.md, "Rule language").

One table drives both the validator (`condition_validation.py`, `rule_validation.py`) and the JSON Schema served
to the admin builder (`json_schema.py`), so the two cannot disagree about what a rule may say.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

RULE_STATUSES = ("draft", "active", "paused", "archived")
LIMIT_PERIODS = ("day", "week", "month", "year", "lifetime")
GROUP_OPERATORS = ("and", "or", "not")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LINE_ITEM_FIELDS = ("product_id", "variant_id", "sku", "product_tag", "collection_id", "vendor")
ROUNDINGS = ("floor", "round", "ceil")
BASES = ("subtotal", "total")

EVENT_TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
PATH_PATTERN = re.compile(r"^event_data(\.[^.\s]+)+$")
URL_PATTERN = re.compile(r"^https?://[^\s/?#]+[^\s]*$")
TEXT_PATTERNS = {"shipping_country": re.compile(r"^[A-Za-z]{2}$"), "currency": re.compile(r"^[A-Za-z]{3}$")}

# Bounds of the language's numbers (docs/rules.md): far beyond what a programme needs, and inside what keeps them.
# rules.priority is an INTEGER. A ledger entry is a BIGINT (up to 9.2 x 10^18): an award of MAX_POINTS stays inside it
# times the tier multiplier (at most 100) and three multiply factors of MAX_FACTOR. Looking back more than
# MAX_WITHIN_DAYS would pass the year 1, where dates end.
PRIORITY_RANGE = (-(2**31), 2**31 - 1)
MAX_POINTS = 1_000_000_000  # amount, max_points, budget_points
MAX_COUNT = 1_000_000_000  # per_customer, min_quantity, the value of frequency and customer_order_count
MAX_WITHIN_DAYS = 36_600  # a century
MAX_RATE = 10_000  # points per 1 unit of currency
MAX_FACTOR = 100  # as a tier's earn multiplier
# The most one award gives, whatever the order and the multipliers: MAX_POINTS times the tier multiplier and three
# multiply factors at their largest. A points_per_currency award has no such bound of its own (the largest order at
# MAX_RATE is 10^16 points before multipliers, and rules can stack any number of multiply actions), so the engine
# caps every award here; a bigint holds 92 of them.
MAX_AWARD = MAX_POINTS * MAX_FACTOR**4
# A rule version stored before these bounds (or while they were looser) runs as saved past a bound that only refuses
# absurd new input, up to the limit below (rule_validation.parse_stored_rule); past a bound that keeps arithmetic in
# range it does not run. Counts are compared in Python, a budget or max_points only lowers an award, and every award
# that a rate or a factor scales is cut at MAX_AWARD, so those run at any size. A fixed amount is issued as is when
# nothing multiplies it, so it runs up to MAX_AWARD and no further. The priority (the rules table's INTEGER) and
# within_days (the look-back's start before year 1) are held to their bounds.
STORED_MAX_POINTS = MAX_AWARD  # amount
ANY_SIZE = math.inf  # per_customer, min_quantity, counts' values, budget_points, max_points, rate, factor

COMPARISONS = ("==", "!=", ">", ">=", "<", "<=")
NUMBER_OPERATORS = (*COMPARISONS, "between", "in", "not_in")
TEXT_OPERATORS = ("==", "!=", "in", "not_in")
SET_OPERATORS = ("in", "not_in")
LIST_OPERATORS = ("in", "not_in")
PAIR_OPERATORS = ("between",)


@dataclass(frozen=True)
class ConditionSpec:
    """What one condition type accepts: its operators, the kind of its value, and its extra keys."""

    type: str
    value_kind: str  # number | integer | text | id | boolean | when | weekday | clock | scalar
    operators: tuple[str, ...]
    description: str
    list_default: str = "in"  # operator used when `operator` is omitted and `value` is a list
    scalar_default: str | None = "=="  # ... and when `value` is not a list (None: operator required)
    required_keys: tuple[str, ...] = ()
    optional_keys: tuple[str, ...] = ()
    value_required: bool = True
    notes: tuple[str, ...] = field(default=())


MISSING_NOTE = "A condition on a missing or null fact is false, whatever the operator (wrap it in `not` to invert)."

CONDITIONS: dict[str, ConditionSpec] = {
    spec.type: spec
    for spec in (
        ConditionSpec(
            "order_total",
            "number",
            NUMBER_OPERATORS,
            "Shopify's total_price in the shop currency, read as a Decimal from its string.",
        ),
        ConditionSpec(
            "order_subtotal",
            "number",
            NUMBER_OPERATORS,
            "Shopify's subtotal_price in the shop currency, read as a Decimal from its string.",
        ),
        ConditionSpec(
            "frequency",
            "integer",
            NUMBER_OPERATORS,
            "This event is the customer's Nth of `event_type` (default order_created), this one included; "
            "with `within_days`, only events in the D days up to this one count. False for guests.",
            optional_keys=("event_type", "within_days"),
        ),
        ConditionSpec(
            "customer_order_count",
            "integer",
            NUMBER_OPERATORS,
            "Orders the customer has placed, this one included. False for guests.",
        ),
        ConditionSpec(
            "customer_lifetime_spend",
            "number",
            NUMBER_OPERATORS,
            "Sum of the customer's order totals, this one included. False for guests.",
        ),
        ConditionSpec(
            "customer_tag",
            "text",
            SET_OPERATORS,
            "`in`: the customer has any of these tags; `not_in`: none of them. Tags compare "
            "case-insensitively, trimmed. False for guests.",
            scalar_default=None,
        ),
        ConditionSpec(
            "customer_tier",
            "text",
            SET_OPERATORS,
            "The customer's current tier name is (`in`) or is not (`not_in`) one of these, compared "
            "case-insensitively. False for guests and for customers with no tier.",
            scalar_default=None,
        ),
        ConditionSpec(
            "line_item",
            "id",
            SET_OPERATORS,
            "Some line item's `field` is (`in`) or is not (`not_in`) in the list; quantity and amount "
            "(price x quantity - total_discount) are summed over all matching items and must reach "
            "`min_quantity` (default 1) and `min_amount`. Ids compare as strings (gid:// ids reduce to "
            "their number). product_tag and collection_id read the item's `product_tags` / "
            '`collection_ids`, which the app adds to the payload. To say "the order has no X", wrap '
            "`in` in `not`.",
            scalar_default=None,
            required_keys=("field",),
            optional_keys=("min_quantity", "min_amount"),
        ),
        ConditionSpec(
            "discount_code",
            "text",
            ("exists", "in", "not_in"),
            "Codes used on the order, compared case-insensitively. `exists` (value true, the default, "
            "or false) tests whether any code was used; `in`: any used code is listed; `not_in`: none "
            "is.",
            scalar_default=None,
            value_required=False,
        ),
        ConditionSpec(
            "source_name",
            "text",
            TEXT_OPERATORS,
            "The order's sales channel (web, pos, shopify_draft_order, ...), exact match.",
        ),
        ConditionSpec(
            "shipping_country",
            "text",
            TEXT_OPERATORS,
            "ISO 3166 alpha-2 code of the shipping address, case-insensitive. False when the order has "
            "no shipping address.",
        ),
        ConditionSpec("currency", "text", TEXT_OPERATORS, "ISO 4217 code of the order's currency, case-insensitive."),
        ConditionSpec(
            "date",
            "when",
            ("between", ">=", "<"),
            "Event time in the shop's time zone. A date (2024-12-24) compares with the local calendar "
            "date, so `between` includes the whole last day; a date-time without offset is shop-local "
            "wall time; one with an offset is an instant.",
            list_default="between",
            scalar_default=None,
        ),
        ConditionSpec(
            "day_of_week",
            "weekday",
            LIST_OPERATORS,
            "Weekday of the event in the shop's time zone (mon ... sun).",
            scalar_default=None,
        ),
        ConditionSpec(
            "time_of_day",
            "clock",
            PAIR_OPERATORS,
            "Local time in the shop's time zone within [start, end], minute precision, both ends "
            "included (09:00-17:00 includes 17:00:59). A window whose start is after its end wraps "
            "midnight (22:00-02:00).",
            list_default="between",
            scalar_default=None,
        ),
        ConditionSpec(
            "referred_customer",
            "boolean",
            ("==",),
            "The customer came through a referral (true) or not (false). False for guests.",
        ),
        ConditionSpec("event_type", "text", TEXT_OPERATORS, "The event's type, e.g. order_created."),
        ConditionSpec(
            "attribute",
            "scalar",
            (*NUMBER_OPERATORS, "exists"),
            "Any field of the event by dotted `path` from event_data (list items by index). When the "
            'value is a number the field is read as a Decimal ("150.00" works); a string compares '
            "with the field as text (numbers are written in decimal); a boolean only with a boolean.",
            required_keys=("path",),
            value_required=False,
        ),
    )
}


@dataclass(frozen=True)
class ActionSpec:
    """What one action type accepts."""

    type: str
    required_keys: tuple[str, ...]
    optional_keys: tuple[str, ...]
    description: str


ACTIONS: dict[str, ActionSpec] = {
    spec.type: spec
    for spec in (
        ActionSpec("points", ("amount",), ("reason",), "A fixed number of points."),
        ActionSpec(
            "points_per_currency",
            ("rate",),
            ("basis", "rounding", "max_points", "reason"),
            "rate points per 1 unit of the order's subtotal (default) or total. `max_points` caps the "
            "points before the tier multiplier and multiply factors.",
        ),
        ActionSpec(
            "multiply",
            ("factor",),
            (),
            "Multiplies the points that the other rules award for this event; several factors multiply.",
        ),
        ActionSpec("issue_reward", ("reward",), (), "Grants the named reward without spending points."),
        ActionSpec("tag_customer", (), ("add", "remove"), "Adds and removes the customer's tags in Shopify."),
        ActionSpec("webhook", ("url",), (), "A signed outbound webhook with the event and the decisions."),
        ActionSpec(
            "referral_advocate_points",
            ("amount",),
            ("reason",),
            "Points to the customer who referred this one (none when the customer was not referred).",
        ),
    )
}

POINTS_NOTE = (
    "Points are computed in Decimal: base x the customer's tier multiplier x the factors of other rules' multiply "
    "actions, then rounded once with the action's rounding (floor unless points_per_currency says round or ceil) "
    "to an integer. An action that comes to 0 points issues nothing. A rule's budget_points caps its last award to "
    "what remains; a rule whose budget is used up does not fire."
)
