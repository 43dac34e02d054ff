"""The editor: a new rule (blank or from a template) and a saved one, structural edits and tab switches, live
validation, creating and saving (under the optimistic lock: a save after someone else's is refused with 409, the
merchant's draft kept)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, g, render_template, request, url_for
from sqlalchemy import select

from app.admin.audit import record_change, staff_actor
from app.admin.rule_builder import editing
from app.admin.rule_builder.blueprint import bp, int_field, now, rule_of_shop
from app.admin.rule_builder.drafts import (
    Draft,
    as_json,
    by_slot,
    form_fits,
    issues_of,
    read_draft,
    shown_in,
    slots_in,
)
from app.admin.rule_builder.event_types import KNOWN_EVENT_TYPES
from app.admin.rule_builder.form_codec import field_kind, shown
from app.admin.shell import go_to
from app.extensions import db
from app.loyalty import rulebook
from app.loyalty.rulebook import starter_rules
from app.models import EventQueue, RewardDefinition, RuleVersion, TierDefinition
from app.models import Rule as RuleRow
from app.rules import RuleIssue, check_stored_rule, vocabulary
from app.rules.labels import (
    ACTION_LABELS,
    CONDITION_LABELS,
    LINE_ITEM_FIELD_LABELS,
    MONEY_CONDITIONS,
    OPERATOR_LABELS,
    STATUS_LABELS,
    WEEKDAY_LABELS,
)
from app.rules.summary import summarize
from app.rules.values import text_fault
from app.shopify.admin_auth import admin_required

NEW_RULE: dict[str, Any] = {"name": "", "status": "draft", "actions": [editing.blank_action()]}
RECENT_EVENTS = 20


def _urls(row: RuleRow | None) -> dict[str, str]:
    key = {"rule_id": row.id} if row is not None else {}
    return {
        "edit_url": url_for("admin_rules.edit_draft", **key),
        "validate_url": url_for("admin_rules.validate_draft", **key),
        "save_url": url_for("admin_rules.save_rule", rule_id=row.id)
        if row is not None
        else url_for("admin_rules.create_rule"),
        "try_url": url_for("admin_rules.try_draft", **key),
        "backtest_url": url_for("admin_rules.start_backtest", **key),
    }


def _name_issues(draft: Draft, row: RuleRow | None) -> list[RuleIssue]:
    """A saved rule keeps its name (versions are kept by name); a new rule needs a name no other rule has."""
    definition = draft.definition
    name = definition.get("name") if isinstance(definition, dict) else None
    if not isinstance(name, str) or not name.strip() or text_fault(name) is not None:
        return []  # no name to compare, or one the validator refuses and the database could not take in a query
    if row is not None and name.strip() != row.name:
        return [RuleIssue("/name", f"a saved rule keeps its name ({row.name!r}); duplicate the rule to use another")]
    if row is None:
        taken = db.session.execute(
            select(RuleRow.id).where(RuleRow.shop_id == g.shop.id, RuleRow.name == name.strip())
        ).first()
        if taken is not None:
            return [RuleIssue("/name", f"this shop already has a rule named {name.strip()!r}")]
    return []


def _base_context(draft: Draft, row: RuleRow | None, base_version: int | None) -> dict[str, Any]:
    tiers = db.session.execute(
        select(TierDefinition.name).where(TierDefinition.shop_id == g.shop.id).order_by(TierDefinition.level)
    ).scalars()
    rewards = db.session.execute(
        select(RewardDefinition.name).where(RewardDefinition.shop_id == g.shop.id).order_by(RewardDefinition.name)
    ).scalars()
    return {
        "draft": draft,
        "definition": draft.definition if isinstance(draft.definition, dict) else {},
        "rule": row,
        "base_version": base_version,
        "shop": g.shop,
        "tiers": list(tiers),
        "rewards": list(rewards),
        "event_types": KNOWN_EVENT_TYPES,
        "problems": {},
        "vocab": vocabulary,
        "labels": LABELS,
        "field_kind": field_kind,
        "shown": shown,
        "slot_id": slot_id,
        "op_choices": lambda operators: [(op, OPERATOR_LABELS.get(op, op)) for op in operators],
        **_urls(row),
    }


class Labels:
    CONDITION_LABELS = CONDITION_LABELS
    ACTION_LABELS = ACTION_LABELS
    WEEKDAY_LABELS = WEEKDAY_LABELS
    LINE_ITEM_FIELD_LABELS = LINE_ITEM_FIELD_LABELS
    MONEY_CONDITIONS = MONEY_CONDITIONS
    STATUS_LABELS = STATUS_LABELS


LABELS = Labels()


def slot_id(pointer: str) -> str:
    """The HTML id of a JSON pointer's problem slot (pointers hold only the language's keys and list indexes)."""
    return "rb-slot" + "".join(ch if ch.isalnum() or ch == "_" else f"-{ord(ch):x}-" for ch in pointer)


def editor_context(
    draft: Draft, row: RuleRow | None, base_version: int | None, *, banner: str | None = None
) -> dict[str, Any]:
    """The editor's render context with every problem in its slot and the plain-language summary."""
    context = _base_context(draft, row, base_version)
    issues = issues_of(draft, _name_issues(draft, row))
    context["problems"] = by_slot(
        issues, slots_in(render_template("admin/rules/_editor.html", **context)), source=draft.source
    )
    context["problem_count"] = len(issues)
    context["summary"] = summarize(draft.definition, g.shop.currency) if not issues else None
    context["banner"] = banner
    if row is not None:
        # The saved version as the engine reads it: one stored under looser bounds runs as saved or not at all.
        _, current = rulebook.get_version(db.session, shop_id=g.shop.id, name=row.name)
        context["saved_check"] = check_stored_rule(current.definition)
    return context


def _render_editor(
    draft: Draft, row: RuleRow | None, base_version: int | None, status: int = 200, banner: str | None = None
):  # type: ignore[no-untyped-def]
    return render_template(
        "admin/rules/_editor.html", **editor_context(draft, row, base_version, banner=banner)
    ), status


@bp.get("/new")
@admin_required
def new_rule() -> str:
    """The editor for a new rule: blank, or a copy of a ready rule (`?template=`)."""
    key = request.args.get("template")
    if key is not None and key not in starter_rules.TEMPLATES:
        abort(404, description=f"there is no rule template {key!r}")
    definition = dict(starter_rules.TEMPLATES[key]) if key else dict(NEW_RULE)
    draft = shown_in(Draft(definition), "form")
    return render_template(
        "admin/rules/edit.html", title="New rule", **editor_context(draft, None, None), **_page_extras(None)
    )


@bp.get("/<int:rule_id>")
@admin_required
def edit_rule(rule_id: int) -> str:
    """The editor for a saved rule, at its current version."""
    row = rule_of_shop(rule_id)
    _, current = rulebook.get_version(db.session, shop_id=g.shop.id, name=row.name)
    draft = shown_in(Draft(current.definition), "form")
    return render_template(
        "admin/rules/edit.html", title=row.name, **editor_context(draft, row, row.current_version), **_page_extras(row)
    )


def _page_extras(row: RuleRow | None) -> dict[str, Any]:
    events = db.session.execute(
        select(EventQueue.id, EventQueue.event_type, EventQueue.customer_id, EventQueue.payload, EventQueue.occurred_at)
        .where(EventQueue.shop_id == g.shop.id, EventQueue.event_type == "order_created")
        .order_by(EventQueue.occurred_at.desc())
        .limit(RECENT_EVENTS)
    ).all()
    extras: dict[str, Any] = {"recent_events": events, "templates": starter_rules.TEMPLATES}
    if row is not None:
        extras.update(versions_context(row))
        extras["backtests"] = rulebook.recent_backtests(db.session, shop_id=g.shop.id, rule_name=row.name)
        extras["latest_run"] = rulebook.latest_retroactive_run(db.session, shop_id=g.shop.id, rule_id=row.id)
    else:
        extras["backtests"] = []
    today = datetime.now(ZoneInfo(g.shop.timezone)).date()
    extras["backtest_from"], extras["backtest_to"] = (today - timedelta(days=90)).isoformat(), today.isoformat()
    return extras


@bp.post("/new/editor")
@bp.post("/<int:rule_id>/editor")
@admin_required
def edit_draft(rule_id: int | None = None):  # type: ignore[no-untyped-def]
    """Apply one structural edit (`edit`: "<verb> <pointer>") or switch tabs, and re-render the editor."""
    row = rule_of_shop(rule_id) if rule_id is not None else None
    base_version = int_field("base_version") if row is not None else None
    draft = read_draft(request.form)
    edit = request.form.get("edit", "refresh")
    if edit in ("show-json", "show-form"):
        return _render_editor(shown_in(draft, edit.removeprefix("show-")), row, base_version)
    if not form_fits(draft.definition):  # nothing an edit applies to, or a draft only the JSON tab can show
        return _render_editor(draft, row, base_version, 422)
    try:
        edited = editing.apply_edit(draft.definition, edit)
    except editing.EditError as error:
        return _render_editor(draft, row, base_version, 400, banner=str(error))
    return _render_editor(Draft(edited, "form", as_json(edited)), row, base_version)


@bp.post("/new/validate")
@bp.post("/<int:rule_id>/validate")
@admin_required
def validate_draft(rule_id: int | None = None) -> str:
    """Live validation: every problem slot of the editor (out of band), the count on the save button, the summary."""
    row = rule_of_shop(rule_id) if rule_id is not None else None
    draft = read_draft(request.form)
    context = editor_context(draft, row, None)
    context["slots"] = slots_in(render_template("admin/rules/_editor.html", **context))
    return render_template("admin/rules/_validation.html", **context)


@bp.post("/")
@admin_required
def create_rule():  # type: ignore[no-untyped-def]
    """Save a new rule as its version 1, then open it in the editor."""
    draft = read_draft(request.form)
    if issues_of(draft, _name_issues(draft, None)):
        return _render_editor(draft, None, None, 422, banner="Fix the problems marked below before saving.")
    result = rulebook.save_rule(
        db.session, shop_id=g.shop.id, definition=draft.definition, actor=staff_actor(), now=now()
    )
    record_change("rule_created", ("rule", result.rule.id), after=result.version.definition)
    db.session.commit()
    return go_to(url_for("admin_rules.edit_rule", rule_id=result.rule.id), f"{result.rule.name} saved as version 1")


@bp.post("/<int:rule_id>")
@admin_required
def save_rule(rule_id: int):  # type: ignore[no-untyped-def]
    """Save the editor's draft as the rule's next version, unless someone saved since it was opened."""
    base_version = int_field("base_version")
    row = rule_of_shop(rule_id, lock=True)
    draft = read_draft(request.form)
    if row.current_version != base_version:
        db.session.rollback()
        return _render_editor(draft, row, base_version, 409, banner=_stale_message(row, base_version))
    if issues_of(draft, _name_issues(draft, row)):
        db.session.rollback()
        return _render_editor(draft, row, base_version, 422, banner="Fix the problems marked below before saving.")
    _, previous = rulebook.get_version(db.session, shop_id=g.shop.id, name=row.name)
    result = rulebook.save_rule(
        db.session, shop_id=g.shop.id, definition=draft.definition, actor=staff_actor(), now=now()
    )
    if result.changed:
        record_change("rule_saved", ("rule", row.id), before=previous.definition, after=result.version.definition)
    db.session.commit()
    saved = f"Saved as version {result.version.version}." if result.changed else "No changes to save."
    return _render_editor(
        shown_in(Draft(result.version.definition), draft.source), row, row.current_version, banner=saved
    )


def _stale_message(row: RuleRow, base_version: int) -> str:
    latest = db.session.execute(
        select(RuleVersion).where(RuleVersion.rule_id == row.id, RuleVersion.version == row.current_version)
    ).scalar_one()
    return (
        f"Not saved: {latest.created_by or 'someone'} saved version {latest.version} at "
        f"{latest.created_at:%Y-%m-%d %H:%M} UTC after you opened version {base_version}. Your changes are still "
        "in the editor: copy them from the JSON tab, then reload to see the latest version."
    )


def versions_context(row: RuleRow) -> dict[str, Any]:
    versions = (
        db.session.execute(
            select(RuleVersion).where(RuleVersion.rule_id == row.id).order_by(RuleVersion.version.desc())
        )
        .scalars()
        .all()
    )
    return {"versions": versions}
