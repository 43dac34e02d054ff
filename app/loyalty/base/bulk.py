"""Many rows in one INSERT whose text never changes: `INSERT … SELECT * FROM unnest(column arrays)`.

A multi-row VALUES statement is new text for every row count, so it is compiled, converted and planned again each
time, which for a batch of a few hundred rows costs more than the round trip it saves. Here each column travels as
one array parameter, in binary (`%b`: no text escaping of every element): the statement is the same for any number
of rows (PostgreSQL prepares it once per connection), and RETURNING reports the rows actually inserted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import Enum, String, Table, func, literal
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import TableValuedAlias
from sqlalchemy.types import TypeEngine

_DIALECT = postgresql.dialect()


def pairs_table(
    pairs: Sequence[tuple[Any, Any]], types: tuple[TypeEngine[Any], TypeEngine[Any]], names: tuple[str, str]
) -> TableValuedAlias:
    """Pairs of values as a derived table `wanted(names)`, for `tuple_(a, b).in_(select(wanted.c…))`: two array
    parameters, so one statement text for any number of pairs, which PostgreSQL prepares once (an IN list of pairs is
    new text, two parameters per pair, converted again on every call)."""
    return (
        func.unnest(
            literal([first for first, _ in pairs], postgresql.ARRAY(types[0])),
            literal([second for _, second in pairs], postgresql.ARRAY(types[1])),
        )
        .table_valued(*names)
        .render_derived(name="wanted")
    )


def _element_type(type_: TypeEngine[Any]) -> str:
    """The SQL type of a column's values in its array parameter. A string column's length is left out: an explicit
    cast to VARCHAR(64) cuts a longer value without a word (SQL's rule for casts), while writing it to the column
    fails, so an order id or idempotency key that does not fit is refused instead of becoming another one."""
    if isinstance(type_, String) and not isinstance(type_, Enum) and type_.length is not None:
        return "VARCHAR"
    return type_.compile(dialect=_DIALECT)


def insert_rows(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    conflict: Iterable[str] | None = None,
    returning: Iterable[str] = (),
) -> list[tuple[Any, ...]]:
    """Insert `rows` (dicts with the same keys: column names) into `table` in the session's transaction; with
    `conflict` (the columns of a unique index, or none for any), rows that would violate it are skipped (ON CONFLICT
    DO NOTHING).
    Returns the `returning` columns of each inserted row ([] without `returning`)."""
    if not rows:
        return []
    columns = tuple(rows[0])
    sql, json_columns = _statement(table, columns, None if conflict is None else tuple(conflict), tuple(returning))
    arrays = [
        [Jsonb(row[name]) if name in json_columns and row[name] is not None else row[name] for row in rows]
        for name in columns
    ]
    result = session.connection().exec_driver_sql(sql, tuple(arrays))
    return [tuple(row) for row in result] if returning else []


@cache
def _statement(
    table: Table, columns: tuple[str, ...], conflict: tuple[str, ...] | None, returning: tuple[str, ...]
) -> tuple[str, frozenset[str]]:
    types = {name: _element_type(table.c[name].type) for name in columns}
    unnest = ", ".join(f"%b::{types[name]}[]" for name in columns)
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT * FROM unnest({unnest})"
    if conflict is not None:
        sql += f" ON CONFLICT ({', '.join(conflict)}) DO NOTHING" if conflict else " ON CONFLICT DO NOTHING"
    if returning:
        sql += f" RETURNING {', '.join(returning)}"
    return sql, frozenset(name for name, type_ in types.items() if type_ == "JSONB")


def update_rows(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    match: tuple[str, ...],
    add: frozenset[str] = frozenset(),
    also: str = "",
    read_only: frozenset[str] = frozenset(),
) -> None:
    """Update many rows in one statement: each dict names a row by its `match` columns and gives new values for the
    others (added to the stored value for columns in `add`); `also` is one more SQL condition on `t` (the table) and
    `v` (the row's values), which may read columns named in `read_only` (values never written). Dicts have the same
    keys."""
    if not rows:
        return
    columns = tuple(rows[0])
    sql, json_columns = _update_statement(table, columns, frozenset(match) | read_only, add, also, match)
    arrays = [
        [Jsonb(row[name]) if name in json_columns and row[name] is not None else row[name] for row in rows]
        for name in columns
    ]
    session.connection().exec_driver_sql(sql, tuple(arrays))


@cache
def _update_statement(
    table: Table,
    columns: tuple[str, ...],
    unset: frozenset[str],
    add: frozenset[str],
    also: str,
    match: tuple[str, ...],
) -> tuple[str, frozenset[str]]:
    types = {name: _element_type(table.c[name].type) for name in columns}
    unnest = ", ".join(f"%b::{types[name]}[]" for name in columns)
    changes = ", ".join(
        f"{name} = t.{name} + v.{name}" if name in add else f"{name} = v.{name}"
        for name in columns
        if name not in unset
    )
    condition = " AND ".join([f"t.{name} = v.{name}" for name in match] + ([f"({also})"] if also else []))
    sql = f"UPDATE {table.name} AS t SET {changes} FROM unnest({unnest}) AS v({', '.join(columns)}) WHERE {condition}"
    return sql, frozenset(name for name, type_ in types.items() if type_ == "JSONB")
