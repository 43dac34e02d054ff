"""The rule list's rows (what each rule is, has issued and when it last fired) and the names of copies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.loyalty import rulebook
from app.models import Rule as RuleRow
from app.models import RuleExecution
from app.rules import RuleIssue, check_stored_rule

COPY_SUFFIX = " (copy)"


@dataclass(frozen=True)
class RuleRowView:
    """One line of the rule list."""

    id: int
    name: str
    status: str
    priority: int
    version: int
    event_types: list[str]
    schedule: dict[str, str]
    points_issued: int
    budget_points: int | None
    last_fired: datetime | None
    # Of a version stored under looser bounds: what keeps it from running, or the numbers it runs with past today's.
    cannot_run: tuple[RuleIssue, ...] = ()
    past_bounds: tuple[RuleIssue, ...] = ()

    @property
    def budget_used(self) -> str | None:
        """The share of the budget issued, as a percentage (None without a budget)."""
        if not self.budget_points:
            return None
        return f"{min(100, 100 * self.points_issued // self.budget_points)}%"


def rows(session: Session, *, shop_id: int) -> list[RuleRowView]:
    """The shop's rules, highest priority first, then by name."""
    last_fired = dict(
        session.execute(
            select(RuleExecution.rule_id, func.max(RuleExecution.created_at))
            .where(RuleExecution.shop_id == shop_id, RuleExecution.fired.is_(True))
            .group_by(RuleExecution.rule_id)
        ).all()
    )
    views = []
    for row, version in rulebook.current_versions(session, shop_id=shop_id):
        definition = version.definition
        check = check_stored_rule(definition)
        views.append(
            RuleRowView(
                id=row.id,
                name=row.name,
                status=row.status,
                priority=row.priority,
                version=row.current_version,
                event_types=list(definition.get("event_types", [])),
                schedule=dict(definition.get("schedule", {})),
                points_issued=row.points_issued,
                budget_points=(definition.get("limits") or {}).get("budget_points"),
                last_fired=last_fired.get(row.id),
                cannot_run=check.refused,
                past_bounds=check.past_bounds,
            )
        )
    return sorted(views, key=lambda view: (-view.priority, view.name))


def free_copy_name(session: Session, *, shop_id: int, name: str) -> str:
    """ "<name> (copy)", or "(copy 2)", "(copy 3)", … : the first the shop does not use yet."""
    taken = set(session.execute(select(RuleRow.name).where(RuleRow.shop_id == shop_id)).scalars())
    base = name.removesuffix(COPY_SUFFIX)
    candidate, number = f"{base}{COPY_SUFFIX}", 2
    while candidate in taken:
        candidate, number = f"{base} (copy {number})", number + 1
    return candidate
