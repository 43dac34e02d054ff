"""The rule list, and the changes made from it: status, priority and duplicates (each a new version, under the
optimistic lock, audited)."""

from __future__ import annotations

from typing import Any

from flask import abort, g, render_template, request

from app.admin.audit import record_change, staff_actor
from app.admin.rule_builder import rule_list
from app.admin.rule_builder.blueprint import bp, int_field, moved_on, now, refusal, rule_of_shop
from app.admin.rule_builder.editor_views import LABELS
from app.extensions import db
from app.loyalty import rulebook
from app.loyalty.rulebook import starter_rules
from app.rules import RuleValidationError, vocabulary
from app.rules.vocabulary import PRIORITY_RANGE
from app.shopify.admin_auth import admin_required


@bp.get("/")
@admin_required
def list_rules() -> str:
    """The shop's rules, highest priority first, with what each has issued and when it last fired."""
    rows = rule_list.rows(db.session, shop_id=g.shop.id)
    fragment = request.headers.get("HX-Request") and not request.headers.get("HX-Boosted")
    template = "admin/rules/_rows.html" if fragment else "admin/rules/index.html"
    return render_template(
        template, title="Rules", rows=rows, shop=g.shop, templates=starter_rules.TEMPLATES, labels=LABELS
    )


def _change(rule_id: int, change: Any, action: str):  # type: ignore[no-untyped-def]
    """Save a new version made from the current one by `change`, under the optimistic lock; the list's rows."""
    base_version = int_field("base_version")
    row = rule_of_shop(rule_id, lock=True)
    refused = moved_on(row, base_version)
    if refused is not None:
        return refused
    _, current = rulebook.get_version(db.session, shop_id=g.shop.id, name=row.name)
    definition = change(dict(current.definition))
    try:
        result = rulebook.save_rule(
            db.session, shop_id=g.shop.id, definition=definition, actor=staff_actor(), now=now()
        )
    except RuleValidationError as error:
        db.session.rollback()
        return refusal(f"Not saved: {error}", 422)
    record_change(action, ("rule", row.id), before=current.definition, after=result.version.definition)
    db.session.commit()
    rows = rule_list.rows(db.session, shop_id=g.shop.id)
    return render_template("admin/rules/_rows.html", rows=rows, shop=g.shop, labels=LABELS)


@bp.post("/<int:rule_id>/status")
@admin_required
def change_status(rule_id: int):  # type: ignore[no-untyped-def]
    """Activate, pause, archive or return a rule to draft (a new version)."""
    status = request.form.get("status", "")
    if status not in vocabulary.RULE_STATUSES:
        abort(400, description=f"status must be one of: {', '.join(vocabulary.RULE_STATUSES)} (not {status!r})")
    return _change(rule_id, lambda definition: {**definition, "status": status}, f"rule_{status}")


@bp.post("/<int:rule_id>/priority")
@admin_required
def change_priority(rule_id: int):  # type: ignore[no-untyped-def]
    """Set a rule's priority (higher runs first; a new version)."""
    priority = int_field("priority", *PRIORITY_RANGE)
    return _change(rule_id, lambda definition: {**definition, "priority": priority}, "rule_priority_changed")


@bp.post("/<int:rule_id>/duplicate")
@admin_required
def duplicate_rule(rule_id: int):  # type: ignore[no-untyped-def]
    """A copy of the rule's current version as a new draft named "<name> (copy)"."""
    row = rule_of_shop(rule_id)
    _, current = rulebook.get_version(db.session, shop_id=g.shop.id, name=row.name)
    name = rule_list.free_copy_name(db.session, shop_id=g.shop.id, name=row.name)
    definition = {**current.definition, "name": name, "status": "draft"}
    try:  # a version stored under looser bounds is copied only within today's
        result = rulebook.save_rule(
            db.session, shop_id=g.shop.id, definition=definition, actor=staff_actor(), now=now()
        )
    except RuleValidationError as error:
        db.session.rollback()
        return refusal(f"Not copied: {error}", 422)
    record_change("rule_duplicated", ("rule", result.rule.id), before={"copied_from": row.id}, after=definition)
    db.session.commit()
    rows = rule_list.rows(db.session, shop_id=g.shop.id)
    return render_template("admin/rules/_rows.html", rows=rows, shop=g.shop, labels=LABELS)
