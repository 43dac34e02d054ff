"""Shopify's compliance topics: customers/redact, customers/data_request, shop/redact.

`redact_customer` removes the customer's personal data from every table while the ledger keeps its amounts: the
profile's `customer_id` becomes a tombstone ("redacted:<uuid>") and its contact fields are cleared; JSON that
mentions the customer (inbox payloads, dead letters, rule traces, audit details, outbox and webhook payloads,
dedupe outcomes) is scrubbed: personal keys (email, phone, names, addresses, IPs) are replaced and any other string
that contains the customer's id, email, phone or name becomes "[redacted]"; so do those inside the error texts kept
with inbox rows, dead letters, outbox rows and webhook deliveries (a database error's detail quotes the values of the
key it violated); referral clicks on their link lose IP hash, user agent and landing page. Ledger entries are
append-only: their amounts stay under the tombstoned profile, and only their free text (`reason`, `details`, where a
merchant may have typed a name) is scrubbed, the one update the ledger trigger allows, announced with
`SET LOCAL loyalty.gdpr_redact = 'on'`.

`shop_redact` deletes the shop row and, by cascade, everything of the shop, ledger included: the only DELETE the
ledger trigger allows, announced with `SET LOCAL loyalty.shop_redact = 'on'` inside the caller's transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Numeric, String, and_, cast, false, func, literal, or_, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import JSONPATH, insert
from sqlalchemy.orm import Session

from app.models import (
    AuditLog,
    CustomerLoyaltyProfile,
    DeadLetter,
    EventQueue,
    EventQueueArchive,
    Outbox,
    PendingCredit,
    PointsTransaction,
    ProcessedEvent,
    RedactedCustomer,
    ReferralClick,
    ReferralLink,
    RuleBacktest,
    RuleExecution,
    Shop,
    WebhookDelivery,
)
from app.rules.values import is_ascii_digits

REDACTED = "[redacted]"
# Keys whose values are personal data wherever they appear in a Shopify payload.
PERSONAL_KEYS = frozenset(
    {
        "email",
        "contact_email",
        "phone",
        "first_name",
        "last_name",
        "name",
        "address1",
        "address2",
        "city",
        "zip",
        "province",
        "province_code",
        "company",
        "latitude",
        "longitude",
        "browser_ip",
        "note",
        "customer_locale",
        "multipass_identifier",
        "ip",
        "user_agent",
        "landing_site",
        "referring_site",
        "order_status_url",
    }
)
# Where these keys are order or product names rather than a person's, keep them.
NEUTRAL_PARENTS = frozenset({"line_items", "shipping_lines", "tax_lines", "discount_applications", "fulfillments"})


@dataclass(frozen=True)
class RedactionResult:
    customer_id: str
    tombstone: str | None
    rows_scrubbed: dict[str, int]


@dataclass(frozen=True)
class Needles:
    """What identifies the customer: `exact` values (their id) and `contained` strings (email, phone, names, gid).
    `strong` (id, email, phone, full name, gid) picks the rows to scrub; first and last name alone only scrub
    inside those rows, so another customer who shares a first name keeps their data."""

    exact: frozenset[str]
    strong: tuple[str, ...]
    contained: tuple[str, ...]


def scrub(value: Any, needles: Needles, parent: str | None = None) -> Any:
    """`value` with personal keys replaced, and any value equal to the customer's id or containing their email,
    phone or name (case-insensitive) replaced."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key in PERSONAL_KEYS and item not in (None, "", [], {}) and parent not in NEUTRAL_PARENTS:
                out[key] = REDACTED
            else:
                out[key] = scrub(item, needles, key)
        return out
    if isinstance(value, list):
        return [scrub(item, needles, parent) for item in value]
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in needles.exact or any(needle in lowered for needle in needles.contained):
            return REDACTED
        return value
    if isinstance(value, int) and not isinstance(value, bool) and str(value) in needles.exact:
        return REDACTED
    return value


def _needles(customer_id: str, profile: CustomerLoyaltyProfile | None, extra: Iterable[str | None]) -> Needles:
    strong = [f"gid://shopify/customer/{customer_id}", *extra]
    weak: list[str | None] = []
    if profile is not None:
        strong.append(profile.email)
        weak += [profile.first_name, profile.last_name]
        if profile.first_name and profile.last_name:
            strong.append(f"{profile.first_name} {profile.last_name}")

    def clean(values: Iterable[str | None]) -> list[str]:
        return sorted({v.strip().lower() for v in values if v and len(v.strip()) >= 3}, key=len, reverse=True)

    strong_clean = clean(strong)
    return Needles(
        exact=frozenset({customer_id.lower()}),
        strong=tuple(strong_clean),
        contained=tuple(dict.fromkeys(strong_clean + clean(weak))),
    )


def _mentions(column: Any, needles: Needles) -> Any:
    """SQL: the JSON holds the customer's id as a value anywhere, or its text contains a strong needle."""
    (identifier,) = needles.exact or {""}
    conditions = [
        func.jsonb_path_exists(
            column,
            cast(literal("$.** ? (@ == $id || @ == $number)"), JSONPATH),
            # As a numeric, not a bigint: a Shopify id of 20 digits may pass 2^63 (jsonb's numbers are numerics).
            func.jsonb_build_object(
                "id", identifier, "number", cast(literal(identifier if is_ascii_digits(identifier) else "-1"), Numeric)
            ),
        )
    ]
    conditions += [cast(column, String).ilike(f"%{needle}%") for needle in needles.strong]
    return or_(*conditions)


def _scrub_rows(session: Session, model: Any, column: str, where: Any, needles: Needles) -> int:
    attribute = getattr(model, column)
    rows = session.execute(select(model.id if hasattr(model, "id") else model, attribute).where(where)).all()
    changed = 0
    for row_id, value in rows:
        if value is None:
            continue
        cleaned = scrub(value, needles)
        if cleaned != value:
            session.execute(update(model).where(model.id == row_id).values({column: cleaned}))
            changed += 1
    return changed


def redact_customer(
    session: Session,
    *,
    shop_id: int,
    customer_id: str,
    now: datetime,
    email: str | None = None,
    phone: str | None = None,
    orders_to_redact: Sequence[str | int] = (),
) -> RedactionResult:
    """Remove the customer's personal data from every table of this shop; the ledger keeps its amounts under a
    tombstone. Idempotent: a second run finds nothing left to change. `email`/`phone` come from the webhook."""
    customer_id = str(customer_id)
    profile = session.execute(
        select(CustomerLoyaltyProfile)
        .where(CustomerLoyaltyProfile.shop_id == shop_id, CustomerLoyaltyProfile.customer_id == customer_id)
        .with_for_update()
    ).scalar_one_or_none()
    needles = _needles(customer_id, profile, [email, phone])
    order_ids = [str(order_id) for order_id in orders_to_redact]
    counts: dict[str, int] = {}
    _remember(session, shop_id=shop_id, customer_id=customer_id, now=now)

    tombstone = None
    if profile is not None:
        tombstone = f"redacted:{uuid.uuid4()}"
        profile.customer_id = tombstone
        profile.email = profile.first_name = profile.last_name = profile.note = None
        profile.tags = []
        profile.redacted_at = now
        profile.updated_at = now
        session.flush()
        links = select(ReferralLink.id).where(ReferralLink.shop_id == shop_id, ReferralLink.profile_id == profile.id)
        counts["referral_clicks"] = session.execute(
            update(ReferralClick)
            .where(ReferralClick.shop_id == shop_id, ReferralClick.link_id.in_(links))
            .values(ip_hash=None, user_agent=None, landing_page=None)
        ).rowcount
        counts["rule_executions"] = _scrub_rows(
            session,
            RuleExecution,
            "trace",
            and_(
                RuleExecution.shop_id == shop_id,
                or_(RuleExecution.profile_id == profile.id, _mentions(RuleExecution.trace, needles)),
            ),
            needles,
        )
        counts["points_transactions"] = _scrub_ledger_text(session, shop_id, profile.id, needles)
        counts["pending_credits.reason"] = session.execute(
            update(PendingCredit)
            .where(
                PendingCredit.shop_id == shop_id,
                PendingCredit.profile_id == profile.id,
                or_(false(), *(PendingCredit.reason.ilike(f"%{n}%") for n in needles.contained)),
            )
            .values(reason=REDACTED)
        ).rowcount
    else:
        counts["rule_executions"] = _scrub_rows(
            session,
            RuleExecution,
            "trace",
            and_(RuleExecution.shop_id == shop_id, _mentions(RuleExecution.trace, needles)),
            needles,
        )

    # The inbox and its archive (processed rows older than a few weeks move there) hold the same payloads.
    for events in (EventQueue, EventQueueArchive):
        order_match = [events.payload.op("@>")({"id": int(o)}) for o in order_ids if is_ascii_digits(o)]
        order_match += [events.payload.op("@>")({"order_id": int(o)}) for o in order_ids if is_ascii_digits(o)]
        event_rows = and_(
            events.shop_id == shop_id,
            or_(events.customer_id == customer_id, _mentions(events.payload, needles), *order_match),
        )
        counts[events.__tablename__] = _scrub_rows(session, events, "payload", event_rows, needles)
        if tombstone is not None:
            session.execute(
                update(events)
                .where(events.shop_id == shop_id, events.customer_id == customer_id)
                .values(customer_id=tombstone)
            )
    # JSON columns that can quote the customer anywhere in the shop (payloads, errors, audit details, staged work,
    # the customers a kept backtest lists).
    for model, column in ((DeadLetter, "fields"), (AuditLog, "details"), (Outbox, "payload"), (RuleBacktest, "result")):
        attribute = getattr(model, column)
        counts[model.__tablename__] = _scrub_rows(
            session, model, column, and_(model.shop_id == shop_id, _mentions(attribute, needles)), needles
        )
    # Work not yet sent for this customer (a code to create, tags to set) must not reach Shopify any more.
    # The customer's metafield sync (staged by a trigger, keyed by profile id, see migration 0003) goes the same way.
    staged_for_customer = [cast(Outbox.payload, String).like(f"%{REDACTED}%")]
    if profile is not None:
        staged_for_customer.append(Outbox.dedupe_key == f"customer_sync:{profile.id}")
    session.execute(
        update(Outbox)
        .where(Outbox.shop_id == shop_id, Outbox.status == "pending", or_(*staged_for_customer))
        .values(status="failed", last_error="customer redacted (GDPR)")
    )
    counts["webhook_deliveries"] = _scrub_rows(
        session,
        WebhookDelivery,
        "payload",
        and_(WebhookDelivery.shop_id == shop_id, _mentions(WebhookDelivery.payload, needles)),
        needles,
    )
    counts["processed_events"] = _scrub_processed(session, shop_id, needles)
    # Error texts can quote what failed (a database error's detail names the values of a violated key).
    for model, column in (
        (EventQueue, "last_error"),
        (EventQueueArchive, "last_error"),
        (DeadLetter, "error"),
        (Outbox, "last_error"),
        (WebhookDelivery, "last_error"),
    ):
        counts[f"{model.__tablename__}.{column}"] = _scrub_text_rows(session, model, column, shop_id, needles)
    session.flush()
    return RedactionResult(customer_id=customer_id, tombstone=tombstone, rows_scrubbed=counts)


def customer_key(salt: bytes, customer_id: str) -> bytes:
    """The keyed hash a redacted customer is remembered by (their Shopify id is not kept)."""
    return hmac.new(salt, str(customer_id).encode(), hashlib.sha256).digest()


def _remember(session: Session, *, shop_id: int, customer_id: str, now: datetime) -> None:
    salt = session.execute(
        update(Shop)
        .where(Shop.id == shop_id)
        .values(redaction_salt=func.coalesce(Shop.redaction_salt, secrets.token_bytes(32)))
        .returning(Shop.redaction_salt)
    ).scalar_one()
    session.execute(
        insert(RedactedCustomer)
        .values(shop_id=shop_id, customer_key=customer_key(salt, customer_id), redacted_at=now)
        .on_conflict_do_nothing()
    )


def redacted_among(session: Session, customers: Iterable[tuple[Shop, str]]) -> set[tuple[int, str]]:
    """The (shop id, customer id) pairs of these whose shop redacted the customer (customers/redact); no query when
    none of the shops ever redacted anyone (their `redaction_salt` is still empty)."""
    by_key = {
        (shop.id, customer_key(shop.redaction_salt, customer_id)): (shop.id, customer_id)
        for shop, customer_id in customers
        if shop.redaction_salt is not None
    }
    if not by_key:
        return set()
    found = session.execute(
        select(RedactedCustomer.shop_id, RedactedCustomer.customer_key).where(
            tuple_(RedactedCustomer.shop_id, RedactedCustomer.customer_key).in_(list(by_key))
        )
    ).all()
    return {by_key[(shop_id, bytes(key))] for shop_id, key in found}


def forget_event(session: Session, *, shop_id: int, event_id: uuid.UUID, customer_id: str, payload: Any) -> None:
    """Scrub the inbox row of an event that arrived after its customer was redacted, as the redaction scrubbed the
    rows it found: its payload's personal fields and mentions of the customer, and the customer id of the row."""
    order = payload if isinstance(payload, dict) else {}
    customer = order.get("customer") if isinstance(order.get("customer"), dict) else {}
    contact = [order.get("email"), order.get("phone"), customer.get("email"), customer.get("phone")]
    needles = _needles(customer_id, None, [value for value in contact if isinstance(value, str)])
    row = and_(EventQueue.shop_id == shop_id, EventQueue.event_id == event_id)
    _scrub_rows(session, EventQueue, "payload", row, needles)
    session.execute(update(EventQueue).where(row).values(customer_id=None))


def _scrub_ledger_text(session: Session, shop_id: int, profile_id: int, needles: Needles) -> int:
    """Scrub names from ledger entries' free text: the customer's own entries by any needle, others' by a strong one."""
    own = and_(
        PointsTransaction.profile_id == profile_id,
        or_(
            false(),
            *(PointsTransaction.reason.ilike(f"%{n}%") for n in needles.contained),
            _mentions(PointsTransaction.details, needles),
        ),
    )
    others = or_(
        false(),
        *(PointsTransaction.reason.ilike(f"%{n}%") for n in needles.strong),
        _mentions(PointsTransaction.details, needles),
    )
    rows = session.execute(
        select(PointsTransaction.id, PointsTransaction.reason, PointsTransaction.details).where(
            PointsTransaction.shop_id == shop_id, or_(own, others)
        )
    ).all()
    if not rows:
        return 0
    session.execute(text("SET LOCAL loyalty.gdpr_redact = 'on'"))
    for entry_id, reason, details in rows:
        session.execute(
            update(PointsTransaction)
            .where(PointsTransaction.id == entry_id)
            .values(reason=None if reason is None else scrub(reason, needles), details=scrub(details, needles))
        )
    session.execute(text("SET LOCAL loyalty.gdpr_redact = 'off'"))
    return len(rows)


def _scrub_text_rows(session: Session, model: Any, column: str, shop_id: int, needles: Needles) -> int:
    """Replace the customer's id, email, phone and names in a text column of the shop's rows that mention them."""
    attribute = getattr(model, column)
    picked = [attribute.icontains(needle, autoescape=True) for needle in (*needles.exact, *needles.strong)]
    rows = session.execute(
        select(model.id, attribute).where(model.shop_id == shop_id, attribute.is_not(None), or_(*picked))
    ).all()
    pattern = re.compile(
        "|".join(re.escape(n) for n in sorted({*needles.exact, *needles.contained}, key=len)[::-1]), re.I
    )
    for row_id, value in rows:
        session.execute(update(model).where(model.id == row_id).values({column: pattern.sub(REDACTED, value)}))
    return len(rows)


def _scrub_processed(session: Session, shop_id: int, needles: Needles) -> int:
    rows = session.execute(
        select(ProcessedEvent.consumer_group, ProcessedEvent.event_id, ProcessedEvent.outcome).where(
            ProcessedEvent.shop_id == shop_id, _mentions(ProcessedEvent.outcome, needles)
        )
    ).all()
    for group, event_id, outcome in rows:
        session.execute(
            update(ProcessedEvent)
            .where(ProcessedEvent.consumer_group == group, ProcessedEvent.event_id == event_id)
            .values(outcome=scrub(outcome, needles))
        )
    return len(rows)


def redact_shop(session: Session, *, shop_id: int) -> bool:
    """Delete the shop and everything it owns (shop/redact, 48 hours after uninstall); False if already gone."""
    session.execute(text("SET LOCAL loyalty.shop_redact = 'on'"))
    deleted = session.execute(Shop.__table__.delete().where(Shop.__table__.c.id == shop_id)).rowcount
    session.execute(text("SET LOCAL loyalty.shop_redact = 'off'"))
    session.expire_all()
    return bool(deleted)


__all__ = ["RedactionResult", "redact_customer", "redact_shop", "scrub"]
