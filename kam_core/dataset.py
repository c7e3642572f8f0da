"""The connection every reader of a loaded database uses: the app, the SQL box, reports.

A *dataset connection* is an in-memory DuckDB database with the CRM database file attached
read-only as the catalog ``crm`` and one view per table of it in the default schema, so that
queries name the tables as usual (``select * from contacts``). Two things follow from that:

- **Reloads are safe.** A load writes a new file and moves it into place; a connection opened
  before keeps reading the old file (its inode) until its last cursor is gone, and a connection
  opened afterwards attaches the new file — DuckDB's per-path instance cache is not involved,
  because every dataset connection is its own in-memory instance.
- **The team's edits can be laid over the export.** ``overlay`` (a function of the workbench)
  is called before the configuration is locked and may replace the view of an editable table
  with one that merges the export with the team's records.

After that, external access is disabled and the configuration locked: no file reads, no
ATTACH, no INSTALL, no SET, whatever SQL runs on the connection later.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "kam.duckdb"
>>> with duckdb.connect(str(path)) as setup:
...     _ = setup.execute("create table accounts as select 'A' as account_id")
>>> con = open_dataset(path)
>>> con.execute("select account_id from accounts").fetchall()
[('A',)]
>>> con.execute("select * from read_csv('/etc/passwd')")
Traceback (most recent call last):
...
_duckdb.PermissionException: Permission Error: ...
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from kam_core.sqlutil import quote_ident, quote_literal

CRM_CATALOG = "crm"

BASE_CONFIG = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}

Overlay = Callable[[duckdb.DuckDBPyConnection], None]


def crm_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The tables of the attached CRM database, in name order."""
    rows = con.execute(
        "select table_name from duckdb_tables() where database_name = ? and schema_name = 'main' "
        "order by table_name",
        [CRM_CATALOG],
    ).fetchall()
    return [name for (name,) in rows]


def open_dataset(db_path: Path | str, overlay: Overlay | None = None, *,
                 lock: bool = True, config: dict[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
    """A connection that reads ``db_path`` through views (see the module's docstring).

    ``lock=False`` leaves external access on (for code of ours that writes temporary files);
    the app always locks. ``config`` adds DuckDB settings (the SQL box's worker sets its
    ``memory_limit`` and ``threads``); they are locked with the rest.

    ``overlay`` must be picklable when the SQL box is to use it (it runs in a worker process):
    a module-level function, or ``functools.partial`` of one with plain arguments such as the
    store's path — not a lambda or a closure.
    """
    con = duckdb.connect(":memory:", config={**BASE_CONFIG, **(config or {})})
    try:
        con.execute(f"attach {quote_literal(str(db_path))} as {CRM_CATALOG} (read_only)")
        for table in crm_tables(con):
            con.execute(
                f"create view {quote_ident(table)} as "
                f"select * from {CRM_CATALOG}.main.{quote_ident(table)}"
            )
        if overlay is not None:
            overlay(con)
        if lock:
            con.execute("set enable_external_access = false")
            con.execute("set lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con
