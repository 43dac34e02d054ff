"""process_event and process_batch: the one place rules meet the ledger (the caller commits, then acks).

A batch is applied in one transaction, the events of each customer in the order given, each event as if alone:
1. claim every event with a dedupe row, one statement (a re-delivery finds its row and does nothing);
2. create and lock the profiles of the batch's customers before anything looks at history (L11), one statement in
   (shop, customer) order, so two batches sharing customers wait instead of deadlocking;
3. the order events of the customers whose every event in the batch is one the set-based path takes (an order of
   a customer, not a test or cancelled one, with no discount or referral code, in an installed shop whose active
   rules only award points and have no budget: `_fits_batched_path`), applied together (`order_batches`);
4. every other event, one by one in the order given: record what it changes (the order, the customer), evaluate the
   shop's active rules on the facts, post ledger entries keyed by business object and rule action (L3), stage
   outward work in the outbox, record rule executions; events of one customer see what the earlier ones wrote;
5. store the outcomes and mark the inbox rows processed, one statement each.
App events that steps 3 and 4 raise (tier_changed, ...) and that no active rule of their shop listens to are written
processed at once and never streamed (`_heard`, app_events.APP_EVENT_HEARD).
The customers of step 3 have no event in step 4, so each customer's events keep their order; events of different
customers may apply in another order than given, which only a budget shared by customers could tell (hence no
budget in step 3).
An event that fails raises out of the batch: the caller rolls the batch back and splits it (`split_batches` names
the events that must run alone), so each event stays all-or-nothing and only the failing one retries. An event
that must wait for its order (a refund read first) runs in a savepoint and is left out alone, without failing its
batch (`_apply_or_wait`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import String, any_, delete, literal, select, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.orm import Session

from app.loyalty import gdpr, ledger, referrals, rewards, rulebook, tiers
from app.loyalty.base import order_earning
from app.loyalty.base.app_events import APP_EVENT_HEARD
from app.loyalty.base.bulk import insert_rows, update_rows
from app.loyalty.base.inbound import ORDER_EVENT_TYPES, InboundEvent
from app.loyalty.base.installation import processes_event
from app.loyalty.base.order_amounts import OrderAmounts, order_amounts, order_name
from app.loyalty.base.outcome import Outcome, RetryLater
from app.loyalty.ledger.profiles import lock_profile, lock_profiles, release_profiles, take_held_profiles
from app.loyalty.processing import customer_facts, lifecycle, order_batches
from app.loyalty.referrals.settings import ReferralSettings
from app.loyalty.referrals.settings import settings_for as referral_settings
from app.loyalty.rulebook.facts import business_source, event_facts, rule_credit_key
from app.models import (
    CustomerLoyaltyProfile,
    EventQueue,
    Order,
    Outbox,
    ProcessedEvent,
    RewardDefinition,
    Shop,
)
from app.rules import POINT_ACTIONS, Decision, evaluate

# Raised by the app itself (app_events.record_app_event), not by Shopify.
APP_EVENT_TYPES = frozenset({"tier_changed", "reward_redeemed", "referral_converted", "points_expired"})
# Events that change the shop or remove a customer: each runs in a transaction of its own, so no event batched with
# it works from a shop or profile it deleted.
SOLO_EVENT_TYPES = frozenset(
    {
        "app_uninstalled",
        "app_scopes_updated",
        "app_subscription_updated",
        "shop_redact_requested",
        "customer_redact_requested",
    }
)


def process_event(session: Session, event: InboundEvent, *, consumer_group: str, now: datetime) -> Outcome:
    """Apply one event exactly once per consumer group; never commits (the consumer commits, then acknowledges)."""
    return process_batch(session, [event], consumer_group=consumer_group, now=now)[0]


def split_batches(events: Sequence[InboundEvent], *, max_size: int) -> list[list[InboundEvent]]:
    """Cut events, in order, into batches of at most `max_size`; a SOLO_EVENT_TYPES event is a batch of its own."""
    batches: list[list[InboundEvent]] = []
    current: list[InboundEvent] = []
    for event in events:
        if event.event_type in SOLO_EVENT_TYPES or len(current) >= max_size:
            if current:
                batches.append(current)
            current = []
        current.append(event)
        if event.event_type in SOLO_EVENT_TYPES:
            batches.append(current)
            current = []
    if current:
        batches.append(current)
    return batches


def process_batch(
    session: Session, events: Sequence[InboundEvent], *, consumer_group: str, now: datetime
) -> list[Outcome]:
    """Apply events in order, each exactly once per consumer group, in the caller's transaction; one Outcome each.

    Never commits. Raises at the first event that fails, and then nothing of the batch may be committed. An event
    that must wait for another (MAY_WAIT: a refund read before its order) is left out instead, nothing of it written
    (its Outcome's `waiting` says why), and the rest of the batch goes on.
    """
    outcomes = [Outcome(event_id=str(event.event_id), event_type=event.event_type) for event in events]
    shops = _shops(session, {event.shop_domain for event in events})
    claimed = _claim(session, events, shops, consumer_group=consumer_group, now=now)
    work: list[tuple[Shop, InboundEvent, Outcome]] = []
    for event, outcome in zip(events, outcomes, strict=True):
        shop = shops.get(event.shop_domain)
        if shop is None:
            outcome.note = f"shop {event.shop_domain} no longer exists (redacted); nothing to do"
        elif event.event_id not in claimed:
            outcome.duplicate = True
        else:
            claimed.discard(event.event_id)  # the same event twice in one batch: the second is a duplicate
            work.append((shop, event, outcome))
    live = _without_redacted_customers(session, work)
    lock_profiles(
        session,
        [(shop.id, event.customer_id) for shop, event, _ in live if _takes_profile(session, shop, event)],
        now=now,
    )
    session.info[tiers.LADDER_MEMO] = {}
    by_id = {shop.id: shop for shop in shops.values()}
    session.info[APP_EVENT_HEARD] = lambda shop_id, event_type: _heard(session, by_id.get(shop_id), event_type)
    try:
        # First, before anything else in the transaction touches their profiles: the orders of customers whose
        # events all fit the set-based path. Then the rest, one by one. Each customer's events keep their order.
        batched, one_by_one = _batched_orders(session, live)
        order_batches.apply_orders(session, batched, now=now)
        for position, (shop, event, outcome) in enumerate(one_by_one):
            if position:
                # What earlier events loaded is written: clear it, so each statement's ORM bookkeeping stays the
                # size of one event, not of the batch so far.
                session.flush()
                session.expunge_all()
                session.add(shop)
            if event.event_type in MAY_WAIT and processes_event(shop, event.event_type):
                _apply_or_wait(session, shop, event, now, outcome, consumer_group=consumer_group)
            elif processes_event(shop, event.event_type):
                HANDLERS.get(event.event_type, _handle_with_rules)(session, shop, event, now, outcome)
            else:
                outcome.note = f"{shop.domain} is not installed: event recorded, not processed"
    finally:
        release_profiles(session)
        session.info.pop(tiers.LADDER_MEMO, None)
        session.info.pop(APP_EVENT_HEARD, None)
    _finish(
        session,
        [(shop, event, outcome) for shop, event, outcome in work if outcome.waiting is None],
        consumer_group=consumer_group,
        now=now,
    )
    return outcomes


def _without_redacted_customers(
    session: Session, work: list[tuple[Shop, InboundEvent, Outcome]]
) -> list[tuple[Shop, InboundEvent, Outcome]]:
    """The batch's work less the events of customers their shop redacted (customers/redact): such an event (an old
    order archived or refunded after the redaction) writes nothing of the customer again, and its own inbox row is
    scrubbed as the redaction scrubbed the others. A repeated customers/redact still runs (it is idempotent)."""
    asked = [
        (shop, event.customer_id)
        for shop, event, _ in work
        if event.customer_id is not None and event.event_type != "customer_redact_requested"
    ]
    redacted = gdpr.redacted_among(session, asked)
    if not redacted:
        return work
    live = []
    for shop, event, outcome in work:
        if (shop.id, event.customer_id) in redacted and event.event_type != "customer_redact_requested":
            assert event.customer_id is not None
            gdpr.forget_event(
                session,
                shop_id=shop.id,
                event_id=event.event_id,
                customer_id=event.customer_id,
                payload=event.event_data,
            )
            outcome.note = "its customer was redacted (customers/redact): nothing of them is written"
        else:
            live.append((shop, event, outcome))
    return live


# Events whose handler raises RetryLater while the order they concern has not been processed.
MAY_WAIT = frozenset({"refund_created", "order_cancelled"})


def _apply_or_wait(
    session: Session, shop: Shop, event: InboundEvent, now: datetime, outcome: Outcome, *, consumer_group: str
) -> None:
    """Apply an event that may have to wait, in a savepoint: if it must wait, nothing of it stays (its dedupe row
    goes too, so a later try claims it again) and the batch goes on without it, instead of rolling back and being
    split down to it, once per waiting event."""
    savepoint = session.begin_nested()
    try:
        HANDLERS[event.event_type](session, shop, event, now, outcome)
    except RetryLater as waiting:
        savepoint.rollback()
        session.execute(
            delete(ProcessedEvent).where(
                ProcessedEvent.consumer_group == consumer_group, ProcessedEvent.event_id == event.event_id
            )
        )
        outcome.waiting = waiting
        return
    savepoint.commit()


def _batched_orders(
    session: Session, work: list[tuple[Shop, InboundEvent, Outcome]]
) -> tuple[list[order_batches.OrderItem], list[tuple[Shop, InboundEvent, Outcome]]]:
    """Split the batch's work: the order events of customers whose every event here the set-based path applies
    (order_batches), with their held profiles, and the rest, in order, for the handlers."""
    refused: set[tuple[int, str | None]] = set()
    chosen: list[tuple[Shop, InboundEvent, Outcome, OrderAmounts]] = []
    shop_settings: dict[int, tuple[bool, ReferralSettings]] = {}
    for shop, event, outcome in work:
        key = (shop.id, event.customer_id)
        if key in refused:
            continue
        if shop.id not in shop_settings:
            rules_fit = order_batches.rules_batchable(rulebook.active_rules(session, shop))
            shop_settings[shop.id] = (rules_fit, referral_settings(shop))
        if not _fits_batched_path(shop, event, *shop_settings[shop.id]):
            refused.add(key)
            continue
        # Before anything is written: Unprocessable names the bad field (the batch is split until it stands alone).
        chosen.append((shop, event, outcome, order_amounts(event.event_data)))
    chosen = [entry for entry in chosen if (entry[0].id, entry[1].customer_id) not in refused]
    profiles = take_held_profiles(session, {(shop.id, str(event.customer_id)) for shop, event, _, _ in chosen})
    items = [
        order_batches.OrderItem(
            shop,
            event,
            outcome,
            profiles[(shop.id, str(event.customer_id))],
            amounts,
            order_earning.rule_event_type(shop.orders_earn_on, event.event_type),
        )
        for shop, event, outcome, amounts in chosen
    ]
    taken = {id(item.outcome) for item in items}
    return items, [entry for entry in work if id(entry[2]) not in taken]


def _fits_batched_path(shop: Shop, event: InboundEvent, rules_fit: bool, referral: ReferralSettings) -> bool:
    """An order of a customer, to be credited, with no discount code and no referral code the shop's programme reads
    (so no conversion: referrals.referral_codes), in a shop whose rules only award points (`rules_fit`): what
    order_batches applies."""
    data = event.event_data
    if not rules_fit or event.event_type not in ORDER_EVENT_TYPES or event.customer_id is None or not data.get("id"):
        return False
    if not processes_event(shop, event.event_type) or _why_order_earns_nothing(shop, data) or _discount_codes(data):
        return False
    return not referrals.referral_codes(referral, data)


def _heard(session: Session, shop: Shop | None, event_type: str) -> bool:
    """Whether an app event the batch raises needs its trip through the stream: an active rule of its shop listens to
    it (see _handle_with_rules). A shop outside the batch is asked by the consumer that reads the event."""
    return shop is None or (processes_event(shop, event_type) and _listened_to(session, shop, event_type))


def _shops(session: Session, domains: set[str]) -> dict[str, Shop]:
    wanted = Shop.domain == any_(literal(sorted(domains), ARRAY(String)))  # one parameter for any number of shops
    return {shop.domain: shop for shop in session.execute(select(Shop).where(wanted)).scalars()}


def _claim(
    session: Session,
    events: Sequence[InboundEvent],
    shops: dict[str, Shop],
    *,
    consumer_group: str,
    now: datetime,
) -> set[Any]:
    """Insert the dedupe rows of the batch's events; return the ids this call claimed (the others were processed,
    or are being processed by another consumer, which this insert waits for)."""
    rows = [
        {
            "consumer_group": consumer_group,
            "event_id": event.event_id,
            "shop_id": shops[event.shop_domain].id,
            "processed_at": now,
        }
        for event in events
        if event.shop_domain in shops
    ]
    if not rows:
        return set()
    return {
        event_id
        for (event_id,) in insert_rows(session, ProcessedEvent.__table__, rows, conflict=(), returning=("event_id",))
    }


def _takes_profile(session: Session, shop: Shop, event: InboundEvent) -> bool:
    """Whether the event's handler creates and locks its customer's profile (so the batch locks it up front)."""
    if event.customer_id is None or not processes_event(shop, event.event_type):
        return False
    if event.event_type in ORDER_EVENT_TYPES:
        return bool(event.event_data.get("id"))
    if event.event_type == "order_cancelled":
        return True
    if event.event_type in HANDLERS:
        return False
    return event.event_type not in APP_EVENT_TYPES or _listened_to(session, shop, event.event_type)


def _finish(
    session: Session, work: list[tuple[Shop, InboundEvent, Outcome]], *, consumer_group: str, now: datetime
) -> None:
    if not work:
        return
    update_rows(
        session,
        ProcessedEvent.__table__,
        [
            {"consumer_group": consumer_group, "event_id": event.event_id, "outcome": outcome.summary()}
            for _, event, outcome in work
        ],
        match=("consumer_group", "event_id"),
    )
    update_rows(
        session,
        EventQueue.__table__,
        [{"event_id": event.event_id, "status": "processed", "processed_at": now} for _, event, _ in work],
        match=("event_id",),
        also="t.status = 'pending'",
    )


# --- handlers -------------------------------------------------------------------------------------------------


def _handle_order(session: Session, shop: Shop, event: InboundEvent, now: datetime, outcome: Outcome) -> None:
    order_id = str(event.event_data.get("id", ""))
    if not order_id:
        outcome.note = "order payload has no id"
        return
    amounts = order_amounts(event.event_data)  # before anything is written: Unprocessable names the bad field
    no_earning = _why_order_earns_nothing(shop, event.event_data)
    if event.customer_id is None or no_earning:
        # Recorded all the same, without a customer, so a refund or cancellation of it is known to concern nobody
        # rather than waited for; nothing counts in the customer's orders or spend.
        _record_order(session, shop, None, event, amounts, now)
        outcome.note = no_earning or "guest order: no customer to credit"
        return
    profile = lock_profile(session, shop_id=shop.id, customer_id=event.customer_id, now=now)
    contact = customer_facts.profile_changes(profile, event.event_data.get("customer") or {})
    # The ORM update in _record_order keeps this profile's counts (and contact fields) in step; no reload needed.
    first_sighting = _record_order(session, shop, profile, event, amounts, now, contact=contact)
    if not first_sighting:
        customer_facts.remember(profile, contact)
    if first_sighting:
        for code in _discount_codes(event.event_data):
            rewards.mark_used(session, shop_id=shop.id, code=code, order_id=order_id, now=now)
        # Before the rules, so `referred_customer` and `referral_advocate_points` see the referral (the conversion
        # expires the profile's referred_by_profile_id, which reloads when the facts read it).
        referrals.convert_from_order(
            session, shop=shop, friend_profile=profile, order=event.event_data, event_id=event.event_id, now=now
        )
    rule_event_type = order_earning.rule_event_type(shop.orders_earn_on, event.event_type)
    if rule_event_type is None:
        outcome.note = order_earning.recorded_only_note(shop.orders_earn_on, order_id)
        return
    earning = replace(event, event_type=rule_event_type)
    _evaluate_and_apply(session, shop, profile, earning, now, outcome, source=("order", order_id))


def _handle_with_rules(session: Session, shop: Shop, event: InboundEvent, now: datetime, outcome: Outcome) -> None:
    """Any other customer event: rules whose event_types include it may fire (e.g. a sign-up bonus)."""
    if event.customer_id is None:
        outcome.note = "event names no customer"
        return
    if event.event_type in APP_EVENT_TYPES and not _listened_to(session, shop, event.event_type):
        # The app's own events change nothing by themselves: without a rule for them, there is nothing to do.
        outcome.note = f"no active rule listens to {event.event_type}"
        return
    profile = lock_profile(session, shop_id=shop.id, customer_id=event.customer_id, now=now)
    customer_facts.remember(profile, customer_facts.customer_event_changes(profile, event.event_type, event.event_data))
    source = business_source(event.event_type, str(event.event_id), event.customer_id, event.event_data)
    _evaluate_and_apply(session, shop, profile, event, now, outcome, source=source)


def _listened_to(session: Session, shop: Shop, event_type: str) -> bool:
    return rulebook.listens_to(session, shop, event_type)


HANDLERS: dict[str, Callable[[Session, Shop, InboundEvent, datetime, Outcome], None]] = {
    **{event_type: _handle_order for event_type in ORDER_EVENT_TYPES},
    "refund_created": lifecycle.handle_refund,
    "order_cancelled": lifecycle.handle_cancellation,
    "customer_deleted": lifecycle.handle_customer_deleted,
    "customer_redact_requested": lifecycle.handle_customer_redact,
    "customer_data_requested": lifecycle.handle_data_request,
    "shop_redact_requested": lifecycle.handle_shop_redact,
    "app_uninstalled": lifecycle.handle_uninstalled,
    "app_scopes_updated": lifecycle.handle_scopes_update,
    "app_subscription_updated": lifecycle.handle_subscription_update,
}


# --- rules meet the ledger ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scope:
    """One event being applied to one customer: what every step below needs."""

    session: Session
    shop: Shop
    profile: CustomerLoyaltyProfile
    event: InboundEvent
    now: datetime
    outcome: Outcome
    source: tuple[str, str]


def _evaluate_and_apply(
    session: Session,
    shop: Shop,
    profile: CustomerLoyaltyProfile,
    event: InboundEvent,
    now: datetime,
    outcome: Outcome,
    *,
    source: tuple[str, str],
) -> None:
    scope = _Scope(session, shop, profile, event, now, outcome, source)
    rules = rulebook.active_rules(session, shop)
    if rules:
        evaluation = evaluate(rules, event_facts(session, shop=shop, profile=profile, event=event))
        outcome.rules_elapsed_ns = evaluation.elapsed_ns
        for decision in evaluation.decisions:
            _apply_decision(scope, decision)
        rulebook.record_executions(
            session, shop_id=shop.id, event_id=event.event_id, profile_id=profile.id, evaluation=evaluation, now=now
        )
    # Upgrades happen as soon as the threshold is met; downgrades wait for the period end (tiers.roll_period).
    tiers.evaluate_upgrade(session, shop=shop, profile=profile, now=now, reason=f"{event.event_type} {source[1]}")


def _apply_decision(scope: _Scope, decision: Decision) -> None:
    key = rule_credit_key(decision.rule_id, decision.action_index, scope.source)
    scope.outcome.decisions.append({"rule": decision.rule_name, "action": decision.type, "points": decision.points})
    if decision.type in POINT_ACTIONS and decision.points:
        # Points from an order wait for the shop's return window; other earnings are spendable at once.
        _credit(scope, decision, key, profile_id=scope.profile.id, kind="earn", hold=scope.source[0] == "order")
    elif decision.type == "referral_advocate_points" and decision.points and scope.profile.referred_by_profile_id:
        _credit(scope, decision, key, profile_id=scope.profile.referred_by_profile_id, kind="referral", hold=True)
    elif decision.type == "issue_reward":
        _issue_reward(scope, decision, key)
    elif decision.type in ("tag_customer", "webhook"):
        _stage_outward(scope, decision, key)


def _credit(scope: _Scope, decision: Decision, key: str, *, profile_id: int, kind: str, hold: bool) -> None:
    assert decision.points is not None
    result = ledger.credit(
        scope.session,
        shop=scope.shop,
        profile_id=profile_id,
        kind=kind,
        points=decision.points,
        idempotency_key=key,
        cause=ledger.Cause(
            "event", event_id=scope.event.event_id, rule_id=decision.rule_id, rule_version_id=decision.version_id
        ),
        now=scope.now,
        reason=decision.reason or decision.rule_name,
        source=scope.source,
        hold_for_return_window=hold,
    )
    if result.entry is not None:
        scope.outcome.points_credited += result.entry.points
    elif result.pending is not None:
        scope.outcome.points_pending += result.pending.points


def _issue_reward(scope: _Scope, decision: Decision, key: str) -> None:
    name = str(decision.params.get("reward", ""))
    reward_id = scope.session.execute(
        select(RewardDefinition.id).where(RewardDefinition.shop_id == scope.shop.id, RewardDefinition.name == name)
    ).scalar_one_or_none()
    if reward_id is None:
        # The rule names a reward the merchant has since removed: the rest of the event still applies.
        scope.outcome.note = f"rule {decision.rule_name!r} issues unknown reward {name!r}; skipped"
        return
    rewards.issue_reward(
        scope.session,
        shop=scope.shop,
        profile=scope.profile,
        reward_id=reward_id,
        idempotency_key=key,
        now=scope.now,
        granted_by_rule_id=decision.rule_id,
    )


def _stage_outward(scope: _Scope, decision: Decision, key: str) -> None:
    """Outward effects wait in the outbox until this transaction commits; Huey tasks drain it."""
    payload = {
        "customer_id": scope.profile.customer_id,
        "event_id": str(scope.event.event_id),
        "event_type": scope.event.event_type,
        "rule": decision.rule_name,
        "rule_version_id": decision.version_id,
        **dict(decision.params),
    }
    scope.session.execute(
        insert(Outbox)
        .values(shop_id=scope.shop.id, kind=f"rule.{decision.type}", dedupe_key=key, payload=payload)
        .on_conflict_do_nothing(index_elements=["shop_id", "dedupe_key"])
    )


# --- what an order changes ------------------------------------------------------------------------------------


def _discount_codes(order: dict[str, Any]) -> list[str]:
    codes = order.get("discount_codes")
    if not isinstance(codes, list):
        return []  # Shopify sends a list; anything else names no code (iterating it was a TypeError)
    return [str(code["code"]) for code in codes if isinstance(code, dict) and code.get("code")]


def _why_order_earns_nothing(shop: Shop, order: dict[str, Any]) -> str | None:
    """Why this order earns nothing and counts for no one, or None: a test order (unless the shop's
    `test_orders_earn` says otherwise) or an order that was already cancelled when this event was sent."""
    if order.get("test") is True and not shop.test_orders_earn:
        return "test order: earns nothing (the shop's test_orders_earn setting is off)"
    if order.get("cancelled_at"):
        return "order already cancelled: earns nothing"
    return None


def _record_order(
    session: Session,
    shop: Shop,
    profile: CustomerLoyaltyProfile | None,
    event: InboundEvent,
    amounts: OrderAmounts,
    now: datetime,
    *,
    contact: dict[str, Any] | None = None,
) -> bool:
    """Insert the order once; the first sighting counts it in the customer's orders and spend, and writes `contact`
    (changed contact fields) in the same statement (returns True)."""
    data = event.event_data
    inserted = session.execute(
        insert(Order)
        .values(
            shop_id=shop.id,
            profile_id=None if profile is None else profile.id,
            order_id=str(data["id"]),
            name=order_name(data),
            currency=amounts.currency,
            total=amounts.total,
            subtotal=amounts.subtotal,
            discount_codes=_discount_codes(data),
            placed_at=event.timestamp,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["shop_id", "order_id"])
        .returning(Order.id)
    ).scalar_one_or_none()
    if inserted is not None and profile is not None:
        session.execute(
            update(CustomerLoyaltyProfile)
            .where(CustomerLoyaltyProfile.id == profile.id)
            .values(
                orders_count=CustomerLoyaltyProfile.orders_count + 1,
                total_spent=CustomerLoyaltyProfile.total_spent + amounts.total,
                last_activity_at=now,
                updated_at=now,
                **(contact or {}),
            )
        )
    return inserted is not None
