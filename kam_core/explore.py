"""Browsing any loaded table for a meeting: filter by accounts and a search text, sort, limit."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from kam_core.errors import KamError
from kam_core.ingest.schema import TABLES, loaded_tables
from kam_core.sqlutil import fetch_frame, quote_ident

BOOKKEEPING = ("rejects", "warnings", "load_files")


@dataclass
class Page:
    frame: pd.DataFrame
    total: int  # rows matching before the limit


def browsable_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    present = loaded_tables(con)
    return [t for t in TABLES if t in present] + list(BOOKKEEPING)


def browse(con: duckdb.DuckDBPyConnection, table: str, *, account_ids: list[str] | None = None,
           search: str = "", order_by: str | None = None, descending: bool = False,
           limit: int = 5000) -> Page:
    """Rows of ``table``, restricted to ``account_ids`` when the table has accounts, and to rows
    where any column contains ``search`` (case-insensitive)."""
    if table not in browsable_tables(con):
        raise KamError(f"table {table!r} is not loaded; browsable: {', '.join(browsable_tables(con))}")
    columns = [r[0] for r in con.execute(f"describe {quote_ident(table)}").fetchall()]
    where, params = [], {}
    if account_ids is not None and "account_id" in columns:
        where.append("account_id in (select unnest($ids))")
        params["ids"] = list(account_ids)
    if search.strip():
        text = " || ' ' || ".join(f"coalesce(cast({quote_ident(c)} as varchar), '')" for c in columns)
        where.append(f"({text}) ilike $pattern")
        params["pattern"] = "%" + search.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    clause = (" where " + " and ".join(where)) if where else ""
    if order_by is not None and order_by not in columns:
        raise KamError(f"{table} has no column {order_by!r}")
    order = f" order by {quote_ident(order_by)} {'desc' if descending else 'asc'} nulls last" if order_by else ""
    total = con.execute(f"select count(*) from {quote_ident(table)}{clause}", params or None).fetchone()[0]
    params["limit"] = int(limit)
    frame = fetch_frame(con, f"select * from {quote_ident(table)}{clause}{order} limit $limit", params)
    return Page(frame, total)
