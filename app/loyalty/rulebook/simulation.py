"""Dry runs: drafts, named rules or the live rule set against one event, with the trace. Nothing is written."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.loyalty.base.inbound import ORDER_EVENT_TYPES, ORDER_PLACED
from app.loyalty.base.order_earning import rule_event_type
from app.loyalty.rulebook.facts import EventDocument, customer_facts, read_event_document
from app.loyalty.rulebook.history import DatabaseHistory
from app.loyalty.rulebook.store import RuleNotFound, active_rules, compiled_version, current_versions, find_rule
from app.models import CustomerLoyaltyProfile, Order, Shop, event_history
from app.rules import CompiledRule, Evaluation, Facts, RuleSet, compile_rule, evaluate, parse_rule

ALL_STATUSES = frozenset({"draft", "active", "paused", "archived"})


def compile_drafts(session: Session, shop_id: int, definitions: Iterable[dict[str, Any]]) -> list[CompiledRule]:
    """Compile draft rule JSON; a draft named like a stored rule takes its id, others get ids -1, -2, ..."""
    compiled = []
    for index, definition in enumerate(definitions):
        rule = parse_rule(definition)
        row = find_rule(session, shop_id=shop_id, name=rule.name)
        compiled.append(compile_rule(rule, rule_id=row.id if row else -(index + 1)))
    return compiled


def _already_counted(session: Session, shop_id: int, document: EventDocument) -> bool:
    """Whether stored history already counts this event: its order is recorded, or it is a processed inbox event."""
    if document.event_type == ORDER_PLACED:
        order_id = document.event_data.get("id")
        return (
            order_id not in (None, "")
            and session.execute(
                select(Order.id).where(Order.shop_id == shop_id, Order.order_id == str(order_id))
            ).first()
            is not None
        )
    try:
        event_id = uuid.UUID(document.event_id)
    except ValueError:
        return False
    return (
        session.execute(
            select(event_history.c.id).where(
                event_history.c.shop_id == shop_id,
                event_history.c.event_id == event_id,
                event_history.c.status == "processed",
            )
        ).first()
        is not None
    )


@dataclass
class _ThisEventToo:
    """The stored history plus the dry-run event itself, unless the stored history already counts it."""

    stored: DatabaseHistory | None
    event_type: str | None

    def count_events(self, event_type: str, within_days: int | None) -> int:
        stored = self.stored.count_events(event_type, within_days) if self.stored else 0
        return stored + (event_type == self.event_type)

    def rule_firings(self, rule_id: int | None, period: str) -> int:
        return self.stored.rule_firings(rule_id if (rule_id or 0) > 0 else None, period) if self.stored else 0

    def rule_points_issued(self, rule_id: int | None) -> int:
        return self.stored.rule_points_issued(rule_id if (rule_id or 0) > 0 else None) if self.stored else 0


def dry_run(
    session: Session,
    *,
    shop: Shop,
    event: dict[str, Any],
    now: datetime,
    drafts: Iterable[dict[str, Any]] | None = None,
    names: Iterable[str] | None = None,
) -> Evaluation:
    """Evaluate, with the trace, the drafts given, else the stored rules named (any status), else the shop's
    active rules, against one event document (envelope or bare order). Writes nothing."""
    document = read_event_document(event, now=now)
    if document.event_type in ORDER_EVENT_TYPES:
        # As live, the shop's earning order event is an order placed. An orders/create the shop does not earn on is
        # taken as the order it records (a bare order is one too): a dry run asks what the order earns.
        earning = rule_event_type(shop.orders_earn_on, document.event_type) or ORDER_PLACED
        document = replace(document, event_type=earning)
    if drafts is not None:
        rules: list[CompiledRule] | RuleSet = compile_drafts(session, shop.id, drafts)
    elif names is not None:
        wanted = list(names)
        pairs = current_versions(session, shop_id=shop.id, names=wanted)
        missing = sorted(set(wanted) - {row.name for row, _ in pairs})
        if missing:
            raise RuleNotFound(missing[0])
        rules = [compiled_version(version, row.id) for row, version in pairs]
    else:
        rules = active_rules(session, shop)
    customer = customer_facts(
        session, shop_id=shop.id, customer_id=document.customer_id, event=document, count_this_order=True
    )
    stored = None
    profile_id = (
        None
        if customer is None
        else session.execute(
            select(CustomerLoyaltyProfile.id).where(
                CustomerLoyaltyProfile.shop_id == shop.id, CustomerLoyaltyProfile.customer_id == customer.customer_id
            )
        ).scalar_one_or_none()
    )
    if profile_id is not None:
        stored = DatabaseHistory(
            session=session,
            shop_id=shop.id,
            customer_id=customer.customer_id,
            profile_id=profile_id,
            as_of=document.occurred_at,
            timezone=shop.timezone,
            chronological=True,
        )
    facts = Facts(
        event_id=document.event_id,
        event_type=document.event_type,
        occurred_at=document.occurred_at,
        timezone=shop.timezone,
        event_data=document.event_data,
        customer=customer,
        history=_ThisEventToo(stored, None if _already_counted(session, shop.id, document) else document.event_type),
    )
    return evaluate(rules, facts, trace=True, statuses=ALL_STATUSES)
