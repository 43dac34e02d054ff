"""Finding, creating and locking customer profiles."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Select, String, any_, literal, select, tuple_
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.orm import Session, make_transient_to_detached

from app.loyalty.base.bulk import insert_rows, pairs_table
from app.models import CustomerLoyaltyProfile

# The profiles lock_profiles locked for the session's current transaction: (shop id, customer id) -> profile, and
# the keys already handed out once (a second hand-out reloads the row, as a fresh lock_profile would).
_HELD = "loyalty.held_profiles"
_HANDED_OUT = "loyalty.handed_out_profiles"
_COLUMNS = tuple(column.key for column in CustomerLoyaltyProfile.__table__.columns)


class HeldProfile:
    """A profile row lock_profiles locked, as plain attributes: every column of CustomerLoyaltyProfile under its own
    name, so code that reads a profile's columns reads one alike. A set-based batch changes it and writes it back with
    its own statements (take_held_profiles); loading the batch's rows as ORM objects instead cost about an eighth of a
    stream process's CPU. lock_profile turns one into the session's ORM object when an event needs that."""

    __slots__ = _COLUMNS

    def __init__(self, row: Any) -> None:
        for name in _COLUMNS:
            setattr(self, name, row[name])

    def as_model(self, session: Session) -> CustomerLoyaltyProfile:
        """The session's ORM object of this row, as if loaded by the lock (no round trip: the row is this)."""
        profile = CustomerLoyaltyProfile(**{name: getattr(self, name) for name in _COLUMNS})
        make_transient_to_detached(profile)
        return session.merge(profile, load=False)


def lock_profile(session: Session, *, shop_id: int, customer_id: str, now: datetime) -> CustomerLoyaltyProfile:
    """Return the customer's profile, created if new, locked FOR UPDATE until the caller's transaction ends.

    Every event takes this lock before rules look at history (L11): two events of one customer are serialized, so
    they can never both be "the first order". A profile that lock_profiles already locked in this transaction is
    returned without another round trip.
    """
    held_rows = session.info.get(_HELD, {})
    held = held_rows.get((shop_id, customer_id))
    if isinstance(held, HeldProfile):
        held = held_rows[(shop_id, customer_id)] = held.as_model(session)
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
) -> dict[tuple[int, str], HeldProfile]:
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
    columns = CustomerLoyaltyProfile.__table__.c
    query = (
        select(*columns)
        .where(tuple_(columns.shop_id, columns.customer_id).in_(select(wanted.c.shop_id, wanted.c.customer_id)))
        .order_by(columns.shop_id, columns.customer_id)
        .with_for_update()
    )
    held = {(row.shop_id, row.customer_id): HeldProfile(row._mapping) for row in session.execute(query)}
    session.info.setdefault(_HELD, {}).update(held)
    return held


def take_held_profiles(
    session: Session, customers: Iterable[tuple[int, str]]
) -> dict[tuple[int, str], HeldProfile | CustomerLoyaltyProfile]:
    """Hand these locked profiles over to a caller that keeps their state itself and writes it with its own
    statements (a set-based batch): they leave the session (the ORM never flushes them) and lock_profile no longer
    serves them from memory, so any later use in the transaction reads the row as written. The row locks stay."""
    held = session.info.get(_HELD, {})
    taken = {}
    for key in customers:
        profile = held.pop(key)
        if isinstance(profile, CustomerLoyaltyProfile) and profile in session:  # handed out to an event before
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
