"""Blueprint "admin_imports": opening balances from a CSV file (app.loyalty.ledger.import_opening_balances).

Upload shows a preview: the real import run in a transaction that is rolled back, so the preview says exactly what
the import will do, or names every bad line. Confirming imports the same text (the batch id is the file's digest, so
a double click or a second upload of the file imports it once). A batch can be undone as a whole later.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from flask import Response, abort, g, make_response, render_template, request

from app.admin.audit import record_change, staff_actor
from app.admin.shell import admin_blueprint, with_toast
from app.extensions import db
from app.loyalty import ledger, reports
from app.loyalty.base.errors import Conflict, InvalidCsv, InvalidInput
from app.shopify.admin_auth import admin_required

# import_batches.filename is VARCHAR(255).
FILENAME_LENGTH = 255

bp = admin_blueprint("admin_imports", __name__, "/admin/customers/import")


@bp.get("/")
@admin_required
def index() -> str:
    return _page()


@bp.post("/preview")
@admin_required
def preview() -> Response:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _result(422, problem="Choose a CSV file to import")
    try:
        text = upload.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        return _result(422, problem="The file is not UTF-8 text: save it from your spreadsheet as CSV (UTF-8)")
    if "\x00" in text:  # PostgreSQL's text cannot hold one (a note or email with one was a 500)
        return _result(422, problem="The file contains a NUL character: save it from your spreadsheet as CSV (UTF-8)")
    filename = upload.filename[:FILENAME_LENGTH]  # import_batches.filename, as confirm keeps it
    try:
        result = _import(text, filename)
    except InvalidCsv as exc:
        return _result(422, bad_lines=exc.errors)
    except (InvalidInput, Conflict) as exc:
        return _result(422, problem=str(exc))
    finally:
        db.session.rollback()  # a preview writes nothing
    return _result(200, preview=result, csv_text=text, filename=filename)


@bp.post("/")
@admin_required
def confirm() -> Response:
    text = request.form.get("csv_text", "")
    filename = request.form.get("filename", "")[:FILENAME_LENGTH] or None
    try:
        result = _import(text, filename)
    except InvalidCsv as exc:
        db.session.rollback()
        return _result(422, bad_lines=exc.errors)
    except (InvalidInput, Conflict) as exc:
        db.session.rollback()
        return _result(422, problem=str(exc))
    if not result.duplicate:
        record_change(
            "points_imported",
            ("import_batch", result.batch_id),
            after={"rows": result.rows, "points": result.points, "filename": filename},
        )
    db.session.commit()
    message = "This file was imported already" if result.duplicate else f"{result.rows:,} balances imported"
    return with_toast(_result(200, imported=result), message)


@bp.post("/<batch_id>/undo")
@admin_required
def undo(batch_id: str) -> Response:
    try:
        parsed = uuid.UUID(batch_id)
    except ValueError:
        abort(404, description=f"import batch {batch_id[:40]} does not exist")
    result = ledger.reverse_import(
        db.session, shop=g.shop, batch_id=parsed, actor=staff_actor(), now=datetime.now(timezone.utc)
    )
    if not result.duplicate:
        record_change(
            "import_reversed",
            ("import_batch", parsed),
            after={
                "profiles": result.profiles,
                "points_reversed": result.points_reversed,
                "shortfall": result.shortfall,
            },
        )
    db.session.commit()
    message = (
        "This import was undone already"
        if result.duplicate
        else f"Import undone: {result.points_reversed:,} points taken back"
    )
    return with_toast(make_response(_page(fragment=True)), message)


def _import(text: str, filename: str | None) -> ledger.ImportResult:
    return ledger.import_opening_balances(
        db.session, shop=g.shop, csv_text=text, actor=staff_actor(), now=datetime.now(timezone.utc), filename=filename
    )


def _result(status: int, **context: object) -> Response:
    return make_response(render_template("admin/imports/_result.html", **context), status)


def _page(*, fragment: bool = False) -> str:
    return render_template(
        "admin/imports/_batches.html" if fragment else "admin/imports/index.html",
        title="Import balances",
        batches=reports.import_batches(db.session, shop_id=g.shop.id),
    )
