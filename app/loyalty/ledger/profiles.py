"""Finding, creating and locking customer profiles."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import BigInteger, Select, String, any_, literal, select, tuple_
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.orm import Session

from app.loyalty.base.bulk import insert_rows, pairs_table
from app.models import CustomerLoyaltyProfile

# The profiles lock_profiles locked for the session's current transaction: (shop id, customer id) -> profile, and
# the keys already handed out once (a second hand-out reloads the row, as a fresh lock_profile would).
_HELD = "loyalty.held_profiles"
_HANDED_OUT = "loyalty.handed_out_profiles"


def lock_profile(session: Session, *, shop_id: int, customer_id: str, now: datetime) -> CustomerLoyaltyProfile:
    """Return the customer's profile, created if new, locked FOR UPDATE until the caller's transaction ends.

    Every event takes this lock before rules look at history (L11): two events of one customer are serialized, so
    they can never both be "the first order". A profile that lock_profiles already locked in this transaction is
    returned without another round trip.
    """
    held = session.info.get(_HELD, {}).get((shop_id, customer_id))
    if held is not None:
        if held not in session:
            session.add(held)  # the batch clears the session between events; the row lock is still ours
        handed_out = session.info.setdefault(_HANDED_OUT, set())
        if (shop_id, customer_id) in handed_out:
            # An earlier event of this batch changed the row: see it as that event left it.
            session.flush()
            session.refresh(held)
        handed_out.add((shop_id, customer_id))
        return held
    session.execute(
        insert(CustomerLoyaltyProfile)
        .values(shop_id=shop_id, customer_id=customer_id, created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=["shop_id", "customer_id"])
    )
    return session.execute(_locked(_of_customer(shop_id, customer_id))).scalar_one()


def lock_profiles(
    session: Session, customers: Iterable[tuple[int, str]], *, now: datetime
) -> dict[tuple[int, str], CustomerLoyaltyProfile]:
    """Create (when new) and lock FOR UPDATE the profiles of these (shop id, customer id) pairs, two statements for
    any number, until the caller's transaction ends; lock_profile then returns them without a round trip.

    Rows are created and locked in one order, (shop id, customer id), which every batch uses: two batches that share
    customers wait for each other instead of deadlocking. Call release_profiles before the session's next transaction.
    """
    keys = sorted(set(customers))
    if not keys:
        return {}
    insert_rows(
        session,
        CustomerLoyaltyProfile.__table__,
        [{"shop_id": s, "customer_id": c, "created_at": now, "updated_at": now} for s, c in keys],
        conflict=("shop_id", "customer_id"),
    )
    wanted = pairs_table(keys, (BigInteger(), String()), ("shop_id", "customer_id"))
    query = (
        select(CustomerLoyaltyProfile)
        .where(
            tuple_(CustomerLoyaltyProfile.shop_id, CustomerLoyaltyProfile.customer_id).in_(
                select(wanted.c.shop_id, wanted.c.customer_id)
            )
        )
        .order_by(CustomerLoyaltyProfile.shop_id, CustomerLoyaltyProfile.customer_id)
    )
    held = {(p.shop_id, p.customer_id): p for p in session.execute(_locked(query)).scalars()}
    session.info.setdefault(_HELD, {}).update(held)
    return held


def take_held_profiles(
    session: Session, customers: Iterable[tuple[int, str]]
) -> dict[tuple[int, str], CustomerLoyaltyProfile]:
    """Hand these locked profiles over to a caller that keeps their state itself and writes it with its own
    statements (a set-based batch): they leave the session (the ORM never flushes them) and lock_profile no longer
    serves them from memory, so any later use in the transaction reads the row as written. The row locks stay."""
    held = session.info.get(_HELD, {})
    taken = {}
    for key in customers:
        profile = held.pop(key)
        if profile in session:
            session.expunge(profile)
        taken[key] = profile
    return taken


def release_profiles(session: Session) -> None:
    """Forget what lock_profiles locked (the transaction that held the locks has ended, or is about to)."""
    session.info.pop(_HELD, None)
    session.info.pop(_HANDED_OUT, None)


def lock_profiles_by_id(session: Session, *, shop_id: int, profile_ids: Iterable[int]) -> None:
    """Lock FOR UPDATE these profiles of the shop until the caller's transaction ends, in one statement and in the
    order lock_profiles and every stream batch lock in, (shop id, customer id), whatever order the ids come in."""
    ids = sorted(set(profile_ids))
    if ids:
        session.execute(
            select(CustomerLoyaltyProfile.id)
            .where(
                CustomerLoyaltyProfile.shop_id == shop_id,
                CustomerLoyaltyProfile.id == any_(literal(ids, ARRAY(BigInteger))),
            )
            .order_by(CustomerLoyaltyProfile.shop_id, CustomerLoyaltyProfile.customer_id)
            .with_for_update()
        )


def lock_existing_profile(session: Session, *, shop_id: int, customer_id: str) -> CustomerLoyaltyProfile | None:
    """The customer's profile locked FOR UPDATE (L4), or None: never creates one (for a request that may be
    refused and must then leave nothing behind)."""
    return session.execute(_locked(_of_customer(shop_id, customer_id))).scalar_one_or_none()


def lock_profile_by_id(session: Session, *, shop_id: int, profile_id: int) -> CustomerLoyaltyProfile:
    """The profile with this id in this shop, locked FOR UPDATE until the caller's transaction ends.

    For callers that reach a profile through another row (an order, a redemption, a referral, a ledger source).
    Raises NoResultFound if the profile is not this shop's.
    """
    query = select(CustomerLoyaltyProfile).where(
        CustomerLoyaltyProfile.id == profile_id, CustomerLoyaltyProfile.shop_id == shop_id
    )
    return session.execute(_locked(query)).scalar_one()


def find_profile(session: Session, *, shop_id: int, customer_id: str) -> CustomerLoyaltyProfile | None:
    """The customer's profile in this shop, or None; never another shop's."""
    return session.execute(_of_customer(shop_id, customer_id)).scalar_one_or_none()


def _of_customer(shop_id: int, customer_id: str) -> Select[tuple[CustomerLoyaltyProfile]]:
    return select(CustomerLoyaltyProfile).where(
        CustomerLoyaltyProfile.shop_id == shop_id, CustomerLoyaltyProfile.customer_id == customer_id
    )


def _locked(query: Select[tuple[CustomerLoyaltyProfile]]) -> Select[tuple[CustomerLoyaltyProfile]]:
    # populate_existing: a profile already in the session is refreshed with the row as locked, not served stale.
    return query.with_for_update().execution_options(populate_existing=True)
