"""Blueprint "admin_rules" (`/admin/rules`): the rule list, the visual editor with live validation, dry runs,
backtests, versions with diff and restore, and status changes. Every view is behind `admin_required` and reads only
`g.shop`'s rules: another shop's rule id is a 404, never a leak.

Saves carry the version the editor was opened on (`base_version`): when someone else saved first, the save is refused
with 409 and the editor keeps what the merchant typed.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, g, make_response, render_template, request, url_for
from sqlalchemy import select

from app.admin.audit import record_change, staff_actor
from app.admin.rule_builder import backtest_view, editing, rule_list
from app.admin.rule_builder.diff_view import describe_changes
from app.admin.rule_builder.drafts import (
    Draft,
    as_json,
    by_slot,
    draft_from_json,
    issues_of,
    read_draft,
    shown_in,
    slots_in,
)
from app.admin.rule_builder.form_codec import field_kind, shown
from app.admin.rule_builder.labels import (
    ACTION_LABELS,
    CONDITION_LABELS,
    KNOWN_EVENT_TYPES,
    LINE_ITEM_FIELD_LABELS,
    MONEY_CONDITIONS,
    OPERATOR_LABELS,
    STATUS_LABELS,
    WEEKDAY_LABELS,
)
from app.admin.rule_builder.summary import summarize
from app.admin.shell import admin_blueprint, go_to, with_toast
from app.extensions import db
from app.loyalty import rulebook
from app.loyalty.base.errors import InvalidInput
from app.loyalty.rulebook import starter_rules
from app.models import EventQueue, RewardDefinition, RuleVersion, TierDefinition
from app.models import Rule as RuleRow
from app.rules import RuleIssue, RuleValidationError, vocabulary
from app.shopify.admin_auth import admin_required

bp = admin_blueprint("admin_rules", __name__, "/admin/rules")

NEW_RULE: dict[str, Any] = {"name": "", "status": "draft", "actions": [editing.blank_action()]}
RECENT_EVENTS = 20


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _rule_of_shop(rule_id: int, *, lock: bool = False) -> RuleRow:
    """The shop's rule by id; any other id (another shop's included) is a 404."""
    query = select(RuleRow).where(RuleRow.id == rule_id, RuleRow.shop_id == g.shop.id)
    if lock:  # the row as it is now, under the lock, even when this session loaded it before
        query = query.with_for_update().execution_options(populate_existing=True)
    row = db.session.execute(query).scalar_one_or_none()
    if row is None:
        abort(404, description=f"rule {rule_id} does not exist in this shop")
    return row


def _int_field(name: str) -> int:
    value = request.values.get(name, "")
    if not value.strip().lstrip("-").isdigit():
        abort(400, description=f"{name} must be a whole number, not {value!r}")
    return int(value)


def _banner(message: str, status: int, tone: str = "critical") -> tuple[str, int, dict[str, str]]:
    """A refusal the page shows in its banner area (htmx swaps 409 and 422 answers, wherever the request came from);
    other errors answer JSON, which the shell shows as a toast."""
    body = render_template("admin/rules/_banner.html", message=message, tone=tone)
    return body, status, {"HX-Retarget": "#rb-banner", "HX-Reswap": "innerHTML"}


# --- the editor ---------------------------------------------------------------------------------------------------


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
    if not isinstance(name, str) or not name.strip():
        return []
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
        "labels": _LABELS,
        "field_kind": field_kind,
        "shown": shown,
        "slot_id": slot_id,
        "op_choices": lambda operators: [(op, OPERATOR_LABELS.get(op, op)) for op in operators],
        **_urls(row),
    }


class _Labels:
    CONDITION_LABELS = CONDITION_LABELS
    ACTION_LABELS = ACTION_LABELS
    WEEKDAY_LABELS = WEEKDAY_LABELS
    LINE_ITEM_FIELD_LABELS = LINE_ITEM_FIELD_LABELS
    MONEY_CONDITIONS = MONEY_CONDITIONS
    STATUS_LABELS = STATUS_LABELS


_LABELS = _Labels()


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
    row = _rule_of_shop(rule_id)
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
        extras.update(_versions_context(row))
        extras["backtests"] = rulebook.recent_backtests(db.session, shop_id=g.shop.id, rule_name=row.name)
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
    row = _rule_of_shop(rule_id) if rule_id is not None else None
    base_version = _int_field("base_version") if row is not None else None
    draft = read_draft(request.form)
    edit = request.form.get("edit", "refresh")
    if edit in ("show-json", "show-form"):
        return _render_editor(shown_in(draft, edit.removeprefix("show-")), row, base_version)
    if draft.definition is None or not isinstance(draft.definition, dict):
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
    row = _rule_of_shop(rule_id) if rule_id is not None else None
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
        db.session, shop_id=g.shop.id, definition=draft.definition, actor=staff_actor(), now=_now()
    )
    record_change("rule_created", ("rule", result.rule.id), after=result.version.definition)
    db.session.commit()
    return go_to(url_for("admin_rules.edit_rule", rule_id=result.rule.id), f"{result.rule.name} saved as version 1")


@bp.post("/<int:rule_id>")
@admin_required
def save_rule(rule_id: int):  # type: ignore[no-untyped-def]
    """Save the editor's draft as the rule's next version, unless someone saved since it was opened."""
    base_version = _int_field("base_version")
    row = _rule_of_shop(rule_id, lock=True)
    draft = read_draft(request.form)
    if row.current_version != base_version:
        db.session.rollback()
        return _render_editor(draft, row, base_version, 409, banner=_stale_message(row, base_version))
    if issues_of(draft, _name_issues(draft, row)):
        db.session.rollback()
        return _render_editor(draft, row, base_version, 422, banner="Fix the problems marked below before saving.")
    _, previous = rulebook.get_version(db.session, shop_id=g.shop.id, name=row.name)
    result = rulebook.save_rule(
        db.session, shop_id=g.shop.id, definition=draft.definition, actor=staff_actor(), now=_now()
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


# --- list, status, priority, duplicate ----------------------------------------------------------------------------


@bp.get("/")
@admin_required
def list_rules() -> str:
    """The shop's rules, highest priority first, with what each has issued and when it last fired."""
    rows = rule_list.rows(db.session, shop_id=g.shop.id)
    fragment = request.headers.get("HX-Request") and not request.headers.get("HX-Boosted")
    template = "admin/rules/_rows.html" if fragment else "admin/rules/index.html"
    return render_template(
        template, title="Rules", rows=rows, shop=g.shop, templates=starter_rules.TEMPLATES, labels=_LABELS
    )


def _change(rule_id: int, change: Any, action: str):  # type: ignore[no-untyped-def]
    """Save a new version made from the current one by `change`, under the optimistic lock; the list's rows."""
    base_version = _int_field("base_version")
    row = _rule_of_shop(rule_id, lock=True)
    if row.current_version != base_version:
        db.session.rollback()
        return _banner(
            f"{row.name!r} changed since this page was loaded (now version {row.current_version}); reload and try "
            "again.",
            409,
        )
    _, current = rulebook.get_version(db.session, shop_id=g.shop.id, name=row.name)
    definition = change(dict(current.definition))
    try:
        result = rulebook.save_rule(
            db.session, shop_id=g.shop.id, definition=definition, actor=staff_actor(), now=_now()
        )
    except RuleValidationError as error:
        db.session.rollback()
        return _banner(f"Not saved: {error}", 422)
    record_change(action, ("rule", row.id), before=current.definition, after=result.version.definition)
    db.session.commit()
    rows = rule_list.rows(db.session, shop_id=g.shop.id)
    return render_template("admin/rules/_rows.html", rows=rows, shop=g.shop, labels=_LABELS)


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
    priority = _int_field("priority")
    return _change(rule_id, lambda definition: {**definition, "priority": priority}, "rule_priority_changed")


@bp.post("/<int:rule_id>/duplicate")
@admin_required
def duplicate_rule(rule_id: int):  # type: ignore[no-untyped-def]
    """A copy of the rule's current version as a new draft named "<name> (copy)"."""
    row = _rule_of_shop(rule_id)
    _, current = rulebook.get_version(db.session, shop_id=g.shop.id, name=row.name)
    name = rule_list.free_copy_name(db.session, shop_id=g.shop.id, name=row.name)
    definition = {**current.definition, "name": name, "status": "draft"}
    result = rulebook.save_rule(db.session, shop_id=g.shop.id, definition=definition, actor=staff_actor(), now=_now())
    record_change("rule_duplicated", ("rule", result.rule.id), before={"copied_from": row.id}, after=definition)
    db.session.commit()
    rows = rule_list.rows(db.session, shop_id=g.shop.id)
    return render_template("admin/rules/_rows.html", rows=rows, shop=g.shop, labels=_LABELS)


# --- versions -----------------------------------------------------------------------------------------------------


def _versions_context(row: RuleRow) -> dict[str, Any]:
    versions = (
        db.session.execute(
            select(RuleVersion).where(RuleVersion.rule_id == row.id).order_by(RuleVersion.version.desc())
        )
        .scalars()
        .all()
    )
    return {"versions": versions}


@bp.get("/<int:rule_id>/versions")
@admin_required
def list_versions(rule_id: int) -> str:
    """Every version of the rule: who saved it and when."""
    row = _rule_of_shop(rule_id)
    return render_template("admin/rules/_versions.html", rule=row, **_versions_context(row))


@bp.get("/<int:rule_id>/diff")
@admin_required
def diff(rule_id: int):  # type: ignore[no-untyped-def]
    """The structured difference between two versions (`from`, `to`)."""
    row = _rule_of_shop(rule_id)
    old_number, new_number = _int_field("from"), _int_field("to")
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
    version = _int_field("version")
    base_version = _int_field("base_version")
    row = _rule_of_shop(rule_id, lock=True)
    if row.current_version != base_version:
        db.session.rollback()
        return _banner(
            f"{row.name!r} changed since this page was loaded (now version {row.current_version}); reload first.", 409
        )
    try:
        result = rulebook.restore_version(
            db.session, shop_id=g.shop.id, name=row.name, version=version, actor=staff_actor(), now=_now()
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
        **_versions_context(row),
    )


# --- go live -----------------------------------------------------------------------------------------------------


@bp.post("/<int:rule_id>/go-live")
@admin_required
def go_live(rule_id: int):  # type: ignore[no-untyped-def]
    """Make the rule active and, when asked, apply it to the past orders of a range (the retroactive run: once per
    event, reversible). With `preview=1` it does all of it and rolls back, to show what it would issue."""
    base_version = _int_field("base_version")
    row = _rule_of_shop(rule_id, lock=True)
    if row.current_version != base_version:
        db.session.rollback()
        return _banner(
            f"{row.name!r} changed since this page was loaded (now version {row.current_version}); reload first.", 409
        )
    preview = request.form.get("preview") == "1"
    try:
        span = (_day("retro_from", end=False), _day("retro_to", end=True)) if request.form.get("retro") == "1" else None
        if span is not None and span[1] <= span[0]:
            raise InvalidInput("the retroactive run's last day must not be before its first day")
    except InvalidInput as error:
        db.session.rollback()
        return _banner(str(error), 422)
    _, current = rulebook.get_version(db.session, shop_id=g.shop.id, name=row.name)
    activated = rulebook.save_rule(
        db.session,
        shop_id=g.shop.id,
        definition={**current.definition, "status": "active"},
        actor=staff_actor(),
        now=_now(),
    )
    retro = None
    if span is not None:
        retro = rulebook.retroactive_run(
            db.session, shop=g.shop, name=row.name, start=span[0], end=span[1], actor=staff_actor(), now=_now()
        )
    if preview:
        db.session.rollback()
        return render_template("admin/rules/_go_live.html", rule=row, retro=retro, preview=True, span=span)
    record_change(
        "rule_went_live",
        ("rule", row.id),
        before=current.definition,
        after={"version": activated.version.version, "retroactive_batch": str(retro.batch_id) if retro else None},
    )
    db.session.commit()
    response = make_response(
        render_template("admin/rules/_go_live.html", rule=row, retro=retro, preview=False, span=span)
    )
    return with_toast(response, f"{row.name} is live (version {row.current_version})")


@bp.post("/retroactive/<uuid:batch_id>/undo")
@admin_required
def undo_retroactive(batch_id: uuid.UUID):  # type: ignore[no-untyped-def]
    """Take back what a retroactive run credited (once; what customers spent already is reported, not taken)."""
    result = rulebook.reverse_retroactive_run(
        db.session, shop=g.shop, batch_id=batch_id, actor=staff_actor(), now=_now()
    )
    if result.customers == 0:
        db.session.rollback()
        abort(404, description=f"retroactive run {batch_id} credited nothing in this shop")
    db.session.commit()
    return render_template("admin/rules/_go_live.html", reversal=result)


# --- dry run ------------------------------------------------------------------------------------------------------


@bp.post("/new/try")
@bp.post("/<int:rule_id>/try")
@admin_required
def try_draft(rule_id: int | None = None):  # type: ignore[no-untyped-def]
    """Run the draft against one event (a recent order of the shop, a pasted one, or one built from a few fields)
    and show the trace: what each condition saw and whether it held, and the points each action gives. Writes
    nothing."""
    if rule_id is not None:
        _rule_of_shop(rule_id)
    draft = read_draft(request.form)
    issues = issues_of(draft)
    if issues:
        return render_template("admin/rules/_trace.html", issues=issues), 422
    try:
        event = _try_event()
        evaluation = rulebook.dry_run(db.session, shop=g.shop, event=event, now=_now(), drafts=[draft.definition])
    except InvalidInput as error:
        return render_template("admin/rules/_trace.html", issues=[RuleIssue("", str(error))]), 422
    finally:
        db.session.rollback()  # a dry run writes nothing
    return render_template("admin/rules/_trace.html", evaluation=evaluation, shop=g.shop, issues=[])


def _try_event() -> Any:
    """The event to try, from the form; InvalidInput says what is wrong with it."""
    source = request.form.get("try_source", "recent")
    if source == "recent":
        event_id = request.form.get("try_event", "")
        if not event_id.isdigit():
            raise InvalidInput("pick an order to try the rule on")
        row = db.session.execute(
            select(EventQueue).where(EventQueue.id == int(event_id), EventQueue.shop_id == g.shop.id)
        ).scalar_one_or_none()
        if row is None:
            raise InvalidInput(f"event {event_id} does not exist in this shop")
        return {
            "event_id": str(row.event_id),
            "event_type": row.event_type,
            "customer_id": row.customer_id,
            "event_data": row.payload,
            "timestamp": row.occurred_at.isoformat(),
        }
    if source == "paste":
        pasted = draft_from_json(request.form.get("try_json", ""))
        if pasted.definition is None:
            raise InvalidInput(f"the pasted event is {pasted.refused[0].message}")
        return pasted.definition
    if source == "build":
        total = request.form.get("try_total", "").strip()
        order: dict[str, Any] = {
            "id": "dry-run",
            "total_price": total,
            "subtotal_price": request.form.get("try_subtotal", "").strip() or total,
            "currency": g.shop.currency,
            "source_name": request.form.get("try_channel", "web"),
            "line_items": [],
        }
        customer = request.form.get("try_customer", "").strip()
        if customer:
            order["customer"] = {"id": customer}
        return order
    raise InvalidInput(f"unknown event source {source!r}; expected recent, paste or build")


# --- backtests ----------------------------------------------------------------------------------------------------


def _day(name: str, *, end: bool) -> datetime:
    """A date field as the start of that day in the shop's time zone (an end date includes its whole day)."""
    text = request.form.get(name, "")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{name}: {text!r} is not a date (YYYY-MM-DD)") from None
    return datetime.combine(day + timedelta(days=1 if end else 0), time(), tzinfo=ZoneInfo(g.shop.timezone))


@bp.post("/new/backtests")
@bp.post("/<int:rule_id>/backtests")
@admin_required
def start_backtest(rule_id: int | None = None):  # type: ignore[no-untyped-def]
    """Queue a backtest of the draft over the shop's stored events in a date range; the answer polls its progress."""
    if rule_id is not None:
        _rule_of_shop(rule_id)
    draft = read_draft(request.form)
    issues = issues_of(draft)
    if issues:
        return render_template("admin/rules/_backtest.html", run=None, issues=issues), 422
    try:
        start, end = _day("backtest_from", end=False), _day("backtest_to", end=True)
        run = rulebook.queue_backtest(
            db.session,
            shop_id=g.shop.id,
            definition=draft.definition,
            start=start,
            end=end,
            actor=staff_actor(),
            now=_now(),
        )
    except InvalidInput as error:
        db.session.rollback()
        return render_template("admin/rules/_backtest.html", run=None, issues=[RuleIssue("", str(error))]), 422
    db.session.commit()
    from app.tasks.backtests import run_backtest

    run_backtest(str(run.id))  # enqueued only now that the row is committed, so the worker finds it
    return render_template("admin/rules/_backtest.html", run=run, view=backtest_view.view(run), issues=[]), 202


def _run_of_shop(run_id: uuid.UUID) -> Any:
    run = rulebook.find_backtest(db.session, shop_id=g.shop.id, run_id=run_id)
    if run is None:
        abort(404, description=f"backtest {run_id} does not exist in this shop")
    return run


@bp.get("/backtests/<uuid:run_id>")
@admin_required
def backtest_progress(run_id: uuid.UUID) -> str:
    """A backtest's progress while it runs (the fragment polls itself), then its results."""
    run = _run_of_shop(run_id)
    return render_template("admin/rules/_backtest.html", run=run, view=backtest_view.view(run), issues=[])


@bp.post("/backtests/<uuid:run_id>/cancel")
@admin_required
def cancel_backtest(run_id: uuid.UUID) -> str:
    """Ask a queued or running backtest to stop; it stops at its next progress report."""
    run = _run_of_shop(run_id)
    rulebook.cancel_backtest(db.session, run, now=_now())
    db.session.commit()
    return render_template("admin/rules/_backtest.html", run=run, view=backtest_view.view(run), issues=[])
