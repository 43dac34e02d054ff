"""The storefront read model's fast path: one small query says who is asking and which version of their data
exists; answers are cached in Redis stamped with that version and served only when the stamp is the current one, so
a cached answer is never stale and nothing has to remember to invalidate it.

The version is PostgreSQL's `xmin` of the profile row and of the shop row: every commit that changes a balance,
pending points, lifetime points or a tier rewrites the profile row (ledger invariant L1: the stored balance changes in
the same transaction as the entry), and every change to the shop's settings, tiers or rewards rewrites the shop row
(the tier and reward triggers of migration 0004 bump `programme_revision`). A new row version has a new `xmin`, so
a kept answer's stamp stops matching at the commit. Tier progress over a calendar-year or rolling window also moves
with the clock: a calendar-year shop's stamps carry the year in the shop's time zone (its progress starts again at the
local new year, which in a zone half or three quarters of an hour off UTC falls inside a UTC hour), a rolling-window
shop's the quarter hour (points leave its window as time passes: an answer is at most 15 minutes behind them).

The answer's key needs no snapshot, so its read is sent to Redis (with the rate-limit counts, one command) before the
snapshot's query, and both round trips run at once.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from psycopg import OperationalError
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session

from app.graphql import shopper_keys
from app.loyalty.base.installation import Installation, installation_of
from app.loyalty.read_models import storefront
from app.loyalty.read_models.storefront import Programme
from app.models import Shop

# Operations whose answer depends only on the profile row, the shop row and the tier ladder.
CACHEABLE_OPERATIONS = frozenset({"GetLoyaltyProfile"})
# A bound on what an abandoned version keeps in Redis (a current one is rebuilt in one miss).
CACHE_SECONDS = 600

# Plain DB-API parameters: the query runs on the raw pooled connection (psycopg prepares it after a few uses).
_SNAPSHOT = """
    SELECT s.id, s.installed_at, s.uninstalled_at, s.tier_period, s.timezone, s.xmin::text AS shop_version,
           p.xmin::text AS profile_version
      FROM shops s
      LEFT JOIN customer_loyalty_profiles p ON p.shop_id = s.id AND p.customer_id = %(customer)s
     WHERE s.domain = %(domain)s
"""


@dataclass(frozen=True)
class Snapshot:
    shop_id: int | None
    installation: Installation
    tier_period: str | None
    timezone: str | None
    shop_version: str | None
    profile_version: str | None


_engines: dict[tuple[str, tuple[tuple[str, Any], ...]], Engine] = {}


def reads_engine(url: str, connect_args: dict[str, Any]) -> Engine:
    """The engine of the snapshot query, one per process and database: autocommit and no pre-ping, so the query is
    one round trip (the app's engine adds a ping, BEGIN and ROLLBACK around it). `connect_args`: the app's
    (Settings.database_connect_args)."""
    key = (url, tuple(sorted(connect_args.items())))
    if key not in _engines:
        _engines[key] = create_engine(
            url, isolation_level="AUTOCOMMIT", pool_size=4, max_overflow=8, connect_args=connect_args
        )
    return _engines[key]


@dataclass(frozen=True)
class _InstallDates:
    installed_at: datetime | None
    uninstalled_at: datetime | None


def _fetch(engine: Engine, parameters: dict[str, Any]) -> tuple[Any, ...] | None:
    connection = engine.raw_connection()
    try:
        with connection.cursor() as cursor:
            cursor.execute(_SNAPSHOT, parameters)
            return cursor.fetchone()
    except Exception:
        connection.invalidate()  # a broken or half-used connection never goes back to the pool
        raise
    finally:
        connection.close()


def snapshot(engine: Engine, *, shop_domain: str, customer_id: str | None) -> Snapshot:
    """The one query of a cached read: the shop's install state and the versions of the shop and profile rows."""
    parameters = {"domain": shop_domain, "customer": customer_id}
    try:
        row = _fetch(engine, parameters)
    except OperationalError:
        # A pooled connection the server closed (there is no pre-ping here): it was dropped, so try once more.
        row = _fetch(engine, parameters)
    if row is None:
        return Snapshot(None, Installation.NEVER_INSTALLED, None, None, None, None)
    shop_id, installed_at, uninstalled_at, tier_period, timezone, shop_version, profile_version = row
    installation = installation_of(_InstallDates(installed_at, uninstalled_at))
    return Snapshot(shop_id, installation, tier_period, timezone, shop_version, profile_version)


def cache_key(
    namespace: str, *, shop_domain: str, customer_id: str | None, operation_hash: str, variables: dict[str, Any] | None
) -> str:
    """Where the answer of this operation, for this shopper, is kept: the key needs no snapshot, so its read can be
    sent to Redis before the snapshot's query (the versions the answer was built from are stamped in the value)."""
    arguments = hashlib.sha256(json.dumps(variables or {}, sort_keys=True).encode()).hexdigest()[:16]
    prefix = shopper_keys.shopper_prefix(
        namespace, shopper_keys.CACHE, shop_domain=shop_domain, customer_id=customer_id
    )
    return f"{prefix}{operation_hash[:16]}:{arguments}"


def version(snap: Snapshot, now: datetime) -> bytes:
    """The versions an answer is current for: the shop and profile rows', and the tier window's clock (see above)."""
    if snap.tier_period in (None, "lifetime"):
        window = ""
    elif snap.tier_period == "calendar_year" and (zone := _zone(snap.timezone)) is not None:
        window = str(now.astimezone(zone).year)
    else:
        window = f"{now:%Y%m%d%H}{now.minute // 15}"
    return f"{snap.shop_version}.{snap.profile_version or '-'}.{window}".encode()


@lru_cache(maxsize=1024)
def _zone(name: str | None) -> ZoneInfo | None:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):  # a zone this machine lacks: the quarter-hour stamp still holds
        return None


def stamped(answer: bytes, current: bytes) -> bytes:
    return current + b"\n" + answer


def current_answer(kept: bytes | None, current: bytes) -> bytes | None:
    """A kept answer, when it was built from the versions the snapshot just read (else None: build it again)."""
    if kept is None:
        return None
    stamp, _, answer = kept.partition(b"\n")
    return answer if stamp == current else None


PROGRAMMES_MAX = 1_000
_programmes: OrderedDict[tuple[int, str], Programme] = OrderedDict()


def programme(session: Session, *, shop: Shop, shop_version: str | None) -> Programme:
    """The shop's public programme, kept in this process under the shop row's version: rules, rewards, tiers and
    settings all rewrite that row when they change (rules bump `rules_revision`, tiers and rewards
    `programme_revision`), so a kept programme is current for as long as its key is."""
    if shop_version is None:
        return storefront.programme(session, shop=shop)
    key = (shop.id, shop_version)
    kept = _programmes.get(key)
    if kept is None:
        kept = _programmes[key] = storefront.programme(session, shop=shop)
        while len(_programmes) > PROGRAMMES_MAX:
            _programmes.popitem(last=False)
    return kept
