"""Redemptions become real discount codes in Shopify (outbox kind `discount_code.create`), cancelled codes are
deactivated (`discount_code.deactivate`), and redemptions Shopify never confirmed are failed with their points
returned (`confirm_overdue`).

The payload (app/loyalty/rewards/discount_codes.create_payload) names the mutation and its input: amount or
percentage off and a 100% product discount through `discountCodeBasicCreate`, free shipping through
`discountCodeFreeShippingCreate`; `context` holds only the redeeming customer, usage limit 1, the reward's minimum
order and expiry. Never two codes for one redemption: an earlier attempt that may have written (a lost answer, a
worker that died mid-call) is looked up with `codeDiscountNodeByCode` before writing again, and a lost answer right
now is looked up before any retry.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert

from app.loyalty import rewards
from app.loyalty.base.errors import Conflict
from app.models import Outbox, RedemptionLog, Shop
from app.shopify.admin_api import OutcomeUnknown, RequestRefused, RetryLater, ShopUnavailable, UserErrors
from app.shopify.tokens import ShopNotConnected
from app.tasks.deliveries import DeliveryFailed, OutboxJob, Outward, handles

CREATE_KIND = "discount_code.create"
DEACTIVATE_KIND = "discount_code.deactivate"

# One document per mutation the payload may name: the argument name differs, the answer we need does not.
_CREATE = {
    "discountCodeBasicCreate": ("DiscountCodeBasicInput!", "basicCodeDiscount"),
    "discountCodeFreeShippingCreate": ("DiscountCodeFreeShippingInput!", "freeShippingCodeDiscount"),
}
FIND_CODE = """
query FindLoyaltyCode($code: String!) {
  codeDiscountNodeByCode(code: $code) { id }
}
"""


DEACTIVATE = """
mutation DeactivateLoyaltyCode($id: ID!) {
  discountCodeDeactivate(id: $id) {
    codeDiscountNode { id }
    userErrors { field code message }
  }
}
"""


def _create_document(mutation: str) -> str:
    input_type, argument = _CREATE[mutation]
    return (
        f"mutation CreateLoyaltyCode($input: {input_type}) {{\n"
        f"  {mutation}({argument}: $input) {{\n"
        "    codeDiscountNode { id }\n"
        "    userErrors { field code message }\n"
        "  }\n"
        "}\n"
    )


def find_code(outward: Outward, shop_domain: str, code: str) -> str | None:
    """The DiscountCodeNode id of `code` in the shop, or None when Shopify has no such code."""
    data = outward.api.query(shop_domain, FIND_CODE, {"code": code}, cost=1)
    node = data.get("codeDiscountNodeByCode")
    return node["id"] if isinstance(node, dict) else None


@handles(CREATE_KIND)
def create_code(job: OutboxJob, outward: Outward) -> None:
    redemption_id = int(job.payload["redemption_id"])
    code = str(job.payload["code"])
    with outward.sessions() as session:
        status = session.execute(
            select(RedemptionLog.status).where(RedemptionLog.id == redemption_id, RedemptionLog.shop_id == job.shop_id)
        ).scalar_one_or_none()
    if status != "pending":
        return  # settled by an earlier run, failed by the confirmation sweep, or gone with a redaction: nothing to do
    if job.attempts > 1:
        try:
            existing = find_code(outward, job.shop_domain, code)
        except ShopUnavailable as exc:
            # An earlier attempt may have written the code, so it is not refunded on this; and the create must not
            # wait for the shop as other kinds do (hours, hidden from the confirmation sweep): the usual back-off,
            # then the sweep decides.
            raise RetryLater(str(exc)) from None
        if existing is not None:
            _settle(outward, job, redemption_id, existing)
            return
    mutation = str(job.payload["mutation"])
    if mutation not in _CREATE:
        _fail(outward, job, redemption_id, f"unknown discount mutation {mutation!r}")
    try:
        created = outward.api.mutate(
            job.shop_domain, _create_document(mutation), {"input": job.payload["input"]}, payload=mutation
        )
    except OutcomeUnknown:
        existing = find_code(outward, job.shop_domain, code)
        if existing is None:
            raise RetryLater("the create was not answered and Shopify has no such code; create it again", 30) from None
        _settle(outward, job, redemption_id, existing)
        return
    except UserErrors as exc:
        if "TAKEN" in exc.codes:  # our own earlier write, answered too late for us to see
            existing = find_code(outward, job.shop_domain, code)
            if existing is not None:
                _settle(outward, job, redemption_id, existing)
                return
        _fail(outward, job, redemption_id, str(exc))
    except RequestRefused as exc:
        _fail(outward, job, redemption_id, str(exc))
    node = created.get("codeDiscountNode") or {}
    _settle(outward, job, redemption_id, node.get("id"))


def _settle(outward: Outward, job: OutboxJob, redemption_id: int, discount_id: str | None) -> None:
    with outward.sessions.begin() as session:
        try:
            rewards.settle(
                session,
                shop_id=job.shop_id,
                redemption_id=redemption_id,
                now=outward.clock(),
                shopify_discount_id=discount_id,
            )
        except Conflict as exc:
            # Failed meanwhile (the confirmation sweep skips leased rows, so only after a lease ran out): the code
            # exists but the points went back, so the code must not work. Stop it, and say so.
            conflict = exc
        else:
            return
    with outward.sessions.begin() as session:
        session.execute(
            insert(Outbox)
            .values(
                shop_id=job.shop_id,
                kind=DEACTIVATE_KIND,
                dedupe_key=f"redemption:{redemption_id}:deactivate",
                payload={"redemption_id": redemption_id, "code": None, "shopify_discount_id": discount_id},
            )
            .on_conflict_do_nothing(index_elements=["shop_id", "dedupe_key"])
        )
    raise DeliveryFailed(
        f"code {discount_id} exists but the redemption is no longer pending ({conflict}); deactivating it"
    )


@handles(DEACTIVATE_KIND)
def deactivate_code(job: OutboxJob, outward: Outward) -> None:
    """A cancelled code stops working in Shopify (deactivating twice is harmless, so a re-run is too)."""
    discount_id = job.payload.get("shopify_discount_id")
    if not discount_id and job.payload.get("code"):
        discount_id = find_code(outward, job.shop_domain, str(job.payload["code"]))
    if not discount_id:
        return  # Shopify has no such code: there is nothing to stop
    try:
        outward.api.mutate(job.shop_domain, DEACTIVATE, {"id": discount_id}, payload="discountCodeDeactivate")
    except UserErrors as exc:
        raise DeliveryFailed(str(exc)) from exc


def _fail(outward: Outward, job: OutboxJob, redemption_id: int, reason: str) -> None:
    """A definite refusal: the redemption fails and its points come back; the row is marked failed."""
    with outward.sessions.begin() as session:
        rewards.fail(session, shop_id=job.shop_id, redemption_id=redemption_id, reason=reason, now=outward.clock())
    raise DeliveryFailed(reason)


def confirm_overdue(outward: Outward, *, limit: int = 200) -> dict[str, int]:
    """Pending redemptions older than LOYALTY_REDEMPTION_CONFIRM_MINUTES whose create is not in flight: settled
    when Shopify has the code after all, else failed with their points returned and their create stopped.

    When Shopify cannot be asked right now the failure waits (a code may exist), but never past twice the limit.
    """
    now = outward.clock()
    limit_age = timedelta(minutes=outward.settings.redemption_confirm_minutes)
    found = {"settled": 0, "failed": 0, "waiting": 0}
    for redemption_id, shop_id, domain, code, created_at in _overdue(outward, now - limit_age, limit):
        job = OutboxJob(0, shop_id, domain, CREATE_KIND, {}, 0)
        try:
            existing = find_code(outward, domain, code)
        except ShopNotConnected:
            existing = None  # uninstalled: nothing can be created any more
        except (RetryLater, RequestRefused):
            if created_at > now - 2 * limit_age:
                found["waiting"] += 1
                continue
            existing = None
        if existing is not None:
            _settle(outward, job, redemption_id, existing)
            _close_create(outward, shop_id, redemption_id)
            found["settled"] += 1
            continue
        reason = f"Shopify did not confirm the code within {outward.settings.redemption_confirm_minutes} minutes"
        if _fail_unless_in_flight(outward, shop_id, redemption_id, reason):
            found["failed"] += 1
        else:
            found["waiting"] += 1
    return found


def _overdue(outward: Outward, created_before: datetime, limit: int) -> list[Any]:
    """Overdue pending redemptions whose create row is not leased right now (a delivery in flight decides itself)."""
    now = outward.clock()
    with outward.sessions() as session:
        return list(
            session.execute(
                select(
                    RedemptionLog.id, RedemptionLog.shop_id, Shop.domain, RedemptionLog.code, RedemptionLog.created_at
                )
                .join(Shop, Shop.id == RedemptionLog.shop_id)
                .outerjoin(
                    Outbox,
                    (Outbox.shop_id == RedemptionLog.shop_id)
                    & (Outbox.dedupe_key == "redemption:" + RedemptionLog.id.cast(Outbox.dedupe_key.type)),
                )
                .where(
                    RedemptionLog.status == "pending",
                    RedemptionLog.created_at <= created_before,
                    (Outbox.id.is_(None)) | (Outbox.status != "pending") | (Outbox.next_attempt_at <= now),
                )
                .order_by(RedemptionLog.created_at)
                .limit(limit)
            ).all()
        )


def _fail_unless_in_flight(outward: Outward, shop_id: int, redemption_id: int, reason: str) -> bool:
    """Fail the redemption and stop its create, in one transaction, unless a worker has claimed the create since
    we looked (then that delivery decides)."""
    now = outward.clock()
    with outward.sessions.begin() as session:
        create = session.execute(
            select(Outbox.id, Outbox.status, Outbox.next_attempt_at)
            .where(Outbox.shop_id == shop_id, Outbox.dedupe_key == f"redemption:{redemption_id}")
            .with_for_update()
        ).first()
        if create is not None and create.status == "pending" and create.next_attempt_at > now:
            return False
        rewards.fail(session, shop_id=shop_id, redemption_id=redemption_id, reason=reason, now=now)
        if create is not None and create.status == "pending":
            session.execute(
                update(Outbox).where(Outbox.id == create.id).values(status="failed", done_at=now, last_error=reason)
            )
    return True


def _close_create(outward: Outward, shop_id: int, redemption_id: int) -> None:
    with outward.sessions.begin() as session:
        session.execute(
            update(Outbox)
            .where(
                Outbox.shop_id == shop_id,
                Outbox.dedupe_key == f"redemption:{redemption_id}",
                Outbox.status == "pending",
            )
            .values(status="done", done_at=outward.clock())
        )
