"""The loader's own checks, run on the team's values.

An edit is checked exactly as a row of an export would be: its cells, as text, go through
``kam_core.ingest.loader.checked_sql`` (the one definition of types, ranges, enumerations,
required columns, Excel errors, defaults and aliases) in a DuckDB connection with the
loader's parsing macros. So an edit is refused with the loader's words —
``attitude 'hostile' is not one of: champion, supporter, neutral, skeptic, opponent`` — and a
value the loader would accept (``Skeptical``, ``12.05.2025``, ``yes``) is accepted and stored
in its canonical form.

References (an account, contact, team member or criterion that must exist) are checked by
the writer against the effective data, with the loader's message (``schema.reference_noun``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from kam_core.ingest.checks import checked_sql, install_macros
from kam_core.ingest.schema import Table
from kam_core.settings import Settings

SOURCE = "wb_check_rows"


@dataclass
class Checked:
    """One row after the checks: its canonical values, or the reasons per column."""

    number: int
    values: dict[str, Any] | None
    problems: list[tuple[str, str]]  # (column, reason)


def prepare(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Install the loader's parsing macros (temporary: they live as long as ``con``)."""
    install_macros(con, settings)


def check_rows(con: duckdb.DuckDBPyConnection, table: Table, rows: list[dict[str, str | None]],
               numbers: list[int]) -> list[Checked]:
    """Check ``rows`` (every column of ``table`` as text or None) as the loader checks a file.

    ``numbers`` identify the rows (a sheet's row numbers, or 1…n). The values of a row that
    passes are typed as the canonical table (defaults applied: a blank piece is a pawn).
    """
    import pyarrow as pa

    if not rows:
        return []
    colmap = {c.name: i for i, c in enumerate(table.columns)}
    arrays = {"_row": pa.array(numbers, type=pa.int64())}
    for c in table.columns:
        arrays[f"c{colmap[c.name]}"] = pa.array([r.get(c.name) for r in rows], type=pa.string())
    con.register(SOURCE, pa.table(arrays))
    try:
        result = _run(con, checked_sql(table, colmap, source=SOURCE))
        out = []
        failed = []
        for row in result:
            number, reason = row["_row"], row.pop("_reason")
            row.pop("_row")
            if reason is None:
                out.append(Checked(number, row, []))
            else:
                out.append(Checked(number, None, []))
                failed.append(number)
        if failed:
            # the rare path: one query per column names the column of each reason
            by_number = {c.number: c for c in out}
            for c in table.columns:
                sql = checked_sql(table, {c.name: colmap[c.name]}, source=SOURCE)
                for row in _run(con, f"select _row, _reason from ({sql}) where _reason is not null "
                                     f"and _row in (select unnest($failed))", {"failed": failed}):
                    by_number[row["_row"]].problems.append((c.name, row["_reason"]))
        return out
    finally:
        con.unregister(SOURCE)


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    params = dict(params or {})
    if "$dec_comma" in sql:
        params["dec_comma"] = False  # the team's numbers use a decimal point (Excel gives numbers)
    cur = con.execute(sql, params or None)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def show(value: Any) -> str:
    """A value quoted as the loader's messages quote it (``kam_show``: at most 60 characters)."""
    text = str(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"'{text}'"
