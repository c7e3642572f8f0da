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


@dataclass
class Inventory:
    table_rows: dict[str, int]
    missing_tables: list[str]
    files: pd.DataFrame
    rejects: int
    warnings: int
    reject_sample: pd.DataFrame
    info: dict[str, str]


def database_inventory(con: duckdb.DuckDBPyConnection, sample: int = 200) -> Inventory:
    tables = loaded_tables(con)
    rows = {t: con.execute(f"select count(*) from {t}").fetchone()[0] for t in LOAD_ORDER if t in tables}
    return Inventory(
        table_rows=rows,
        missing_tables=[t for t in LOAD_ORDER if t not in tables],
        files=fetch_frame(con, FILES_SQL),
        rejects=con.execute("select count(*) from rejects").fetchone()[0],
        warnings=con.execute("select count(*) from warnings").fetchone()[0],
        reject_sample=fetch_frame(con, REJECT_SAMPLE_SQL, {"limit": sample}),
        info=dict(con.execute("select key, value from load_info").fetchall()),
    )
