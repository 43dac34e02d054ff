"""CSV import of opening balances (one reversible batch) and CSV export of a customer's or the shop's entries.

Import format: a header line naming `points` and `customer_id` or `email` (optionally `note`), then one line per
customer. `customer_id` is Shopify's numeric id (a `gid://shopify/Customer/<id>` is accepted); `email` finds an
existing profile of this shop. `points` is a whole number > 0. The whole file is checked before anything is written:
any bad line raises InvalidCsv naming every bad line and what is wrong, and nothing is imported.

Idempotent re-import: the batch id is a UUID5 of the shop and the SHA-256 of the file's text (line endings
normalised), so importing the same file again finds its batch and writes nothing (a reversed batch refuses with
Conflict: change the file to import it again). Entries are keyed `import:<batch id>:<line>`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, any_, func, literal, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from app.loyalty.base.bulk import insert_rows, update_rows
from app.loyalty.base.errors import (
    Conflict,
    ImportBatchNotFound,
    InvalidCsv,
    InvalidInput,
    ProfileNotFound,
)
from app.loyalty.ledger import entries, reversals
from app.loyalty.ledger.profiles import (
    find_profile,
    lock_profiles,
    take_held_profiles,
)
from app.models import (
    CustomerLoyaltyProfile,
    ImportBatch,
    LedgerReversal,
    PointsLot,
    PointsTransaction,
    Shop,
)

IMPORT_NAMESPACE = uuid.UUID("6f1d2c1e-7a51-4e0b-9a55-0c3f3b1e9d42")
IMPORT_COLUMNS = ("customer_id", "email", "points", "note")
MAX_POINTS = 10**12
MAX_NOTE = 500
# [0-9], not \d: \d also matches other scripts' digits, which int() reads ("٣" would import 3 points).
_CUSTOMER_ID = re.compile(r"^(?:gid://shopify/Customer/)?([0-9]{1,20})$")
_POINTS = re.compile(r"^\+?[0-9]{1,13}$")

EXPORT_COLUMNS = (
    "entry_id",
    "created_at",
    "customer_id",
    "kind",
    "points",
    "balance_after",
    "reason",
    "cause_type",
    "event_id",
    "rule_id",
    "rule_version_id",
    "redemption_id",
    "actor",
    "import_batch_id",
    "reverses_id",
    "source_type",
    "source_id",
    "shortfall",
    "idempotency_key",
)


@dataclass(frozen=True)
class ImportResult:
    """The batch, its size, and whether it had been imported before (then nothing was written)."""

    batch_id: uuid.UUID
    rows: int
    points: int
    duplicate: bool


@dataclass(frozen=True)
class ReverseImportResult:
    """What reversing a batch took back (and could not, under the cap policy); `duplicate` if already reversed."""

    batch_id: uuid.UUID
    profiles: int
    points_claimed: int
    points_reversed: int
    shortfall: int
    duplicate: bool


@dataclass(frozen=True)
class _Line:
    number: int
    customer_id: str | None
    email: str | None
    points: int
    note: str | None


def import_opening_balances(
    session: Session, *, shop: Shop, csv_text: str, actor: str, now: datetime, filename: str | None = None
) -> ImportResult:
    """Credit every line of the file as one batch, all or nothing (see the module docstring for the format)."""
    if not actor or not actor.strip():
        raise InvalidInput("an import needs the admin who made it")
    text = csv_text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    digest = hashlib.sha256(text.encode()).hexdigest()
    batch_id = uuid.uuid5(IMPORT_NAMESPACE, f"{shop.id}:{digest}")
    existing = session.execute(
        select(ImportBatch).where(ImportBatch.id == batch_id, ImportBatch.shop_id == shop.id)
    ).scalar_one_or_none()
    if existing is not None:
        if existing.reversed_at is not None:
            raise Conflict(f"this file was imported as batch {batch_id} and reversed; change the file to import again")
        return ImportResult(batch_id=batch_id, rows=existing.rows, points=existing.points, duplicate=True)

    lines = _parse(text)
    customers = _resolve(session, shop_id=shop.id, lines=lines)
    inserted = session.execute(
        pg_insert(ImportBatch)
        .values(
            id=batch_id,
            shop_id=shop.id,
            actor=actor.strip(),
            filename=filename,
            rows=len(lines),
            points=sum(line.points for line in lines),
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(ImportBatch.id)
    ).scalar_one_or_none()
    if inserted is None:  # imported by a concurrent request that committed first
        return ImportResult(batch_id=batch_id, rows=len(lines), points=sum(x.points for x in lines), duplicate=True)
    _credit_lines(session, shop=shop, batch_id=batch_id, lines=lines, customers=customers, actor=actor, now=now)
    return ImportResult(batch_id=batch_id, rows=len(lines), points=sum(x.points for x in lines), duplicate=False)


def _credit_lines(
    session: Session,
    *,
    shop: Shop,
    batch_id: uuid.UUID,
    lines: list[_Line],
    customers: dict[int, str],
    actor: str,
    now: datetime,
) -> None:
    """entries.credit of each line (kind "import", posted with its lot: an import is no activity and is never held),
    in statements shared by all lines: a file of tens of thousands of customers imports within one request. Each
    customer appears on one line (_resolve), so each profile moves once, from the state its lock read."""
    locked = lock_profiles(session, [(shop.id, customers[line.number]) for line in lines], now=now)
    profiles = take_held_profiles(session, locked)
    keys = {line.number: f"import:{batch_id}:{line.number}" for line in lines}
    used = entries.keys_used(session, {(shop.id, key) for key in keys.values()})
    cause = entries.Cause("import", import_batch_id=batch_id, actor=actor.strip())
    credited = [line for line in lines if (shop.id, keys[line.number]) not in used]
    rows = [
        entries.entry_row(
            shop_id=shop.id,
            profile_id=profiles[(shop.id, customers[line.number])].id,
            kind="import",
            points=line.points,
            idempotency_key=keys[line.number],
            cause=cause,
            now=now,
            reason=line.note or "Opening balance",
            source=("import_batch", str(batch_id)),
        )
        for line in credited
    ]
    posted = {
        key: entry_id
        for entry_id, key in insert_rows(
            session,
            PointsTransaction.__table__,
            rows,
            conflict=("shop_id", "idempotency_key"),
            returning=("id", "idempotency_key"),
        )
    }
    lots, moved = [], []
    for line in credited:
        profile = profiles[(shop.id, customers[line.number])]
        entry_id = posted.get(keys[line.number])
        if entry_id is None:
            continue  # posted by a concurrent import of the same key since keys_used looked
        lots.append(
            entries.lot_row(
                shop_id=shop.id,
                profile_id=profile.id,
                entry_id=entry_id,
                points=line.points,
                balance_before=profile.points_balance,
                now=now,
                expires_at=entries.lot_expiry(shop, credited_at=now, last_activity_at=profile.last_activity_at),
            )
        )
        moved.append(
            {"id": profile.id, "points_balance": line.points, "lifetime_earned": line.points, "updated_at": now}
        )
    insert_rows(session, PointsLot.__table__, lots)
    update_rows(
        session,
        CustomerLoyaltyProfile.__table__,
        moved,
        match=("id",),
        add=frozenset({"points_balance", "lifetime_earned"}),
    )


def _parse(text: str) -> list[_Line]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    errors: list[tuple[int, str]] = []
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        raise InvalidCsv([(1, "the file is empty; expected a header such as customer_id,points,note")]) from None
    except csv.Error as exc:
        raise InvalidCsv([(1, f"not valid CSV ({exc})")]) from None
    unknown = [name for name in header if name not in IMPORT_COLUMNS]
    if unknown:
        errors.append((1, f"unknown column {unknown[0]!r}; expected {', '.join(IMPORT_COLUMNS)}"))
    if len(set(header)) != len(header):
        errors.append((1, "a column appears twice"))
    if "points" not in header or not ({"customer_id", "email"} & set(header)):
        errors.append((1, "the header needs points and customer_id or email"))
    if errors:
        raise InvalidCsv(errors)

    lines: list[_Line] = []
    seen: dict[str, int] = {}
    number = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append((reader.line_num, f"not valid CSV ({exc})"))
            break
        number = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            errors.append((number, f"expected {len(header)} fields, found {len(row)}"))
            continue
        line, problem = _line(number, dict(zip(header, (cell.strip() for cell in row), strict=True)))
        if problem:
            errors.append((number, problem))
            continue
        assert line is not None
        who = f"customer {line.customer_id}" if line.customer_id else f"email {line.email}"
        if who in seen:
            errors.append((number, f"{who} already appears on line {seen[who]}"))
            continue
        seen[who] = number
        lines.append(line)
    if not lines and not errors:
        errors.append((number + 1, "no customer lines after the header"))
    if errors:
        raise InvalidCsv(errors)
    return lines


def _line(number: int, cells: dict[str, str]) -> tuple[_Line | None, str | None]:
    customer_id = email = None
    if cells.get("customer_id"):
        match = _CUSTOMER_ID.match(cells["customer_id"])
        if not match:
            return None, f"customer_id {cells['customer_id']!r} is not a Shopify customer id"
        customer_id = match.group(1)
    elif cells.get("email"):
        email = cells["email"].lower()
        if "@" not in email or len(email) > 320:
            return None, f"email {cells['email']!r} is not an email address"
    else:
        return None, "needs a customer_id or an email"
    raw = cells.get("points", "")
    if not _POINTS.match(raw) or int(raw) <= 0 or int(raw) > MAX_POINTS:
        return None, f"points must be a whole number from 1 to {MAX_POINTS}, got {raw!r}"
    note = cells.get("note") or None
    if note and len(note) > MAX_NOTE:
        return None, f"note is longer than {MAX_NOTE} characters"
    return _Line(number=number, customer_id=customer_id, email=email, points=int(raw), note=note), None


def _resolve(session: Session, *, shop_id: int, lines: list[_Line]) -> dict[int, str]:
    """Customer id per line; lines given by email must match exactly one profile of this shop."""
    emails = {line.email for line in lines if line.email}
    found: dict[str, list[str]] = {}
    if emails:
        for email, customer_id in session.execute(
            select(func.lower(CustomerLoyaltyProfile.email), CustomerLoyaltyProfile.customer_id).where(
                CustomerLoyaltyProfile.shop_id == shop_id, func.lower(CustomerLoyaltyProfile.email).in_(emails)
            )
        ):
            found.setdefault(email, []).append(customer_id)
    customers: dict[int, str] = {}
    errors: list[tuple[int, str]] = []
    for line in lines:
        if line.customer_id:
            customers[line.number] = line.customer_id
            continue
        matches = found.get(line.email or "", [])
        if len(matches) != 1:
            errors.append((line.number, f"{'no' if not matches else 'more than one'} customer with email {line.email}"))
        else:
            customers[line.number] = matches[0]
    repeated: dict[str, int] = {}
    for line in lines:
        customer = customers.get(line.number)
        if customer is None:
            continue
        if customer in repeated:
            errors.append((line.number, f"customer {customer} already appears on line {repeated[customer]}"))
        repeated.setdefault(customer, line.number)
    if errors:
        raise InvalidCsv(sorted(errors))
    return customers


def reverse_import(
    session: Session, *, shop: Shop, batch_id: uuid.UUID, actor: str, now: datetime
) -> ReverseImportResult:
    """Take back everything a batch credited, once: a reversal entry per credit pointing at it.

    Points already spent follow the shop's negative-balance policy (capped with the shortfall recorded on a
    `ledger_reversals` row per customer, or a negative balance). Raises ImportBatchNotFound for another shop's batch.
    """
    if not actor or not actor.strip():
        raise InvalidInput("reversing an import needs the admin who did it")
    claimed = session.execute(
        update(ImportBatch)
        .where(ImportBatch.id == batch_id, ImportBatch.shop_id == shop.id, ImportBatch.reversed_at.is_(None))
        .values(reversed_at=now)
        .returning(ImportBatch.id)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if claimed is None:
        if (
            session.execute(
                select(ImportBatch.id).where(ImportBatch.id == batch_id, ImportBatch.shop_id == shop.id)
            ).first()
            is None
        ):
            raise ImportBatchNotFound(batch_id)
        return ReverseImportResult(batch_id, 0, 0, 0, 0, duplicate=True)

    source = ("import_batch", str(batch_id))
    cause = entries.Cause("import", import_batch_id=batch_id, actor=actor.strip())
    profile_ids = (
        session.execute(
            select(PointsTransaction.profile_id)
            .where(
                PointsTransaction.shop_id == shop.id,
                PointsTransaction.import_batch_id == batch_id,
                PointsTransaction.kind == "import",
            )
            .distinct()
            .order_by(PointsTransaction.profile_id)
        )
        .scalars()
        .all()
    )
    reason = f"Import {batch_id} reversed"
    taken, slow = _reverse_in_bulk(
        session, shop=shop, batch_id=batch_id, profile_ids=profile_ids, cause=cause, now=now, reason=reason
    )
    for profile_id in slow:  # their profiles are locked: _reverse_in_bulk locked every one of the batch
        taken[profile_id] = reversals.take_back_rest(
            session,
            shop=shop,
            profile_id=profile_id,
            source=source,
            request_key=_reversal_key(batch_id, profile_id),
            cause=cause,
            now=now,
            reason=reason,
        )
    shared = {
        "shop_id": shop.id,
        "kind": "import_reversal",
        "source_type": source[0],
        "source_id": source[1],
        "actor": actor.strip(),
        "created_at": now,
    }
    insert_rows(
        session,
        LedgerReversal.__table__,
        [
            {
                **shared,
                "profile_id": profile_id,
                "idempotency_key": _reversal_key(batch_id, profile_id),
                **one.request_columns(),
            }
            for profile_id, one in sorted(taken.items())
        ],
    )
    total = reversals.TakeBack()
    for one in taken.values():
        total.add(one)
    return ReverseImportResult(
        batch_id, len(profile_ids), total.claimed, total.points_reversed, total.shortfall, duplicate=False
    )


def _reversal_key(batch_id: uuid.UUID, profile_id: int) -> str:
    """The key of one customer's take-back request when a batch is reversed (its ledger_reversals row)."""
    return f"import_reversal:{batch_id}:{profile_id}"


def _reverse_in_bulk(
    session: Session,
    *,
    shop: Shop,
    batch_id: uuid.UUID,
    profile_ids: list[int],
    cause: entries.Cause,
    now: datetime,
    reason: str,
) -> tuple[dict[int, reversals.TakeBack], list[int]]:
    """reversals.take_back_rest of the batch for every customer whose take-back stays inside the batch's own lot (each
    customer has one: one line each), writing what that code writes (the entry, the lot, the balance), in statements
    shared by all of them. Returns what each of them took, and the customers left for take_back_rest one by one: those
    whose reversal must take from other lots too (they spent imported points and earned others since), or whose lot
    expired."""
    # Profiles first, then lots: the order every writer of both locks them in.
    balances = dict(
        session.execute(
            select(CustomerLoyaltyProfile.id, CustomerLoyaltyProfile.points_balance)
            # One array, not a parameter per id: a batch may hold more customers than a statement takes parameters.
            .where(
                CustomerLoyaltyProfile.shop_id == shop.id,
                CustomerLoyaltyProfile.id == any_(literal(profile_ids, ARRAY(BigInteger))),
            )
            .order_by(CustomerLoyaltyProfile.id)
            .with_for_update()
        ).all()
    )
    lots: dict[int, list[Any]] = {}
    for lot in session.execute(
        select(
            PointsTransaction.profile_id,
            PointsLot.id,
            PointsLot.entry_id,
            PointsLot.points,
            PointsLot.reversed_points,
            PointsLot.remaining,
            PointsLot.expired_at,
        )
        .join(PointsTransaction, PointsTransaction.id == PointsLot.entry_id)
        .where(
            PointsTransaction.shop_id == shop.id,
            PointsTransaction.import_batch_id == batch_id,
            PointsTransaction.kind == "import",
        )
        .order_by(PointsLot.id)
        .with_for_update(of=PointsLot)
    ):
        lots.setdefault(lot.profile_id, []).append(lot)
    source = ("import_batch", str(batch_id))
    taken: dict[int, reversals.TakeBack] = {}
    lot_moves: list[dict[str, Any]] = []
    reversal_rows: list[dict[str, Any]] = []
    balance_moves: list[dict[str, Any]] = []
    slow: list[int] = []
    for profile_id in profile_ids:
        found, balance = lots.get(profile_id, []), balances[profile_id]
        if len(found) != 1:
            slow.append(profile_id)
            continue
        (lot,) = found
        want = lot.points - lot.reversed_points
        take = want if shop.negative_balance_policy == "allow" else min(want, max(0, balance))
        covered = min(take, max(0, balance))  # what the reversal takes from lots (post_entry)
        # An expired lot goes the slow way: what it lost to expiry is not taken again (reversals.take_back).
        if want == 0 or covered > lot.remaining or lot.expired_at is not None:
            slow.append(profile_id)
            continue
        lot_moves.append({"id": lot.id, "reversed_points": want, "remaining": -covered})
        if take:
            reversal_rows.append(
                entries.entry_row(
                    **reversals.reversal_entry(
                        shop_id=shop.id,
                        profile_id=profile_id,
                        credit_id=lot.entry_id,
                        want=want,
                        take=take,
                        request_key=_reversal_key(batch_id, profile_id),
                        cause=cause,
                        now=now,
                        reason=reason,
                        source=source,
                    )
                )
            )
            balance_moves.append({"id": profile_id, "points_balance": -take, "updated_at": now})
        taken[profile_id] = reversals.TakeBack(points_reversed=take, shortfall=want - take)
    update_rows(session, PointsLot.__table__, lot_moves, match=("id",), add=frozenset({"reversed_points", "remaining"}))
    written = insert_rows(
        session,
        PointsTransaction.__table__,
        reversal_rows,
        conflict=("shop_id", "idempotency_key"),
        returning=("idempotency_key",),
    )
    if len(written) != len(reversal_rows):  # the request keys are unique, so their entry keys are too
        raise RuntimeError(f"a reversal key of import batch {batch_id} was already used")
    update_rows(
        session, CustomerLoyaltyProfile.__table__, balance_moves, match=("id",), add=frozenset({"points_balance"})
    )
    return taken, slow


def iter_ledger_csv(session: Session, *, shop_id: int, customer_id: str | None = None) -> Iterator[str]:
    """The shop's ledger (or one customer's) as CSV lines, header first, in posting order, with a running balance.

    Columns are fixed (`EXPORT_COLUMNS`). Free-text cells that a spreadsheet would read as a formula are prefixed
    with an apostrophe. Raises ProfileNotFound for a customer this shop does not have.
    """
    conditions = [PointsTransaction.shop_id == shop_id]
    if customer_id is not None:
        profile = find_profile(session, shop_id=shop_id, customer_id=customer_id)
        if profile is None:
            raise ProfileNotFound(customer_id)
        conditions.append(PointsTransaction.profile_id == profile.id)
    running = func.sum(PointsTransaction.points).over(
        partition_by=PointsTransaction.profile_id, order_by=PointsTransaction.id
    )
    query = (
        select(PointsTransaction, CustomerLoyaltyProfile.customer_id, running)
        .join(CustomerLoyaltyProfile, CustomerLoyaltyProfile.id == PointsTransaction.profile_id)
        .where(*conditions)
        .order_by(PointsTransaction.id)
        .execution_options(yield_per=500)
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def flush(row: list[object]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(row)
        return buffer.getvalue()

    yield flush(list(EXPORT_COLUMNS))
    for entry, customer, balance_after in session.execute(query):
        yield flush(
            [
                entry.id,
                entry.created_at.isoformat(),
                customer,
                entry.kind,
                entry.points,
                balance_after,
                _cell(entry.reason),
                entry.cause_type,
                entry.event_id or "",
                entry.rule_id or "",
                entry.rule_version_id or "",
                entry.redemption_id or "",
                _cell(entry.actor),
                entry.import_batch_id or "",
                entry.reverses_id or "",
                entry.source_type or "",
                _cell(entry.source_id),
                entry.shortfall,
                _cell(entry.idempotency_key),
            ]
        )


def export_ledger_csv(session: Session, *, shop_id: int, customer_id: str | None = None) -> str:
    """The whole export as one string (see iter_ledger_csv)."""
    return "".join(iter_ledger_csv(session, shop_id=shop_id, customer_id=customer_id))


def _cell(value: str | None) -> str:
    if not value:
        return ""
    return "'" + value if value[0] in "=+-@\t\r" else value
