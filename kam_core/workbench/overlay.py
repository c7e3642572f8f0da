"""The export overlaid with the team's edits: what every metric reads.

``overlay_for(store_path)`` gives the function ``kam_core.dataset.open_dataset`` calls before
it locks the connection. It copies the store's current values into the in-memory database
(schema ``workbench``, one small table per edited table: the key, each column's value and
whether the team set it, and the record's version, last writer and time) and replaces the
view of each edited table with one that merges:

- the export's rows, with the team's value on top wherever the team set a column;
- plus the records the team created (when the records they need — their account, contact,
  team member, criterion — are there; otherwise they are listed by ``orphans``);
- minus the records the team deleted.

Column names and types are exactly those of the canonical table (``kam_core.ingest.schema``),
so every metric works unchanged. A table the export lacks but the team recorded rows for
becomes a view of the team's rows alone (``loaded_tables`` then lists it). Tables the team
never touched keep the plain view: no cost.

>>> import tempfile, pathlib, duckdb
>>> from kam_core.dataset import open_dataset
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> with duckdb.connect(str(folder / "kam.duckdb")) as setup:
...     _ = setup.execute("create table accounts as select 'A' as account_id, 'Alpha' as name")
>>> con = open_dataset(folder / "kam.duckdb", overlay_for(folder / "none.sqlite"))
>>> con.execute("select count(*) from accounts").fetchone()[0]
1
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from kam_core.dataset import CRM_CATALOG
from kam_core.ingest.schema import TABLES, Column
from kam_core.sqlutil import quote_ident
from kam_core.workbench.store import read_store
from kam_core.workbench.tables import CREATED, DELETED, EDITABLE, Editable, decode_key, from_store

SCHEMA = "workbench"

ARROW_TYPES = {"VARCHAR": "string", "INTEGER": "int32", "DOUBLE": "float64", "DATE": "date32",
               "BOOLEAN": "bool_"}


@dataclass
class StoredRecord:
    """One record the team touched, as the store holds it now."""

    key: tuple[Any, ...]
    version: int
    changed_by: str
    changed_at: str
    cells: dict[str, Any] = field(default_factory=dict)  # column -> typed value (set by the team)

    @property
    def created(self) -> bool:
        return bool(self.cells.get(CREATED))

    @property
    def deleted(self) -> bool:
        return bool(self.cells.get(DELETED))


StoreValues = dict[str, list[StoredRecord]]

STORE_VALUES_SQL = """
select r.table_name, r.record_key, r.version, b.actor, b.changed_at, c.column_name, c.value
from records as r
join batches as b on b.batch_id = r.last_batch
left join cells as c on c.table_name = r.table_name and c.record_key = r.record_key
order by r.table_name, r.record_key
"""


def read_values(con: sqlite3.Connection) -> StoreValues:
    """Every touched record of every editable table, with its cells (one consistent read)."""
    out: StoreValues = {}
    current: StoredRecord | None = None
    last: tuple[str, str] | None = None
    for table, key_text, version, actor, at, column, value in con.execute(STORE_VALUES_SQL):
        spec = EDITABLE.get(table)
        if spec is None:
            continue
        if (table, key_text) != last:
            current = StoredRecord(decode_key(spec, key_text), version, actor, at)
            out.setdefault(table, []).append(current)
            last = (table, key_text)
        if column is not None:
            col = None if column in (CREATED, DELETED) else _column(spec, column)
            if column in (CREATED, DELETED) or col is not None:
                current.cells[column] = from_store(col, value)
    return out


def load_values(store_path: Path | str) -> StoreValues:
    """The store's current values, or nothing when there is no store."""
    with read_store(store_path) as con:
        if con is None:
            return {}
        con.execute("begin")
        try:
            return read_values(con)
        finally:
            con.execute("commit")


def _column(spec: Editable, name: str) -> Column | None:
    try:
        return spec.table.column(name)
    except KeyError:  # a column the schema no longer has: ignored
        return None


def overlay_for(store_path: Path | str) -> Callable[[duckdb.DuckDBPyConnection], None]:
    """The overlay function for ``open_dataset(db_path, overlay)``: reads the store when called."""
    path = Path(store_path)

    def overlay(con: duckdb.DuckDBPyConnection) -> None:
        apply_overlay(con, load_values(path))

    return overlay


def apply_store_overlay(store_path: Path | str, con: duckdb.DuckDBPyConnection) -> None:
    """``overlay_for(store_path)`` as a module-level function: ``functools.partial(
    apply_store_overlay, path)`` can be pickled (the SQL box's worker process needs that)."""
    apply_overlay(con, load_values(store_path))


def apply_overlay(con: duckdb.DuckDBPyConnection, values: StoreValues) -> list[str]:
    """Lay ``values`` over the views of ``con``; returns the tables whose views were replaced."""
    con.execute(f"create schema if not exists {SCHEMA}")
    export = _export_columns(con)
    replaced = []
    for name, spec in EDITABLE.items():  # contacts before relationships: a view names the one before
        records = values.get(name)
        if not records:
            continue
        _copy_records(con, spec, records)
        has_views = _main_views(con)
        con.execute(view_sql(spec, export.get(name), has_views))
        replaced.append(name)
    return replaced


def _export_columns(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    rows = con.execute(
        "select table_name, column_name from duckdb_columns() where database_name = ? and schema_name = 'main'",
        [CRM_CATALOG],
    ).fetchall()
    out: dict[str, set[str]] = {}
    for table, column in rows:
        out.setdefault(table, set()).add(column)
    return out


def _main_views(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "select view_name from duckdb_views() where database_name = current_database() and schema_name = 'main' "
        "union select table_name from duckdb_tables() where database_name = current_database() "
        "and schema_name = 'main'"
    ).fetchall()
    return {r[0] for r in rows}


def workbench_columns(spec: Editable) -> list[tuple[str, str]]:
    """(name, SQL type) of the copied table ``workbench.<table>``."""
    cols = [(c.name, c.sql_type) for c in spec.columns]
    cols += [(f"set_{c.name}", "BOOLEAN") for c in spec.value_columns]
    cols += [(CREATED, "BOOLEAN"), (DELETED, "BOOLEAN"), ("_version", "INTEGER"),
             ("_changed_by", "VARCHAR"), ("_changed_at", "VARCHAR")]
    return cols


def _copy_records(con: duckdb.DuckDBPyConnection, spec: Editable, records: list[StoredRecord]) -> None:
    """``workbench.<table>`` from the store's records, through Arrow (the store is small)."""
    import pyarrow as pa

    data: dict[str, list[Any]] = {name: [] for name, _ in workbench_columns(spec)}
    for rec in records:
        for name, value in zip(spec.key, rec.key, strict=True):
            data[name].append(value)
        for col in spec.value_columns:
            data[col.name].append(rec.cells.get(col.name))
            data[f"set_{col.name}"].append(col.name in rec.cells)
        data[CREATED].append(rec.created)
        data[DELETED].append(rec.deleted)
        data["_version"].append(rec.version)
        data["_changed_by"].append(rec.changed_by)
        data["_changed_at"].append(rec.changed_at)
    arrays = {name: pa.array(data[name], type=getattr(pa, ARROW_TYPES[sql_type])())
              for name, sql_type in workbench_columns(spec)}
    source = f"wb_src_{spec.name}"
    con.register(source, pa.table(arrays))
    try:
        # a real table of the in-memory database: every cursor of the connection sees it
        # (a registered Arrow object is visible to this connection object only)
        con.execute(f"create or replace table {SCHEMA}.{quote_ident(spec.name)} as select * from {source}")
    finally:
        con.unregister(source)


def _match(spec: Editable, left: str, right: str) -> str:
    parts = []
    for name in spec.key:
        col = spec.table.column(name)
        op = "=" if col.required else "is not distinct from"
        parts.append(f"{left}.{quote_ident(name)} {op} {right}.{quote_ident(name)}")
    return " and ".join(parts)


def view_sql(spec: Editable, export_columns: set[str] | None, views: set[str]) -> str:
    """The merged view of one editable table (``export_columns`` None: the export lacks it)."""
    name = quote_ident(spec.name)
    wb = f"{SCHEMA}.{name}"
    team_cols = ",\n    ".join(f"w.{quote_ident(c.name)}::{c.sql_type} as {quote_ident(c.name)}"
                               for c in spec.columns)
    # a created record needs what its required references point to (the loader rejects
    # such a row); when it is gone, ``orphans`` lists the record instead
    refs = []
    for col in spec.columns:
        if not (col.ref and TABLES[spec.name].column(col.name).required):
            continue
        ref_table, ref_col = col.ref.split(".")
        if ref_table in views:
            refs.append(f"exists (select 1 from main.{quote_ident(ref_table)} as r "
                        f"where r.{quote_ident(ref_col)} = w.{quote_ident(col.name)})")
    team_where = ["w._created", "w._deleted is not true", *refs]
    if export_columns is None:
        return (f"create or replace view main.{name} as\nselect\n    {team_cols}\nfrom {wb} as w\n"
                f"where {' and '.join(team_where)}")
    export = f"{CRM_CATALOG}.main.{name}"
    merged = []
    for col in spec.columns:
        q = quote_ident(col.name)
        exported = f"e.{q}" if col.name in export_columns else "null"
        if col.name in spec.key:
            merged.append(f"{exported}::{col.sql_type} as {q}")
        else:
            flag = quote_ident(f"set_{col.name}")
            merged.append(f"(case when w.{flag} then w.{q} else {exported} end)::{col.sql_type} as {q}")
    team_where.append(f"not exists (select 1 from {export} as e where {_match(spec, 'w', 'e')})")
    return f"""create or replace view main.{name} as
select
    {(',' + chr(10) + '    ').join(merged)}
from {export} as e
left join {wb} as w on {_match(spec, 'w', 'e')}
where w._deleted is not true
union all
select
    {team_cols}
from {wb} as w
where {' and '.join(team_where)}"""
