"""The meeting's SQL box: one read-only SELECT, no file or network access, bounded in time and rows.

The connection it runs on must come from ``open_locked`` (or be configured the same way):
``enable_external_access = false`` blocks read_csv('/etc/passwd'), COPY, ATTACH and INSTALL,
and ``lock_configuration = true`` blocks every SET that could undo that. On top of that a
statement is accepted only when DuckDB parses it as exactly one SELECT.

>>> check_sql("select 1")
'select 1'
>>> check_sql("select 1; select 2")
Traceback (most recent call last):
...
kam_core.errors.InvalidSql: Only one statement at a time: found 2. Remove the extra ';'-separated statements.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from kam_core.errors import InvalidSql, QueryInterrupted

LOCKED_CONFIG = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "lock_configuration": True,
}


def open_locked(db_path: Path | str) -> duckdb.DuckDBPyConnection:
    """A read-only connection that cannot read files, reach the network or change settings."""
    return duckdb.connect(str(db_path), read_only=True, config=dict(LOCKED_CONFIG))


@dataclass
class QueryResult:
    frame: pd.DataFrame
    truncated: bool  # more rows existed than the row limit
    seconds: float


def check_sql(sql: str) -> str:
    """The statement text if it is exactly one SELECT; else ``InvalidSql`` saying what to change."""
    text = sql.strip().rstrip(";").strip()
    if not text:
        raise InvalidSql("Enter a SELECT statement.")
    try:
        statements = duckdb.extract_statements(text)
    except duckdb.Error as exc:
        raise InvalidSql(f"The SQL does not parse: {_first_line(exc)}") from None
    if len(statements) != 1:
        raise InvalidSql(
            f"Only one statement at a time: found {len(statements)}. "
            "Remove the extra ';'-separated statements."
        )
    if statements[0].type != duckdb.StatementType.SELECT:
        kind = statements[0].type.name.lower()
        raise InvalidSql(f"Only SELECT queries are allowed here; this is a {kind} statement.")
    return text


def run_query(con: duckdb.DuckDBPyConnection, sql: str, *, max_rows: int = 10_000,
              timeout_s: float = 10.0) -> QueryResult:
    """Run one checked SELECT on its own cursor; interrupt it after ``timeout_s`` seconds."""
    text = check_sql(sql)
    cur = con.cursor()
    timer = threading.Timer(timeout_s, cur.interrupt)
    started = time.perf_counter()
    timer.start()
    try:
        cur.execute(f"select * from ({text}) as q limit {int(max_rows) + 1}")
        frame = cur.fetch_df()
    except duckdb.InterruptException:
        raise QueryInterrupted(
            f"The query was stopped after {timeout_s:g} s (the time limit is set by the setting "
            "sql_time_limit_s). Add filters or aggregate to make it faster."
        ) from None
    except duckdb.PermissionException as exc:
        raise InvalidSql(f"Not allowed here: {_first_line(exc)}. The SQL box reads only the loaded tables.") from None
    except duckdb.Error as exc:
        raise InvalidSql(f"The query failed: {_first_line(exc)}") from None
    finally:
        timer.cancel()
        cur.close()
    truncated = len(frame) > max_rows
    return QueryResult(frame.head(max_rows), truncated, time.perf_counter() - started)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]
