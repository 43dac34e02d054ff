"""A rule's versions: who saved each when, the structured diff between two, and restoring one as a new version."""

from __future__ import annotations

from flask import abort, g, render_template

from app.admin.audit import record_change, staff_actor
from app.admin.rule_builder.blueprint import bp, int_field, moved_on, now, rule_of_shop
from app.admin.rule_builder.diff_view import describe_changes
from app.admin.rule_builder.drafts import (
    Draft,
    shown_in,
)
from app.admin.rule_builder.editor_views import editor_context, versions_context
from app.extensions import db
from app.loyalty import rulebook
from app.shopify.admin_auth import admin_required


@bp.get("/<int:rule_id>/versions")
@admin_required
def list_versions(rule_id: int) -> str:
    """Every version of the rule: who saved it and when."""
    row = rule_of_shop(rule_id)
    return render_template("admin/rules/_versions.html", rule=row, **versions_context(row))


@bp.get("/<int:rule_id>/diff")
@admin_required
def diff(rule_id: int):  # type: ignore[no-untyped-def]
    """The structured difference between two versions (`from`, `to`)."""
    row = rule_of_shop(rule_id)
    old_number, new_number = int_field("from"), int_field("to")
    try:
        _, old = rulebook.get_version(db.session, shop_id=g.shop.id, name=row.name, version=old_number)
        _, new = rulebook.get_version(db.session, shop_id=g.shop.id, name=row.name, version=new_number)
    except rulebook.RuleNotFound as error:
        abort(404, description=str(error))
    changes = rulebook.diff_versions(
        db.session, shop_id=g.shop.id, name=row.name, from_version=old_number, to_version=new_number
    )
    lines = describe_changes(changes, old.definition, new.definition)
    return render_template("admin/rules/_diff.html", rule=row, old=old, new=new, lines=lines)


@bp.post("/<int:rule_id>/restore")
@admin_required
def restore(rule_id: int):  # type: ignore[no-untyped-def]
    """Make an old version current again, as a new version; the editor and the history re-render."""
    version = int_field("version")
    base_version = int_field("base_version")
    row = rule_of_shop(rule_id, lock=True)
    refused = moved_on(row, base_version)
    if refused is not None:
        return refused
    try:
        result = rulebook.restore_version(
            db.session, shop_id=g.shop.id, name=row.name, version=version, actor=staff_actor(), now=now()
        )
    except rulebook.RuleNotFound as error:
        db.session.rollback()
        abort(404, description=str(error))
    record_change(
        "rule_restored", ("rule", row.id), before={"restored_version": version}, after=result.version.definition
    )
    db.session.commit()
    message = (
        f"Version {version} restored as version {result.version.version}."
        if result.changed
        else f"Version {version} is already current."
    )
    draft = shown_in(Draft(result.version.definition), "form")
    return render_template(
        "admin/rules/_restored.html",
        **editor_context(draft, row, row.current_version, banner=message),
        **versions_context(row),
    )
