"""What a database holds: tables and row counts, files and their fate, rejects (Data page)."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from kam_core.ingest.schema import LOAD_ORDER, loaded_tables
from kam_core.sqlutil import fetch_frame

FILES_SQL = """
select
    source_file as file,
    table_name as "table",
    file_format as format,
    rows_read,
    rows_loaded,
    rows_rejected,
    -- the share of the file's rows rejected (null for a file with no row read)
    rows_rejected / nullif(rows_read, 0) as rejected_share,
    coalesce(fatal_error, failure, '') as problem,
    coalesce(notes, '') as notes,
    coalesce(ignored_columns, '') as ignored_columns
from load_files
order by file_ordinal
"""

REJECT_SAMPLE_SQL = """
select source_file as file, row_number as "row", table_name as "table", reason, raw_row
from rejects
order by source_file, row_number, table_name
limit $limit
"""

# Every reject, for the download (the page shows a sample)
ALL_REJECTS_SQL = """
select source_file as file, row_number as "row", table_name as "table", reason, raw_row
from rejects
order by source_file, row_number, table_name
"""

def kinds_sql(table: str, text: str) -> str:
    """The rows of ``rejects`` or ``warnings`` by kind of problem: a ``text`` (the reason, the
    message) with its values (quoted cells, numbers) taken out is the kind; each kind with its
    number of rows, its first row and that row's text, the largest kind first. A file with
    5,000 rejects for one bad column reads as one line."""
    return f"""
with kinds as (
    select
        source_file,
        table_name,
        row_number,
        {text},
        regexp_replace(coalesce({text}, ''), '''[^'']*''|[0-9][0-9.,:/-]*', '…', 'g') as kind,
    from {table}
)
select
    source_file as file,
    table_name as "table",
    count(*) as "rows",
    min(row_number) as first_row,
    arg_min({text}, (row_number, {text})) as {text},
from kinds
group by source_file, table_name, kind
order by "rows" desc, file, first_row
limit $limit
"""


REJECT_GROUPS_SQL = kinds_sql("rejects", "reason")
WARNING_GROUPS_SQL = kinds_sql("warnings", "message")

WARNING_SAMPLE_SQL = """
select source_file as file, row_number as "row", table_name as "table", message
from warnings
order by source_file, row_number, table_name
limit $limit
"""

# Every warning, for the download
ALL_WARNINGS_SQL = """
select source_file as file, row_number as "row", table_name as "table", column_name as "column", value, message
from warnings
order by source_file, row_number, table_name
"""

@dataclass
class Inventory:
    table_rows: dict[str, int]
    missing_tables: list[str]
    files: pd.DataFrame
    rejects: int
    warnings: int
    reject_sample: pd.DataFrame
    info: dict[str, str]
    # the rejects by kind of problem (``REJECT_GROUPS_SQL``): file, table, rows, first_row, reason
    reject_groups: pd.DataFrame
    # the warnings by kind (``WARNING_GROUPS_SQL``): file, table, rows, first_row, message
    warning_groups: pd.DataFrame
    warning_sample: pd.DataFrame


def database_inventory(con: duckdb.DuckDBPyConnection, sample: int = 200) -> Inventory:
    """What the database holds; ``sample``: at most this many rejects, warnings and kinds of
    each (0: the counts alone, as the Home page's footer needs them — no kinds computed)."""
    tables = loaded_tables(con)
    rows = {t: con.execute(f"select count(*) from {t}").fetchone()[0] for t in LOAD_ORDER if t in tables}

    def rows_of(query: str) -> pd.DataFrame:
        return fetch_frame(con, query if sample > 0 else f"select * from ({query}) where false", {"limit": sample})

    return Inventory(
        table_rows=rows,
        missing_tables=[t for t in LOAD_ORDER if t not in tables],
        files=fetch_frame(con, FILES_SQL),
        rejects=con.execute("select count(*) from rejects").fetchone()[0],
        warnings=con.execute("select count(*) from warnings").fetchone()[0],
        reject_sample=rows_of(REJECT_SAMPLE_SQL),
        info=dict(con.execute("select key, value from load_info").fetchall()),
        reject_groups=rows_of(REJECT_GROUPS_SQL),
        warning_groups=rows_of(WARNING_GROUPS_SQL),
        warning_sample=rows_of(WARNING_SAMPLE_SQL),
    )


@dataclass(frozen=True)
class LoadSummary:
    """The Home page's footer: rows loaded (every canonical table), rows rejected, and the
    load's facts (``load_info``: loaded_at, sources, ...)."""

    rows_loaded: int
    rejects: int
    info: dict[str, str]


def load_summary(con: duckdb.DuckDBPyConnection) -> LoadSummary:
    """What ``database_inventory`` tells the footer, in three queries (the inventory runs
    eighteen: 30-40 ms on each Home page)."""
    tables = loaded_tables(con)
    counts = [f"select count(*) as n from {table}" for table in LOAD_ORDER if table in tables]
    rows, rejects = con.execute(
        f"select (select coalesce(sum(n), 0) from ({' union all '.join(counts) or 'select 0 as n'})), "
        "(select count(*) from rejects)"
    ).fetchone()
    return LoadSummary(rows_loaded=int(rows), rejects=int(rejects),
                       info=dict(con.execute("select key, value from load_info").fetchall()))


def all_rejects_csv(con: duckdb.DuckDBPyConnection) -> bytes:
    """Every reject as the download's CSV (file, row, table, reason, raw_row)."""
    return _csv(con, ALL_REJECTS_SQL)


def all_warnings_csv(con: duckdb.DuckDBPyConnection) -> bytes:
    """Every warning as the download's CSV (file, row, table, column, value, message)."""
    return _csv(con, ALL_WARNINGS_SQL)


def _csv(con: duckdb.DuckDBPyConnection, query: str) -> bytes:
    """A query's rows as a download's CSV, on a cursor of its own: a download is built on the
    server's thread when somebody clicks."""
    from kam_core.export import to_csv_bytes

    cur = con.cursor()
    try:
        return to_csv_bytes(fetch_frame(cur, query))
    finally:
        cur.close()
