"""Blueprint "admin_operations": dead letters (inspect, replay one or all), the recent events with their status,
GDPR data requests with their prepared export, and the audit log. Everything is of g.shop only: another shop's dead
letter is not found and never replayed."""

from __future__ import annotations

from datetime import datetime, timezone

from flask import Response, abort, g, jsonify, make_response, render_template, request
from sqlalchemy import select

from app.admin.audit import record_change
from app.admin.forms import optional_int
from app.admin.shell import admin_blueprint, with_toast
from app.events.replay import take_for_replay
from app.extensions import db
from app.loyalty import reports
from app.loyalty.reports.operations import EVENT_STATUSES
from app.models import DeadLetter
from app.models.base import MAX_BIGINT
from app.rules.values import is_ascii_digits
from app.shopify.admin_auth import admin_required

bp = admin_blueprint("admin_operations", __name__, "/admin/operations")


@bp.get("/")
@admin_required
def index() -> str:
    """Dead letters waiting for a replay (or, with ?replayed=1, every one)."""
    include_replayed = request.args.get("replayed") == "1"
    page = reports.dead_letter_page(
        db.session, shop_id=g.shop.id, include_replayed=include_replayed, after=optional_int("after")
    )
    return render_template(
        "admin/operations/index.html", title="Operations", page=page, include_replayed=include_replayed
    )


@bp.get("/dead-letters/<int:letter_id>")
@admin_required
def dead_letter(letter_id: int) -> str:
    letter = db.session.execute(
        select(DeadLetter).where(DeadLetter.id == letter_id, DeadLetter.shop_id == g.shop.id)
    ).scalar_one_or_none()
    if letter is None:
        abort(404, description=f"dead letter {letter_id} does not exist")
    return render_template("admin/operations/dead_letter.html", title=f"Dead letter {letter.id}", letter=letter)


@bp.post("/dead-letters/replay")
@admin_required
def replay() -> Response:
    """Replay the dead letter named by `id`, or every one of the shop's with `all=1`."""
    ids = None
    if request.form.get("all") != "1":
        raw = request.form.get("id", "")
        if not is_ascii_digits(raw) or int(raw) > MAX_BIGINT:
            abort(400, description=f"id must be a dead letter's number, got {raw[:40]!r}")
        ids = [int(raw)]
    taken = take_for_replay(db.session, now=datetime.now(timezone.utc), shop_id=g.shop.id, ids=ids)
    if ids is not None and not taken.replayed and not taken.unreadable:
        abort(404, description=f"dead letter {ids[0]} does not exist or was replayed already")
    if taken.replayed:
        record_change("dead_letters_replayed", ("shop", g.shop.id), after={"dead_letters": taken.replayed})
    db.session.commit()  # the relay streams the pending rows from here
    queued = len(taken.replayed)
    page = reports.dead_letter_page(db.session, shop_id=g.shop.id)
    response = make_response(render_template("admin/operations/_dead_letters.html", page=page, include_replayed=False))
    # Queued, not streamed yet: replay makes the inbox rows pending again and the relay streams them on its next turn.
    message = f"{queued} event{'s' if queued != 1 else ''} queued again"
    if queued:
        message += f": the relay streams {'it' if queued == 1 else 'them'} next"
    if taken.unreadable:
        message += f"; {len(taken.unreadable)} with no readable event left as is"
    return with_toast(response, message)


@bp.get("/events")
@admin_required
def events() -> str:
    status = request.args.get("status", "")
    if status and status not in EVENT_STATUSES:
        abort(400, description=f"status must be one of {', '.join(EVENT_STATUSES)}, got {status[:20]!r}")
    page = reports.event_page(db.session, shop_id=g.shop.id, status=status, after=optional_int("after"))
    return render_template(
        "admin/operations/events.html",
        title="Events",
        page=page,
        status=status,
        status_options=[("", "Every status")] + [(option, option.capitalize()) for option in EVENT_STATUSES],
    )


@bp.get("/data-requests")
@admin_required
def data_requests() -> str:
    """Shopify's customers/data_request: each customer's export, prepared for the merchant to download and hand on."""
    requests = reports.data_requests(db.session, shop_id=g.shop.id)
    return render_template("admin/operations/data_requests.html", title="Data requests", requests=requests)


@bp.get("/data-requests/<int:request_id>.json")
@admin_required
def data_request_export(request_id: int) -> Response:
    staged = reports.data_request(db.session, shop_id=g.shop.id, request_id=request_id)
    if staged is None:
        abort(404, description=f"data request {request_id} does not exist")
    response = jsonify(staged.payload.get("export", {}))
    name = f"data-request-{staged.payload.get('data_request_id', request_id)}.json"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@bp.get("/audit")
@admin_required
def audit() -> str:
    actor = request.args.get("actor", "")[:255]
    page = reports.audit_page(db.session, shop_id=g.shop.id, actor=actor, after=optional_int("after"))
    return render_template("admin/operations/audit.html", title="Audit log", page=page, actor=actor)
