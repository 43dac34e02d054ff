"""Reading stored rules: a version compiled once, and the shop's active rule set cached per process by revision.

Invalidation across processes: every rule change bumps `shops.rules_revision` in the same transaction, and the
cache is keyed by (shop id, revision), so the first event a process handles after the commit reloads the set.

A stored version is read with the bounds it may run past (`parse_stored_rule`): one saved while a bound was looser
runs as saved when that is safe. One that cannot run is left out of the set, alone: the shop's other rules still
run, and the version is logged once per process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.loyalty.base.errors import NotFound
from app.models import Rule as RuleRow
from app.models import RuleVersion, Shop
from app.rules import CompiledRule, RuleSet, RuleValidationError, compile_rule, parse_stored_rule

COMPILED_CACHE_SIZE = 10_000

log = logging.getLogger(__name__)
_lock = threading.Lock()
# Keys name the row and its content, so a reused id (a restored or re-created database) never serves stale rules.
_compiled: dict[tuple[int, int, str], CompiledRule] = {}  # (version id, rule id, checksum) -> compiled
_not_run: set[tuple[int, int, str]] = set()  # versions left out of their shop's set, already logged
_active: dict[int, tuple[tuple[Any, ...], RuleSet]] = {}  # shop id -> ((created_at, rules_revision), rule set)


class RuleNotFound(NotFound):
    """No rule (or version) by that name in this shop."""

    def __init__(self, name: str, version: int | None = None) -> None:
        self.name, self.version = name, version
        detail = f" version {version}" if version is not None else ""
        super().__init__(f"no rule named {name!r}{detail} in this shop")


def compiled_version(version: RuleVersion, rule_id: int) -> CompiledRule:
    """Return the stored version compiled (once per process per version id), as saved when it was saved under
    looser bounds and still runs safely; RuleValidationError says what keeps it from running."""
    key = (version.id, rule_id, version.checksum)
    compiled = _compiled.get(key)
    if compiled is None:
        compiled = compile_rule(
            parse_stored_rule(version.definition), rule_id=rule_id, version_id=version.id, version=version.version
        )
        with _lock:
            if len(_compiled) >= COMPILED_CACHE_SIZE:
                _compiled.clear()
            _compiled[key] = compiled
    return compiled


def current_versions(
    session: Session, *, shop_id: int, names: Iterable[str] | None = None, statuses: Iterable[str] | None = None
) -> list[tuple[RuleRow, RuleVersion]]:
    """Return (rule, its current version) pairs of the shop, by name, optionally filtered by name and status."""
    query = (
        select(RuleRow, RuleVersion)
        .join(RuleVersion, (RuleVersion.rule_id == RuleRow.id) & (RuleVersion.version == RuleRow.current_version))
        .where(RuleRow.shop_id == shop_id)
        .order_by(RuleRow.name)
    )
    if names is not None:
        query = query.where(RuleRow.name.in_(list(names)))
    if statuses is not None:
        query = query.where(RuleRow.status.in_(list(statuses)))
    return [(row, version) for row, version in session.execute(query).all()]


def active_rules(session: Session, shop: Shop) -> RuleSet:
    """Return the shop's active rules compiled, from this process's cache unless shops.rules_revision moved.

    A version that cannot run (a number past a bound that keeps arithmetic in range, saved before the bound) is
    left out and the others run: one stored row never stops a shop's rules, nor fails its events.
    """
    revision = (shop.created_at, shop.rules_revision)
    cached = _active.get(shop.id)
    if cached is not None and cached[0] == revision:
        return cached[1]
    pairs = current_versions(session, shop_id=shop.id, statuses=["active"])
    ruleset = RuleSet(rule for row, version in pairs if (rule := _runnable(shop, row, version)) is not None)
    with _lock:
        _active[shop.id] = (revision, ruleset)
    return ruleset


def _runnable(shop: Shop, row: RuleRow, version: RuleVersion) -> CompiledRule | None:
    """The version compiled, or None (logged once per process) when it cannot run."""
    try:
        return compiled_version(version, row.id)
    except RuleValidationError as error:
        key = (version.id, row.id, version.checksum)
        if key not in _not_run:
            with _lock:
                if len(_not_run) >= COMPILED_CACHE_SIZE:
                    _not_run.clear()
                _not_run.add(key)
            log.warning(
                "rule %r (id %s, version %s) of shop %s is not run, the shop's other rules are: %s",
                row.name,
                row.id,
                version.version,
                shop.domain,
                "; ".join(str(issue) for issue in error.issues),
            )
        return None


def listens_to(session: Session, shop: Shop, event_type: str) -> bool:
    """Whether an active rule of the shop reacts to this event type."""
    return any(rule.status == "active" and event_type in rule.event_types for rule in active_rules(session, shop))


def find_rule(session: Session, *, shop_id: int, name: str, lock: bool = False) -> RuleRow | None:
    """Return the shop's rule by name (locked FOR UPDATE when asked), or None."""
    query = select(RuleRow).where(RuleRow.shop_id == shop_id, RuleRow.name == name)
    if lock:
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def get_version(
    session: Session, *, shop_id: int, name: str, version: int | None = None
) -> tuple[RuleRow, RuleVersion]:
    """Return the rule and one of its versions (the current one by default); RuleNotFound otherwise."""
    row = find_rule(session, shop_id=shop_id, name=name)
    if row is None:
        raise RuleNotFound(name)
    number = row.current_version if version is None else version
    found = session.execute(
        select(RuleVersion).where(RuleVersion.rule_id == row.id, RuleVersion.version == number)
    ).scalar_one_or_none()
    if found is None:
        raise RuleNotFound(name, number)
    return row, found


def version_summary(row: RuleRow, version: RuleVersion) -> dict[str, Any]:
    """Return what `rules list/show` print about a rule version."""
    return {
        "id": row.id,
        "name": row.name,
        "status": row.status,
        "priority": row.priority,
        "version": version.version,
        "current_version": row.current_version,
        "checksum": version.checksum,
        "created_by": version.created_by,
        "created_at": version.created_at.isoformat(),
        "points_issued": row.points_issued,
        "definition": version.definition,
    }
