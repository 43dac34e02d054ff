"""What a draft would do, before it does it: the dry run on one order with its trace, backtests queued on the worker
with their progress, and going live (with the retroactive run over past orders, its preview and its undo)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, g, render_template, request, url_for
from sqlalchemy import select

from app.admin.audit import record_change, staff_actor
from app.admin.rule_builder import backtest_view
from app.admin.rule_builder.blueprint import bp, int_field, moved_on, now, refusal, rule_of_shop
from app.admin.rule_builder.drafts import (
    draft_from_json,
    issues_of,
    read_draft,
)
from app.admin.shell import go_to
from app.extensions import db
from app.loyalty import rulebook
from app.loyalty.base.errors import InvalidInput
from app.models import EventQueue
from app.models.base import MAX_BIGINT
from app.rules import RuleIssue
from app.rules.values import is_ascii_digits
from app.shopify.admin_auth import admin_required

# A preview replays the range inside the request and rolls it back; past this many events it would outlast the
# request's timeout (about 5 ms an event here), and the backtest answers the same question for any range.
PREVIEW_MAX_EVENTS = 2_000


@bp.post("/<int:rule_id>/go-live")
@admin_required
def go_live(rule_id: int):  # type: ignore[no-untyped-def]
    """Make the rule active and, when asked, apply it to the past orders of a range: the retroactive run, once per
    event and reversible, queued on the worker (the answer polls its progress). With `preview=1` it does all of it
    inside the request and rolls back, to show what it would issue (a range of at most PREVIEW_MAX_EVENTS)."""
    base_version = int_field("base_version")
    row = rule_of_shop(rule_id, lock=True)
    refused = moved_on(row, base_version)
    if refused is not None:
        return refused
    preview = request.form.get("preview") == "1"
    try:
        span = (_day("retro_from", end=False), _day("retro_to", end=True)) if request.form.get("retro") == "1" else None
        if span is not None and span[1] <= span[0]:
            raise InvalidInput("the retroactive run's last day must not be before its first day")
    except InvalidInput as error:
        db.session.rollback()
        return refusal(str(error), 422)
    _, current = rulebook.get_version(db.session, shop_id=g.shop.id, name=row.name)
    activated = rulebook.save_rule(
        db.session,
        shop_id=g.shop.id,
        definition={**current.definition, "status": "active"},
        actor=staff_actor(),
        now=now(),
    )
    if preview:
        retro = None
        if span is not None:
            events = rulebook.count_retroactive_events(
                db.session, shop=g.shop, name=row.name, start=span[0], end=span[1]
            )
            if events > PREVIEW_MAX_EVENTS:
                db.session.rollback()
                return refusal(
                    f"the range holds {events:,} past events; a preview replays at most {PREVIEW_MAX_EVENTS:,}."
                    " Run a backtest for the whole range, or preview a shorter one",
                    422,
                )
            retro = rulebook.retroactive_run(
                db.session, shop=g.shop, name=row.name, start=span[0], end=span[1], actor=staff_actor(), now=now()
            )
        db.session.rollback()
        return render_template("admin/rules/_go_live.html", rule=row, retro=retro, preview=True, span=span)
    run = None
    if span is not None:
        try:
            run = rulebook.queue_retroactive_run(
                db.session, shop=g.shop, name=row.name, start=span[0], end=span[1], actor=staff_actor(), now=now()
            )
        except InvalidInput as error:
            db.session.rollback()
            return refusal(str(error), 422)
    record_change(
        "rule_went_live",
        ("rule", row.id),
        before=current.definition,
        after={"version": activated.version.version, "retroactive_batch": str(run.id) if run else None},
    )
    db.session.commit()
    if run is not None:
        from app.tasks.retroactive_runs import run_retroactive

        run_retroactive(str(run.id))  # enqueued only now that the row is committed, so the worker finds it
    # The page opens again: its status, versions and the form's base version are the live rule's (a Save from the
    # page as it was would be refused as stale, or put the old status back), and it shows the run with its progress.
    return go_to(
        url_for("admin_rules.edit_rule", rule_id=row.id), f"{row.name} is live (version {row.current_version})"
    )


def _retro_run_of_shop(run_id: uuid.UUID) -> Any:
    run = rulebook.find_retroactive_run(db.session, shop_id=g.shop.id, run_id=run_id)
    if run is None:
        abort(404, description=f"retroactive run {run_id} does not exist in this shop")
    return run


@bp.get("/retroactive/<uuid:run_id>")
@admin_required
def retroactive_progress(run_id: uuid.UUID) -> str:
    """A retroactive run's progress while it runs (the fragment polls itself), then what it gave, with its undo."""
    return render_template("admin/rules/_go_live.html", run=_retro_run_of_shop(run_id), retro=None, preview=False)


@bp.post("/retroactive/<uuid:batch_id>/undo")
@admin_required
def undo_retroactive(batch_id: uuid.UUID):  # type: ignore[no-untyped-def]
    """Take back what a retroactive run credited (once; what customers spent already is reported, not taken): on the
    worker, a chunk of customers per transaction, as the run gave it (the answer polls its progress). A run still
    going is refused: what it credits after the undo would stay."""
    run = rulebook.find_retroactive_run(db.session, shop_id=g.shop.id, run_id=batch_id)
    if run is None:  # a batch from before runs were queued: taken back in the request, as it was given
        result = rulebook.reverse_retroactive_run(
            db.session, shop=g.shop, batch_id=batch_id, actor=staff_actor(), now=now()
        )
        if result.customers == 0:
            db.session.rollback()
            abort(404, description=f"retroactive run {batch_id} credited nothing in this shop")
        db.session.commit()
        return render_template("admin/rules/_go_live.html", reversal=result)
    try:
        run = rulebook.request_undo(db.session, shop_id=g.shop.id, run_id=batch_id, actor=staff_actor(), now=now())
    except InvalidInput as error:
        db.session.rollback()
        return refusal(str(error), 409)
    db.session.commit()
    from app.tasks.retroactive_runs import run_retroactive

    run_retroactive(str(run.id))  # enqueued only now that the request is committed, so the worker finds it
    return render_template("admin/rules/_go_live.html", run=run, retro=None, preview=False)


# --- dry run ------------------------------------------------------------------------------------------------------


@bp.post("/new/try")
@bp.post("/<int:rule_id>/try")
@admin_required
def try_draft(rule_id: int | None = None):  # type: ignore[no-untyped-def]
    """Run the draft against one event (a recent order of the shop, a pasted one, or one built from a few fields)
    and show the trace: what each condition saw and whether it held, and the points each action gives. Writes
    nothing."""
    if rule_id is not None:
        rule_of_shop(rule_id)
    draft = read_draft(request.form)
    issues = issues_of(draft)
    if issues:
        return render_template("admin/rules/_trace.html", issues=issues), 422
    try:
        event = _try_event()
        evaluation = rulebook.dry_run(db.session, shop=g.shop, event=event, now=now(), drafts=[draft.definition])
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
        if not is_ascii_digits(event_id):
            raise InvalidInput("pick an order to try the rule on")
        # An id past a bigint names no event (and PostgreSQL would refuse to bind it).
        row = (
            None
            if int(event_id) > MAX_BIGINT
            else db.session.execute(
                select(EventQueue).where(EventQueue.id == int(event_id), EventQueue.shop_id == g.shop.id)
            ).scalar_one_or_none()
        )
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
        if pasted.refused:
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
    first, last = rulebook.EVENT_DAYS
    if not first <= day <= last:  # past them a day may have no next one, or start before year 1 in UTC
        raise InvalidInput(f"{name}: {day.isoformat()} is out of range; choose a day from {first} to {last}")
    return datetime.combine(day + timedelta(days=1 if end else 0), time(), tzinfo=ZoneInfo(g.shop.timezone))


@bp.post("/new/backtests")
@bp.post("/<int:rule_id>/backtests")
@admin_required
def start_backtest(rule_id: int | None = None):  # type: ignore[no-untyped-def]
    """Queue a backtest of the draft over the shop's stored events in a date range; the answer polls its progress."""
    if rule_id is not None:
        rule_of_shop(rule_id)
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
            now=now(),
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
    rulebook.cancel_backtest(db.session, run, now=now())
    db.session.commit()
    return render_template("admin/rules/_backtest.html", run=run, view=backtest_view.view(run), issues=[])
