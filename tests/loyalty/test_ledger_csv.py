"""CSV import of opening balances (all or nothing, idempotent, reversible) and CSV export of the ledger."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.loyalty import ledger
from app.loyalty.base.errors import (
    Conflict,
    ImportBatchNotFound,
    InvalidCsv,
    ProfileNotFound,
)
from app.models import (
    CustomerLoyaltyProfile,
    ImportBatch,
    LedgerReversal,
    PointsTransaction,
)
from tests.loyalty.ledger_helpers import assert_sound, earn, profile, sent_statements, spend, stored, widest

GOOD = "customer_id,points,note\n1001,500,Migrated from Smile\ngid://shopify/Customer/1002,20,\n"


def run_import(session, shop, text, now, actor="ana@shop.test"):
    return ledger.import_opening_balances(
        session, shop=shop, csv_text=text, actor=actor, now=now, filename="balances.csv"
    )


def balances(session, shop):
    return dict(
        session.execute(
            select(CustomerLoyaltyProfile.customer_id, CustomerLoyaltyProfile.points_balance)
            .where(CustomerLoyaltyProfile.shop_id == shop.id)
            .execution_options(populate_existing=True)
        ).all()
    )


def count_entries(session):
    return session.execute(select(func.count()).select_from(PointsTransaction)).scalar_one()


def test_import_credits_each_line_as_one_batch(db_session, shop, now):
    result = run_import(db_session, shop, GOOD, now)
    assert (result.rows, result.points, result.duplicate) == (2, 520, False)
    assert balances(db_session, shop) == {"1001": 500, "1002": 20}
    rows = db_session.execute(select(PointsTransaction).order_by(PointsTransaction.id)).scalars().all()
    assert {(e.kind, e.cause_type, e.import_batch_id, e.actor, e.reason) for e in rows} == {
        ("import", "import", result.batch_id, "ana@shop.test", "Migrated from Smile"),
        ("import", "import", result.batch_id, "ana@shop.test", "Opening balance"),
    }
    batch = db_session.get(ImportBatch, result.batch_id)
    assert (batch.rows, batch.points, batch.filename) == (2, 520, "balances.csv")
    assert_sound(db_session, shop)


def test_an_import_of_many_lines_is_a_few_statements_and_leaves_the_ledger_sound(db_session, shop, now):
    """A migration brings tens of thousands of customers in one file, imported within one admin request: the lines
    share their statements (one by one, about six each and 2.7 ms a line, a file of 11,000 outlasted the web
    server's 30 s). A member who already holds points keeps them and gets the line's on top."""
    holder = profile(db_session, shop, now, "1001")
    earn(db_session, shop, holder, 300, "before-import", now)
    db_session.commit()
    lines = "".join(f"{2000 + n},{n + 1},\n" for n in range(1000))
    with sent_statements(db_session) as sent:
        result = run_import(db_session, shop, "customer_id,points,note\n1001,500,Top-up\n" + lines, now)
    assert (result.rows, result.points) == (1001, 500 + sum(range(1, 1001)))
    assert len(sent) <= 12, sent
    assert widest(sent) <= 20
    found = balances(db_session, shop)
    assert found["1001"] == 800 and found["2000"] == 1 and found["2999"] == 1000
    assert stored(db_session, holder.id).lifetime_earned == 800
    assert_sound(db_session, shop)


def test_importing_the_same_file_again_writes_nothing(db_session, shop, now):
    first = run_import(db_session, shop, GOOD, now)
    again = run_import(db_session, shop, GOOD.replace("\n", "\r\n"), now + timedelta(hours=1))
    assert again == ledger.ImportResult(first.batch_id, 2, 520, duplicate=True)
    assert balances(db_session, shop) == {"1001": 500, "1002": 20}
    assert count_entries(db_session) == 2


def test_the_same_file_in_another_shop_is_its_own_batch(db_session, shop, other_shop, now):
    mine = run_import(db_session, shop, GOOD, now)
    theirs = run_import(db_session, other_shop, GOOD, now)
    assert mine.batch_id != theirs.batch_id and theirs.duplicate is False


def test_import_by_email_finds_the_profile(db_session, shop, now):
    prof = profile(db_session, shop, now, customer_id="77")
    prof.email = "Jo@Example.com"
    db_session.flush()
    run_import(db_session, shop, "email,points\njo@example.com,40\n", now)
    assert balances(db_session, shop) == {"77": 40}


@pytest.mark.parametrize(
    ("text", "errors"),
    [
        ("", [(1, "the file is empty; expected a header such as customer_id,points,note")]),
        ("customer_id,points\n", [(2, "no customer lines after the header")]),
        (
            "customer,points\n1,5\n",
            [
                (1, "unknown column 'customer'; expected customer_id, email, points, note"),
                (1, "the header needs points and customer_id or email"),
            ],
        ),
        ("customer_id,note\n1,x\n", [(1, "the header needs points and customer_id or email")]),
        (
            "customer_id,points\n1001,10\n1002,ten\n1003,0\n1004,-5\n1005,1.5\n",
            [
                (3, "points must be a whole number from 1 to 1000000000000, got 'ten'"),
                (4, "points must be a whole number from 1 to 1000000000000, got '0'"),
                (5, "points must be a whole number from 1 to 1000000000000, got '-5'"),
                (6, "points must be a whole number from 1 to 1000000000000, got '1.5'"),
            ],
        ),
        ("customer_id,points\n1001,10\n1001,5\n", [(3, "customer 1001 already appears on line 2")]),
        ("customer_id,points\n1001,10,extra\n", [(2, "expected 2 fields, found 3")]),
        ("customer_id,points\nabc,10\n", [(2, "customer_id 'abc' is not a Shopify customer id")]),
        ("customer_id,email,points\n,,10\n", [(2, "needs a customer_id or an email")]),
        ("email,points\nnobody@example.com,10\n", [(2, "no customer with email nobody@example.com")]),
        ('customer_id,points\n1001,"10\n', [(2, "not valid CSV (unexpected end of data)")]),
    ],
)
def test_a_malformed_file_names_its_lines_and_imports_nothing(db_session, shop, now, text, errors):
    earn(db_session, shop, profile(db_session, shop, now, customer_id="1001"), 7, "before", now)
    with pytest.raises(InvalidCsv) as caught:
        run_import(db_session, shop, text, now)
    assert caught.value.errors == errors
    assert str(caught.value).startswith(f"nothing imported: line {errors[0][0]}: {errors[0][1]}")
    assert count_entries(db_session) == 1
    assert db_session.execute(select(func.count()).select_from(ImportBatch)).scalar_one() == 0
    assert balances(db_session, shop) == {"1001": 7}


def test_reverse_import_takes_back_the_whole_batch_once(db_session, shop, now):
    result = run_import(db_session, shop, GOOD, now)
    reversed_ = ledger.reverse_import(db_session, shop=shop, batch_id=result.batch_id, actor="ana@shop.test", now=now)
    assert (reversed_.profiles, reversed_.points_claimed, reversed_.points_reversed, reversed_.shortfall) == (
        2,
        520,
        520,
        0,
    )
    assert balances(db_session, shop) == {"1001": 0, "1002": 0}
    reversals = (
        db_session.execute(select(PointsTransaction).where(PointsTransaction.kind == "reversal")).scalars().all()
    )
    assert all(e.reverses_id is not None and e.import_batch_id == result.batch_id for e in reversals)
    again = ledger.reverse_import(db_session, shop=shop, batch_id=result.batch_id, actor="ana", now=now)
    assert again.duplicate is True and count_entries(db_session) == 4
    with pytest.raises(Conflict, match="reversed; change the file"):
        run_import(db_session, shop, GOOD, now)
    assert_sound(db_session, shop)


def test_reverse_import_after_spend_caps_and_records_the_shortfall(db_session, shop, now):
    result = run_import(db_session, shop, "customer_id,points\n1001,100\n", now)
    prof = profile(db_session, shop, now, customer_id="1001")
    spend(db_session, shop, prof, 60, "spend", now)
    out = ledger.reverse_import(db_session, shop=shop, batch_id=result.batch_id, actor="ana", now=now)
    assert (out.points_reversed, out.shortfall) == (40, 60)
    row = db_session.execute(select(LedgerReversal)).scalar_one()
    assert (row.kind, row.points_claimed, row.shortfall, row.actor) == ("import_reversal", 100, 60, "ana")
    assert stored(db_session, prof.id).points_balance == 0
    assert_sound(db_session, shop)


def test_undoing_a_large_import_is_a_few_statements_and_takes_back_what_each_customer_has(db_session, shop, now):
    """Undoing a batch took each customer's credit back on its own (5.5 ms each here: a batch past about 5,000
    customers outlasted the web server's 30 s). Now the customers whose take-back stays inside the batch's lot share
    their statements, and the rest go one by one as before:
    - 1001 has spent nothing: all 500 come back;
    - 1002 had 100 points before the import and spent 550: the lots gave the older 100 first, so the import's lot
      keeps 50, the balance is 50, and the capped reversal takes those 50 from it (450 short);
    - 1003 earned 100 after the import and spent 500: the import's lot, the older, is empty, so the 100 the reversal
      takes come from the newer lot, which the one-by-one path does."""
    before = profile(db_session, shop, now, "1002")
    earn(db_session, shop, before, 100, "before-import", now - timedelta(days=1))
    db_session.commit()
    plain = "".join(f"{5000 + n},10\n" for n in range(200))
    result = run_import(db_session, shop, "customer_id,points\n1001,500\n1002,500\n1003,500\n" + plain, now)
    spend(db_session, shop, stored(db_session, before.id), 550, "spend-1002", now)
    later = profile(db_session, shop, now, "1003")
    earn(db_session, shop, later, 100, "after-import", now + timedelta(hours=1))
    spend(db_session, shop, stored(db_session, later.id), 500, "spend-1003", now + timedelta(hours=2))
    db_session.commit()
    with sent_statements(db_session) as sent:
        out = ledger.reverse_import(db_session, shop=shop, batch_id=result.batch_id, actor="ana", now=now)
    assert len(sent) <= 25, len(sent)
    assert widest(sent) <= 20
    assert (out.profiles, out.points_claimed, out.points_reversed, out.shortfall) == (
        203,
        1500 + 2000,
        500 + 50 + 100 + 2000,
        450 + 400,
    )
    found = balances(db_session, shop)
    assert [found[c] for c in ("1001", "1002", "1003", "5000", "5199")] == [0, 0, 0, 0, 0]
    requests = {
        row.profile_id: (row.points_claimed, row.points_reversed, row.shortfall)
        for row in db_session.execute(select(LedgerReversal)).scalars()
    }
    assert len(requests) == 203
    assert requests[before.id] == (500, 50, 450) and requests[later.id] == (500, 100, 400)
    assert_sound(db_session, shop)


def test_reverse_import_of_another_shops_batch_is_not_found(db_session, shop, other_shop, now):
    result = run_import(db_session, shop, GOOD, now)
    with pytest.raises(ImportBatchNotFound):
        ledger.reverse_import(db_session, shop=other_shop, batch_id=result.batch_id, actor="x", now=now)
    with pytest.raises(ImportBatchNotFound):
        ledger.reverse_import(db_session, shop=shop, batch_id=uuid.uuid4(), actor="x", now=now)
    assert balances(db_session, shop) == {"1001": 500, "1002": 20}


def test_export_has_stable_columns_and_running_balances(db_session, shop, other_shop, now):
    a = profile(db_session, shop, now, customer_id="1")
    b = profile(db_session, shop, now, customer_id="2")
    earn(db_session, shop, a, 100, "a1", now)
    earn(db_session, shop, b, 5, "b1", now)
    ledger.debit(
        db_session,
        shop=shop,
        profile_id=a.id,
        points=30,
        idempotency_key="a2",
        cause=ledger.Cause("admin", actor="=HYPERLINK(evil)"),
        kind="adjustment",
        now=now,
        reason="-oops",
    )
    earn(db_session, other_shop, profile(db_session, other_shop, now, customer_id="1"), 999, "x", now)
    text = ledger.export_ledger_csv(db_session, shop_id=shop.id)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert text.splitlines()[0] == ",".join(ledger.EXPORT_COLUMNS)
    assert [(r["customer_id"], r["kind"], r["points"], r["balance_after"]) for r in rows] == [
        ("1", "earn", "100", "100"),
        ("2", "earn", "5", "5"),
        ("1", "adjustment", "-30", "70"),
    ]
    assert (rows[2]["actor"], rows[2]["reason"]) == ("'=HYPERLINK(evil)", "'-oops")
    one = list(csv.DictReader(io.StringIO(ledger.export_ledger_csv(db_session, shop_id=shop.id, customer_id="2"))))
    assert [(r["customer_id"], r["points"]) for r in one] == [("2", "5")]
    with pytest.raises(ProfileNotFound):
        ledger.export_ledger_csv(db_session, shop_id=other_shop.id, customer_id="2")
