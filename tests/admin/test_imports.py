"""CSV import of opening balances in the admin: a preview that writes nothing and names every bad line, a confirm
that imports once (audited), and undo of the whole batch; another shop's batch cannot be undone from here."""

from __future__ import annotations

import io
from typing import Any

from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog, CustomerLoyaltyProfile, ImportBatch, PointsTransaction
from tests.admin.conftest import Admin, add_member

GOOD = "customer_id,points,note\n7001,500,From Smile\ngid://shopify/Customer/7002,250,\n"


def upload(admin: Admin, text: str | bytes, name: str = "balances.csv") -> Any:
    body = text.encode() if isinstance(text, str) else text
    return admin.client.post(
        "/admin/customers/import/preview",
        data={"file": (io.BytesIO(body), name)},
        headers=admin.headers(),
        content_type="multipart/form-data",
    )


def ledger_total() -> int:
    return db.session.execute(select(func.coalesce(func.sum(PointsTransaction.points), 0))).scalar_one()


def test_preview_then_confirm_imports_once_and_undo_takes_it_back(admin: Admin, demo_shop: Any) -> None:
    preview = upload(admin, GOOD)
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "credits 750 points to 2 customers" in html
    assert ledger_total() == 0 and db.session.execute(select(func.count()).select_from(ImportBatch)).scalar_one() == 0

    form = {"csv_text": GOOD, "filename": "balances.csv"}
    imported = admin.post("/admin/customers/import/", form)
    assert imported.status_code == 200 and "2 balances imported" in imported.headers["HX-Trigger"]
    again = admin.post("/admin/customers/import/", form)  # a double click
    assert "imported already" in again.headers["HX-Trigger"]
    assert ledger_total() == 750
    batch = db.session.execute(select(ImportBatch)).scalar_one()
    audit = db.session.execute(select(AuditLog).where(AuditLog.action == "points_imported")).scalar_one()
    assert audit.subject_id == str(batch.id) and audit.details["after"]["points"] == 750
    assert "balances.csv" in admin.get("/admin/customers/import/").get_data(as_text=True)

    undone = admin.post(f"/admin/customers/import/{batch.id}/undo")
    assert undone.status_code == 200 and "750 points taken back" in undone.headers["HX-Trigger"]
    assert "Undone" in undone.get_data(as_text=True)
    db.session.expire_all()
    assert ledger_total() == 0
    balances = db.session.execute(select(CustomerLoyaltyProfile.points_balance)).scalars().all()
    assert sorted(balances) == [0, 0]


def test_bad_lines_are_each_named_and_nothing_is_written(admin: Admin, demo_shop: Any) -> None:
    add_member(db.session, demo_shop, "7001", email="ada@example.com", name="Ada Lovelace")
    bad = "email,points\nada@example.com,100\nbob@example.com,ten\ncy@example.com,-5\n"
    response = upload(admin, bad)
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "Nothing was imported" in html
    assert "Line 3:" in html and "Line 4:" in html and "Line 2:" not in html
    unknown = upload(admin, "email,points\nada@example.com,100\nnobody@example.com,50\n").get_data(as_text=True)
    assert "Line 3:" in unknown and "nobody@example.com" in unknown
    assert "UTF-8" in upload(admin, "customer_id,points\n1,\xff\n".encode("latin-1")).get_data(as_text=True)
    missing = admin.client.post("/admin/customers/import/preview", headers=admin.headers(), data={})
    assert missing.status_code == 422 and "Choose a CSV file" in missing.get_data(as_text=True)
    confirm_bad = admin.post("/admin/customers/import/", {"csv_text": bad})
    assert confirm_bad.status_code == 422 and "Line 3:" in confirm_bad.get_data(as_text=True)
    assert ledger_total() == 0 and db.session.execute(select(func.count()).select_from(AuditLog)).scalar_one() == 0


def test_another_shops_batch_cannot_be_undone_here(admin: Admin, app: Any, other_admin_shop: Any) -> None:
    other = Admin(app, shop=other_admin_shop.domain)
    assert other.post("/admin/customers/import/", {"csv_text": GOOD}).status_code == 200
    batch = db.session.execute(select(ImportBatch)).scalar_one()
    assert admin.post(f"/admin/customers/import/{batch.id}/undo").status_code == 404
    assert admin.post("/admin/customers/import/not-a-uuid/undo").status_code == 404
    assert str(batch.id) not in admin.get("/admin/customers/import/").get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(ImportBatch, batch.id).reversed_at is None and ledger_total() == 750


def test_a_nul_in_the_file_is_a_422_and_a_long_file_name_is_kept_cut(admin: Admin, demo_shop: Any) -> None:
    add_member(db.session, demo_shop, "7001", email="ada@example.com", name="Ada Lovelace")
    for text in ("email,points\nada\x00@example.com,5\n", "customer_id,points,note\n7001,5,a\x00b\n"):
        response = upload(admin, text)  # a 500 from PostgreSQL before
        assert response.status_code == 422 and "contains a NUL character" in response.get_data(as_text=True)
    long_name = "b" * 1000 + ".csv"  # import_batches.filename holds 255: a 500 on preview before
    preview = upload(admin, GOOD, name=long_name)
    assert preview.status_code == 200 and "b" * 255 in preview.get_data(as_text=True)
    assert "b" * 256 not in preview.get_data(as_text=True)
    assert ledger_total() == 0
