"""Customer search and a customer's ledger, newest first, for the admin's customer pages."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.models import (
    CustomerLoyaltyProfile,
    ImportBatch,
    PointsTransaction,
    RedemptionLog,
    RewardDefinition,
    Rule,
    RuleVersion,
)
from app.rules.values import is_ascii_digits

PAGE_SIZE = 25
CUSTOMER_GID_PREFIX = "gid://shopify/Customer/"


@dataclass(frozen=True)
class CustomerPage:
    customers: list[CustomerLoyaltyProfile]
    next_after: int | None  # the id to continue after, None on the last page


@dataclass(frozen=True)
class LedgerLine:
    entry: PointsTransaction
    cause: str  # what caused it, in the merchant's words


@dataclass(frozen=True)
class RedemptionLine:
    redemption: RedemptionLog
    reward: str


@dataclass(frozen=True)
class LedgerPage:
    lines: list[LedgerLine]
    next_after: int | None


def search_customers(
    session: Session, *, shop_id: int, query: str = "", after: int | None = None, limit: int = PAGE_SIZE
) -> CustomerPage:
    """The shop's customers, newest profile first, matching `query`: a Shopify customer id (or its gid) exactly, or
    a part of the email or name (case-insensitive)."""
    statement = select(CustomerLoyaltyProfile).where(CustomerLoyaltyProfile.shop_id == shop_id)
    query = query.strip()
    if query:
        # A Shopify customer id as the merchant may paste it: digits, or the Admin API's gid.
        as_id = query.removeprefix(CUSTOMER_GID_PREFIX)
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        matches = [
            CustomerLoyaltyProfile.email.ilike(pattern),
            (CustomerLoyaltyProfile.first_name + " " + CustomerLoyaltyProfile.last_name).ilike(pattern),
            CustomerLoyaltyProfile.first_name.ilike(pattern),
            CustomerLoyaltyProfile.last_name.ilike(pattern),
        ]
        if is_ascii_digits(as_id):
            matches.append(CustomerLoyaltyProfile.customer_id == as_id)
        statement = statement.where(or_(*matches))
    if after is not None:
        statement = statement.where(CustomerLoyaltyProfile.id < after)
    rows = list(session.execute(statement.order_by(CustomerLoyaltyProfile.id.desc()).limit(limit + 1)).scalars())
    return CustomerPage(customers=rows[:limit], next_after=rows[limit - 1].id if len(rows) > limit else None)


def customer_ledger(
    session: Session, *, shop_id: int, profile_id: int, after: int | None = None, limit: int = PAGE_SIZE
) -> LedgerPage:
    """One customer's ledger entries, newest first, each with its cause."""
    statement = (
        select(PointsTransaction, Rule.name, RuleVersion.version)
        .outerjoin(Rule, Rule.id == PointsTransaction.rule_id)
        .outerjoin(RuleVersion, RuleVersion.id == PointsTransaction.rule_version_id)
        .where(PointsTransaction.shop_id == shop_id, PointsTransaction.profile_id == profile_id)
    )
    if after is not None:
        statement = statement.where(PointsTransaction.id < after)
    rows = list(session.execute(statement.order_by(PointsTransaction.id.desc()).limit(limit + 1)))
    lines = [
        LedgerLine(entry=entry, cause=describe_cause(entry, name, version)) for entry, name, version in rows[:limit]
    ]
    return LedgerPage(lines=lines, next_after=rows[limit - 1][0].id if len(rows) > limit else None)


def describe_cause(entry: PointsTransaction, rule_name: str | None, rule_version: int | None) -> str:
    """The entry's cause (L5) as the merchant reads it."""
    source = f"{entry.source_type} {entry.source_id}" if entry.source_type and entry.source_id else None
    if entry.cause_type == "admin":
        return f"adjusted by {entry.actor}"
    if entry.cause_type == "import":
        return f"imported in batch {entry.import_batch_id}"
    if entry.cause_type == "redemption":
        return f"redemption {entry.redemption_id}"
    if entry.cause_type == "expiry":
        return "points expired"
    if entry.rule_id is not None:
        rule = f"rule {rule_name or entry.rule_id!s}" + (f" v{rule_version}" if rule_version is not None else "")
        return f"{source}, {rule}" if source else rule
    return source or entry.cause_type


def import_batches(session: Session, *, shop_id: int, limit: int = 10) -> list[ImportBatch]:
    """The shop's latest CSV imports, newest first (to review or undo)."""
    statement = (
        select(ImportBatch).where(ImportBatch.shop_id == shop_id).order_by(ImportBatch.created_at.desc()).limit(limit)
    )
    return list(session.execute(statement).scalars())


def customer_redemptions(session: Session, *, shop_id: int, profile_id: int, limit: int = 20) -> list[RedemptionLine]:
    """A customer's latest redemptions (codes) with their reward's name, newest first."""
    rows = session.execute(
        select(RedemptionLog, RewardDefinition.name)
        .join(RewardDefinition, RewardDefinition.id == RedemptionLog.reward_id)
        .where(RedemptionLog.shop_id == shop_id, RedemptionLog.profile_id == profile_id)
        .order_by(RedemptionLog.id.desc())
        .limit(limit)
    )
    return [RedemptionLine(redemption=redemption, reward=name) for redemption, name in rows]
