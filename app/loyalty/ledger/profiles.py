"""Finding, creating and locking customer profiles."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.models import CustomerLoyaltyProfile


def lock_profile(session: Session, *, shop_id: int, customer_id: str, now: datetime) -> CustomerLoyaltyProfile:
    """Return the customer's profile, created if new, locked FOR UPDATE until the caller's transaction ends.

    Every event takes this lock before rules look at history (L11): two events of one customer are serialized, so
    they can never both be "the first order".
    """
    session.execute(
        insert(CustomerLoyaltyProfile)
        .values(shop_id=shop_id, customer_id=customer_id, created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=["shop_id", "customer_id"])
    )
    return session.execute(_locked(_of_customer(shop_id, customer_id))).scalar_one()


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
