"""Saving rules: every edit an immutable version, restores as new versions, and structured diffs between two.

Plain functions over the caller's Session: they add and flush, never commit. Every change to a shop's rules bumps
`shops.rules_revision` in the same transaction, which is what invalidates every process's cached rule set.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.loyalty.rulebook.store import find_rule, get_version
from app.models import Rule as RuleRow
from app.models import RuleVersion, Shop
from app.rules import parse_rule
from app.rules.diff import Change, diff_definitions


@dataclass(frozen=True)
class SaveResult:
    """What save_rule did: the rule row, its current version, and whether (and how) it changed."""

    rule: RuleRow
    version: RuleVersion
    changed: bool
    created: bool
    diff: list[Change] = field(default_factory=list)


def checksum(definition: dict[str, Any]) -> str:
    """Return the SHA-256 of the definition's canonical JSON (sorted keys, integral floats as integers)."""
    return hashlib.sha256(
        json.dumps(_canonical(definition), sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def save_rule(session: Session, *, shop_id: int, definition: dict[str, Any], actor: str, now: datetime) -> SaveResult:
    """Create or update the shop's rule named in `definition`; a changed rule gets a new immutable version.

    An identical definition (after normalization) changes nothing and does not bump the shop's rules_revision.
    Raises RuleValidationError (every issue with its JSON pointer) for an invalid rule.
    """
    rule = parse_rule(definition)
    normalized = rule.definition
    digest = checksum(normalized)
    row = find_rule(session, shop_id=shop_id, name=rule.name, lock=True)
    if row is None:
        row = RuleRow(
            shop_id=shop_id,
            name=rule.name,
            status=rule.status,
            priority=rule.priority,
            current_version=1,
            definition=normalized,
            points_issued=0,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        version = _add_version(session, row, normalized, digest, actor, now)
        _bump_revision(session, shop_id)
        return SaveResult(row, version, changed=True, created=True, diff=diff_definitions({}, normalized))
    _, current = get_version(session, shop_id=shop_id, name=row.name)
    if current.checksum == digest:
        return SaveResult(row, current, changed=False, created=False)
    row.current_version += 1
    row.definition, row.status, row.priority, row.updated_at = normalized, rule.status, rule.priority, now
    version = _add_version(session, row, normalized, digest, actor, now)
    _bump_revision(session, shop_id)
    return SaveResult(row, version, changed=True, created=False, diff=diff_definitions(current.definition, normalized))


def _add_version(
    session: Session, row: RuleRow, definition: dict[str, Any], digest: str, actor: str, now: datetime
) -> RuleVersion:
    version = RuleVersion(
        shop_id=row.shop_id,
        rule_id=row.id,
        version=row.current_version,
        definition=definition,
        checksum=digest,
        created_by=actor,
        created_at=now,
    )
    session.add(version)
    session.flush()
    return version


def _bump_revision(session: Session, shop_id: int) -> None:
    session.execute(update(Shop).where(Shop.id == shop_id).values(rules_revision=Shop.rules_revision + 1))


def restore_version(
    session: Session, *, shop_id: int, name: str, version: int, actor: str, now: datetime
) -> SaveResult:
    """Make an old version current again, as a new version (history is never rewritten)."""
    _, old = get_version(session, shop_id=shop_id, name=name, version=version)
    return save_rule(session, shop_id=shop_id, definition=old.definition, actor=actor, now=now)


def diff_versions(
    session: Session, *, shop_id: int, name: str, from_version: int, to_version: int | None = None
) -> list[Change]:
    """Return the changes from one version of a rule to another (the current one by default)."""
    _, old = get_version(session, shop_id=shop_id, name=name, version=from_version)
    _, new = get_version(session, shop_id=shop_id, name=name, version=to_version)
    return diff_definitions(old.definition, new.definition)
