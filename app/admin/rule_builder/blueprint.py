"""Blueprint "admin_rules" (`/admin/rules`), the rule builder's, and what its views share: the shop's rule by id
(another shop's is a 404, never a leak), whole-number fields, refusals for the page's banner. The views are in
editor_views, list_views, version_views and what_if_views, each behind `admin_required`.
"""

from __future__ import annotations

from datetime import datetime, timezone

from flask import abort, g, render_template, request
from sqlalchemy import select

from app.admin.shell import admin_blueprint
from app.extensions import db
from app.models import Rule as RuleRow
from app.models.base import MAX_INTEGER
from app.rules.values import is_ascii_digits

bp = admin_blueprint("admin_rules", __name__, "/admin/rules")
INTEGER_RANGE = (-MAX_INTEGER - 1, MAX_INTEGER)


def now() -> datetime:
    """The time of this request's change (UTC)."""
    return datetime.now(timezone.utc)


def rule_of_shop(rule_id: int, *, lock: bool = False) -> RuleRow:
    """The shop's rule by id; any other id (another shop's included) is a 404."""
    query = select(RuleRow).where(RuleRow.id == rule_id, RuleRow.shop_id == g.shop.id)
    if lock:  # the row as it is now, under the lock, even when this session loaded it before
        query = query.with_for_update().execution_options(populate_existing=True)
    row = db.session.execute(query).scalar_one_or_none()
    if row is None:
        abort(404, description=f"rule {rule_id} does not exist in this shop")
    return row


def int_field(name: str, minimum: int = INTEGER_RANGE[0], maximum: int = INTEGER_RANGE[1]) -> int:
    """A whole-number field of the request, from `minimum` to `maximum` (an INTEGER column's range unless given: the
    fields name versions and priorities, and PostgreSQL refuses to bind a number its column cannot hold rather than
    find nothing); 400 saying what was sent otherwise."""
    value = request.values.get(name, "")
    text = value.strip()
    if not is_ascii_digits(text.removeprefix("-")):
        abort(400, description=f"{name} must be a whole number, not {value!r}")
    number = int(text)
    if not minimum <= number <= maximum:
        abort(400, description=f"{name} must be a whole number from {minimum:,} to {maximum:,}, not {value!r}")
    return number


def refusal(message: str, status: int, tone: str = "critical") -> tuple[str, int, dict[str, str]]:
    """A refusal the page shows in its banner area (htmx swaps 409 and 422 answers, wherever the request came from);
    other errors answer JSON, which the shell shows as a toast."""
    body = render_template("admin/rules/_banner.html", message=message, tone=tone)
    return body, status, {"HX-Retarget": "#rb-banner", "HX-Reswap": "innerHTML"}


def moved_on(row: RuleRow, base_version: int) -> tuple[str, int, dict[str, str]] | None:
    """The 409 refusal when the rule has a newer version than the page's (the transaction rolled back), else None."""
    if row.current_version == base_version:
        return None
    db.session.rollback()
    return refusal(
        f"{row.name!r} changed since this page was loaded (now version {row.current_version}); reload and try again.",
        409,
    )
