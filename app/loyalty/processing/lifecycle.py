"""Events that change what was already earned or held, without rules: refunds, cancellations, customer deletions,
GDPR requests and uninstalls. Each handler runs inside process_event's transaction and fills in its Outcome."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, func, literal, literal_column, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.loyalty import gdpr, ledger, referrals
from app.loyalty.base import plans
from app.loyalty.base.errors import InvalidInput
from app.loyalty.base.inbound import InboundEvent
from app.loyalty.base.installation import Installation, installation_of
from app.loyalty.base.outcome import Outcome, RetryLater, Unprocessable
from app.loyalty.ledger.profiles import lock_existing_profile, lock_profile_by_id
from app.loyalty.processing.customer_facts import CONTACT_FIELDS
from app.models import EventQueue, Order, Outbox, Shop
from app.models.events import WAITING_ORDERS

# How long a refund or cancellation waits for its order: Shopify may deliver a webhook up to a day late.
ORDER_WAIT = timedelta(hours=25)


def handle_refund(session: Session, shop: Shop, event: InboundEvent, now: datetime, outcome: Outcome) -> None:
    """refunds/create names the order, not the customer: the order row says whose points to take back."""
    order_id = str(event.event_data.get("order_id") or "")
    refund_id = str(event.event_data.get("id") or "")
    order = session.execute(
        select(Order).where(Order.shop_id == shop.id, Order.order_id == order_id)
    ).scalar_one_or_none()
    if order is None:
        _wait_for_order(session, shop, order_id, event, now, outcome)
        return
    if order.profile_id is None:
        outcome.note = f"refund {refund_id} of guest order {order_id}: nothing was earned"
        return
    profile = lock_profile_by_id(session, shop_id=shop.id, profile_id=order.profile_id)
    try:
        amount = ledger.refund_amount(event.event_data)
    except InvalidInput as exc:
        raise Unprocessable(f"refund {refund_id}: {exc}") from exc
    result = ledger.apply_refund(
        session,
        shop=shop,
        profile=profile,
        order_id=order_id,
        refund_id=refund_id,
        refunded_amount=amount.amount,
        basis=amount.basis,
        event_id=event.event_id,
        now=now,
    )
    outcome.points_credited -= result.points_reversed
    outcome.note = f"refund {refund_id}: {result.points_claimed} points taken back" + (
        " (already applied)" if result.duplicate else ""
    )
    if ledger.fully_refunded(session, shop_id=shop.id, order_id=order_id):
        referrals.reverse_for_order(
            session,
            shop=shop,
            order_id=order_id,
            event_id=event.event_id,
            now=now,
            reason=f"the referred order {order_id} was refunded in full",
        )


def handle_cancellation(session: Session, shop: Shop, event: InboundEvent, now: datetime, outcome: Outcome) -> None:
    """orders/cancelled: what the order earned goes back from the customer the order row says it credited. The
    payload's customer is not that one when the merchant changed or removed the order's customer in Shopify admin
    since (orders/updated then names the new one); the points stay with whoever earned them until then."""
    order_id = str(event.event_data.get("id") or "")
    order = session.execute(
        select(Order).where(Order.shop_id == shop.id, Order.order_id == order_id)
    ).scalar_one_or_none()
    if order is None and event.customer_id is not None:
        _wait_for_order(session, shop, order_id, event, now, outcome)
        return
    if order is None or order.profile_id is None:
        outcome.note = "guest order cancelled: nothing was earned"
        return
    profile = lock_profile_by_id(session, shop_id=shop.id, profile_id=order.profile_id)
    result = ledger.apply_cancellation(
        session, shop=shop, profile=profile, order_id=order_id, event_id=event.event_id, now=now
    )
    outcome.points_credited -= result.points_reversed
    outcome.note = f"order {order_id} cancelled: {result.points_claimed} points taken back" + (
        f" from customer {profile.customer_id}, who earned them" if profile.customer_id != event.customer_id else ""
    )
    referrals.reverse_for_order(
        session,
        shop=shop,
        order_id=order_id,
        event_id=event.event_id,
        now=now,
        reason=f"the referred order {order_id} was cancelled",
    )


def _wait_for_order(
    session: Session, shop: Shop, order_id: str, event: InboundEvent, now: datetime, outcome: Outcome
) -> None:
    """Webhooks of different topics arrive in any order, and up to a day late: a refund or cancellation of an order
    not recorded yet waits for it (the consumer retries with back-off) while the order's event is queued, or for
    ORDER_WAIT after this event was sent. After that the order predates the install: nothing to take back.

    When the order's event was dead-lettered instead, waiting cannot help: this event is dead-lettered at once too,
    so that replaying the order and then it takes back what the replayed order earns."""
    statuses = set(
        session.execute(
            select(EventQueue.status)
            .where(
                EventQueue.shop_id == shop.id,
                # ix_event_queue_queued_orders' own predicate, and its expression with the JSON key 'id', as literals:
                # the planner matches them to the index in any plan, a generic one included, where bound lists or a
                # bound key would be unknowns it cannot match.
                text(WAITING_ORDERS),
                literal_column("(event_queue.payload ->> 'id')") == order_id,
            )
            .distinct()
        ).scalars()
    )
    if "pending" in statuses:
        raise RetryLater(f"order {order_id} has not been processed yet")
    if "dead" in statuses:
        raise Unprocessable(f"order_id {order_id}: that order's event was dead-lettered; replay it, then this one")
    if now - event.timestamp < ORDER_WAIT:
        raise RetryLater(f"order {order_id} has not been processed yet")
    outcome.note = f"order {order_id} was never recorded (placed before the install): nothing to take back"


def handle_customer_deleted(session: Session, shop: Shop, event: InboundEvent, now: datetime, outcome: Outcome) -> None:
    """customers/delete: the customer is gone from Shopify (which deletes only customers without orders). The
    profile stays, so its ledger and the shop's liability keep adding up, but is marked deleted and loses its
    contact fields and tags: nothing is left to show, sync or evaluate. A later payload never writes them back
    (customer_facts). Deleting a customer we never saw creates nothing."""
    if event.customer_id is None:
        outcome.note = "customers/delete names no customer id"
        return
    profile = lock_existing_profile(session, shop_id=shop.id, customer_id=event.customer_id)
    if profile is None:
        outcome.note = "customer deleted in Shopify: no loyalty profile to mark"
        return
    if profile.deleted_at is None:
        profile.deleted_at = now
    for column in CONTACT_FIELDS:
        setattr(profile, column, None)
    profile.tags = []
    profile.updated_at = now
    session.flush()
    outcome.note = f"customer deleted in Shopify: profile kept for its ledger ({profile.points_balance} points)"


def handle_customer_redact(session: Session, shop: Shop, event: InboundEvent, now: datetime, outcome: Outcome) -> None:
    customer = event.event_data.get("customer") or {}
    if event.customer_id is None:
        outcome.note = "customers/redact names no customer id"
        return
    # Locks the profile if there is one; a customer never seen gets none created just to be redacted (their
    # mentions elsewhere, inbox payloads included, are still scrubbed).
    lock_existing_profile(session, shop_id=shop.id, customer_id=event.customer_id)
    gdpr.redact_customer(
        session,
        shop_id=shop.id,
        customer_id=event.customer_id,
        now=now,
        email=_contact(customer.get("email")),
        phone=_contact(customer.get("phone")),
        orders_to_redact=_order_ids(event.event_data.get("orders_to_redact")),
    )
    outcome.note = "customer redacted"


def _contact(value: object) -> str | None:
    """An email or phone as customers/redact names it, to search for: Shopify sends strings; a number is searched as
    its digits, anything else is left out. The redaction goes ahead on the customer's id whatever they are."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _order_ids(value: object) -> list[str | int]:
    """orders_to_redact as Shopify sends it (a list of order ids); ids of another shape are left out."""
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, (str, int)) and not isinstance(item, bool)]


def handle_data_request(session: Session, shop: Shop, event: InboundEvent, now: datetime, outcome: Outcome) -> None:
    """customers/data_request: the export goes to the merchant (not the shopper), staged for delivery."""
    if event.customer_id is None:
        outcome.note = "customers/data_request names no customer id"
        return
    export = gdpr.export_customer(session, shop_id=shop.id, customer_id=event.customer_id)
    request_id = str((event.event_data.get("data_request") or {}).get("id") or event.event_id)
    session.execute(
        insert(Outbox)
        .values(
            shop_id=shop.id,
            kind="gdpr.data_request",
            dedupe_key=f"data_request:{request_id}",
            payload={"data_request_id": request_id, "customer_id": event.customer_id, "export": export},
        )
        .on_conflict_do_nothing(index_elements=["shop_id", "dedupe_key"])
    )
    outcome.note = "customer data export staged for the merchant"


def handle_shop_redact(session: Session, shop: Shop, event: InboundEvent, now: datetime, outcome: Outcome) -> None:
    """shop/redact: Shopify asks for the shop's data 48 hours after an uninstall. A shop installed again since then
    keeps everything: the merchant came back to their programme, and the request was about the install they left
    (should they uninstall again, Shopify asks again 48 hours after that uninstall).

    The shop row is locked and read afresh: a reinstall committed since the batch read the shop is seen here."""
    current = session.execute(
        select(Shop).where(Shop.id == shop.id).with_for_update().execution_options(populate_existing=True)
    ).scalar_one()
    if installation_of(current) is Installation.INSTALLED:
        outcome.note = "shop/redact not applied: the shop was installed again since its uninstall; its data is kept"
        return
    gdpr.redact_shop(session, shop_id=shop.id)
    outcome.note = "shop and all its data deleted"


def handle_uninstalled(session: Session, shop: Shop, event: InboundEvent, now: datetime, outcome: Outcome) -> None:
    """Shopify already revoked the tokens; drop ours and stop work until a reinstall. Data stays until shop/redact.

    A repeated app/uninstalled keeps the first uninstall time. Uninstalling also cancels the app's subscription
    (Shopify's AppSubscriptionStatus CANCELLED: "caused by the app being uninstalled"), and an app_subscriptions/update
    saying so would be recorded, not processed, for the uninstalled shop: so it is recorded here, and a reinstall
    within the 48 hours keeps the shop's data, not a paid plan it no longer pays for.
    """
    session.execute(
        update(Shop)
        .where(Shop.id == shop.id)
        .values(
            uninstalled_at=func.coalesce(Shop.uninstalled_at, now),
            access_token=None,
            refresh_token=None,
            access_token_expires_at=None,
            refresh_token_expires_at=None,
            subscription_status=case(
                (Shop.subscription_status.in_(plans.ENDED), Shop.subscription_status),
                (Shop.subscription_id.is_(None), Shop.subscription_status),
                else_=literal("CANCELLED"),
            ),
        )
    )
    outcome.note = "shop uninstalled"


def handle_scopes_update(session: Session, shop: Shop, event: InboundEvent, now: datetime, outcome: Outcome) -> None:
    """app/scopes_update: the merchant granted or revoked scopes; `current` lists the ones granted now."""
    current = event.event_data.get("current")
    if not isinstance(current, list) or not all(isinstance(scope, str) for scope in current):
        outcome.note = "app/scopes_update carries no list of current scopes; nothing changed"
        return
    session.execute(update(Shop).where(Shop.id == shop.id).values(scopes=",".join(current)))
    outcome.note = f"granted scopes now: {','.join(current) or '(none)'}"


def handle_subscription_update(
    session: Session, shop: Shop, event: InboundEvent, now: datetime, outcome: Outcome
) -> None:
    """app_subscriptions/update: a subscription of the shop changed status (approved, cancelled, frozen, …); its
    created_at and updated_at let plans.apply_subscription ignore one older than what is recorded."""
    subscription = event.event_data.get("app_subscription")
    fields = ("admin_graphql_api_id", "name", "status")
    if not isinstance(subscription, dict) or not all(isinstance(subscription.get(key), str) for key in fields):
        outcome.note = "app_subscriptions/update carries no app_subscription id, name and status; nothing changed"
        return
    outcome.note = plans.apply_subscription(
        shop,
        subscription_id=subscription["admin_graphql_api_id"],
        name=subscription["name"],
        status=subscription["status"].upper(),
        created_at=plans.subscription_time(subscription.get("created_at")),
        updated_at=plans.subscription_time(subscription.get("updated_at")),
    )
    session.flush()
