"""Staging a mapped source: the stagers that turn a mapping's tables into ``stg`` for the loader."""

from __future__ import annotations

import fnmatch
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from kam_core.errors import FatalFileError
from kam_core.ingest.importers.common import (
    TABULAR_SUFFIXES,
    XLSX_SUFFIXES,
    RawTable,
    display_of,
)
from kam_core.ingest.importers.mapping.declarative import declarative_stager
from kam_core.ingest.importers.mapping.model import Mapping, TableMapping, table_order
from kam_core.ingest.importers.mapping.sqlworker import SqlJob, SqlResult, run_sql
from kam_core.ingest.readers import NUL_LOG, WORK_DIR, RawReject, Staged, log_short_rows
from kam_core.ingest.schema import TABLES, Column
from kam_core.ingest.sources import SourceFile
from kam_core.ingest.workspace import work_dir

if TYPE_CHECKING:
    from kam_core.settings import Settings

# ---------------------------------------------------------------- SQL for columns


def column_sql(
    col: Column, expr: str, tm: TableMapping, params: dict[str, Any], tag: str, date_format: str | None = None
) -> str:
    """Wrap ``expr`` with the table mapping's value map, date format and default for ``col``.

    Values travel as parameters named after ``tag`` (unique per column).
    """
    vmap = tm.values.get(col.name)
    if vmap:
        params[f"vs_{tag}"] = [k.strip().lower() for k in vmap]
        params[f"vd_{tag}"] = [v.strip().lower() if col.kind == "enum" else v for v in vmap.values()]
        pos = f"list_position($vs_{tag}, lower(trim({expr})))"
        expr = f"(case when {pos} is not null then nullif($vd_{tag}[{pos}], '') else {expr} end)"
    if col.name in tm.normalise:
        expr = f"nullif(lower(regexp_replace(trim({expr}), '\\s+', ' ', 'g')), '')"
    if date_format and col.kind in ("date", "month"):
        params[f"df_{tag}"] = date_format
        expr = f"coalesce(strftime(try_strptime(trim({expr}), $df_{tag}), '%Y-%m-%d'), {expr})"
    if col.name in tm.defaults:
        params[f"dv_{tag}"] = tm.defaults[col.name]
        expr = f"coalesce(kam_clean({expr}), $dv_{tag})" if expr != "null::varchar" else f"$dv_{tag}"
    return expr


def apply_overrides(
    table: str, exprs: dict[str, str], main: RawTable, override: TableMapping | None, params: dict[str, Any]
) -> set[str]:
    """Adjust a CRM importer's column expressions with a mapping's ``[tables.<table>]`` entry.

    Returns the source headers the override uses (so they are not listed as ignored).
    """
    used: set[str] = set()
    if override is None:
        return used
    t = TABLES[table]
    for col, src in override.columns.items():
        sources = src if isinstance(src, list) else [src]
        missing = [s for s in sources if not main.has(s)]
        if missing:
            raise FatalFileError(
                f"{main.display}: the mapping's tables.{table}.columns.{col} = {missing[0]!r} names no column "
                f"of this file; its columns are {', '.join(h for h in main.headers if h.strip())}"
            )
        used.update(main.find(s) or s for s in sources)
        if len(sources) == 1:
            exprs[col] = main.col(sources[0])
        else:
            exprs[col] = (
                "nullif(concat_ws(' ', " + ", ".join(f"kam_clean({main.col(s)})" for s in sources) + "), '')"
            )
    for i, col in enumerate(t.columns):
        if col.name in override.values or col.name in override.defaults or col.name in override.columns:
            exprs[col.name] = column_sql(
                col, exprs.get(col.name, "null::varchar"), override, params, f"o{i}", override.date_format
            )
    return used


# ---------------------------------------------------------------- detection of mapped files


def _match(pattern: str, files: list[Path], base: Path, displays: dict[Path, str] | None) -> list[Path]:
    pat = pattern.replace("\\", "/").casefold()
    out = []
    for p in files:
        disp = display_of(p, base, displays).casefold()
        if fnmatch.fnmatchcase(disp, pat) or fnmatch.fnmatchcase(p.name.casefold(), pat):
            out.append(p)
    return out


def sql_alias(name: str) -> str:
    """The SQL name of a file: its stem, lower-case, other characters as ``_``.

    >>> sql_alias("Order Details.csv")
    'order_details'
    """
    alias = re.sub(r"[^0-9a-z]+", "_", Path(name).stem.casefold()).strip("_") or "file"
    return alias if not alias[0].isdigit() else f"t_{alias}"


def _aliases(
    mapping: Mapping, files: list[Path], base: Path, displays: dict[Path, str] | None
) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for p in files:
        if p.suffix.lower() in TABULAR_SUFFIXES:
            out.setdefault(sql_alias(p.name), p)
    for alias, name in mapping.files.items():
        found = _match(name, files, base, displays)
        if found:
            out[alias.casefold()] = found[0]
    return out


@dataclass
class MappedSources:
    """What a mapping contributes to a load: source files, consumed paths and notes."""

    files: list[SourceFile]
    consumed: set[Path]
    messages: list[str]
    overrides: dict[str, TableMapping]


def mapped_sources(
    mapping: Mapping,
    files: list[Path],
    base: Path,
    displays: dict[Path, str] | None,
    crm_tables: set[str],
    settings: Settings | None = None,
) -> MappedSources:
    """Source files for the mapping's tables; override-only tables are returned for a CRM importer."""

    out = MappedSources([], set(), [], {})
    aliases = _aliases(mapping, files, base, displays)
    listing = ", ".join(display_of(p, base, displays) for p in files if p.suffix.lower() in TABULAR_SUFFIXES)
    for name in sorted(mapping.tables, key=table_order):
        tm = mapping.tables[name]
        if tm.is_override:
            if name in crm_tables:
                out.overrides[name] = tm
                continue
            out.files.append(
                SourceFile(
                    base / f"tables.{name}",
                    f"mapping tables.{name}",
                    name,
                    "mapping",
                    stager=_fatal(
                        f'mapping tables.{name}: give file = "..." with [columns], '
                        'or sql = "select ..." (no CRM export in the source '
                        "has this table to adjust)"
                    ),
                )
            )
            continue
        if tm.sql is not None:
            used = {a: p for a, p in aliases.items() if re.search(rf"\b{re.escape(a)}\b", tm.sql, re.I)}
            display = f"mapping tables.{name} (SQL)"
            out.files.append(
                SourceFile(
                    base / f"tables.{name}.sql",
                    display,
                    name,
                    "sql",
                    stager=_sql_stager(mapping, tm, used, display, sorted(aliases),
                                       {a: display_of(p, base, displays) for a, p in used.items()}, settings),
                )
            )
            out.consumed.update(used.values())
            continue
        found = _match(tm.file or "", files, base, displays)
        if not found:
            out.files.append(
                SourceFile(
                    base / (tm.file or ""),
                    tm.file or "",
                    name,
                    "mapping",
                    stager=_fatal(
                        f"{tm.file}: named by the mapping (tables.{name}.file) but "
                        f"not in the source; files found: {listing or 'none'}"
                    ),
                )
            )
            continue
        lookup_files: dict[str, tuple[Path, str] | str] = {}
        for alias, lk in tm.lookups.items():
            hits = _match(lk.file, files, base, displays)
            if hits:
                lookup_files[alias] = (hits[0], display_of(hits[0], base, displays))
                out.consumed.add(hits[0])
            else:
                lookup_files[alias] = (f"{lk.file}: named by the mapping (tables.{name}.lookups.{alias}.file) but "
                                       f"not in the source; files found: {listing or 'none'}")
        for p in found:
            display = display_of(p, base, displays)
            fmt = "xlsx" if p.suffix.lower() in XLSX_SUFFIXES else "csv"
            out.files.append(
                SourceFile(p, display, name, fmt, tm.sheet,
                           stager=declarative_stager(mapping, tm, p, display, lookup_files))
            )
            out.consumed.add(p)
    if out.files:
        out.messages.append("mapping: " + ", ".join(f"{f.table} <- {f.display}" for f in out.files))
    return out


def _fatal(message: str):
    def stager(con: duckdb.DuckDBPyConnection) -> Staged:
        raise FatalFileError(message)

    return stager


def _sql_stager(mapping: Mapping, tm: TableMapping, used: dict[str, Path], display: str,
                all_names: list[str], displays: dict[str, str], settings: Settings | None):
    """Run the SELECT in a worker process (no file access, bounded in time and memory), then
    stage its rows; the load report gets the rows read per file and the rows a join lost."""

    def stager(con: duckdb.DuckDBPyConnection) -> Staged:
        from kam_core.settings import Settings

        s = settings or Settings()
        nulls = tm.null_values if tm.null_values is not None else (mapping.null_values or ["NULL"])
        work = WORK_DIR.get()
        own = work is None
        out_dir = Path(tempfile.mkdtemp(prefix="sql-", dir=work)) if work else work_dir("sql")
        try:
            job = SqlJob(
                table=tm.table, sql=tm.sql or "", files={a: (str(p), displays[a]) for a, p in used.items()},
                all_names=all_names, out_dir=str(out_dir), time_limit_s=float(s.mapping_sql_time_limit_s),
                memory_mb=float(s.mapping_sql_memory_mb), encoding=tm.encoding or mapping.encoding,
                null_values=nulls, date_order=s.date_order)
            result = run_sql(job)
            if not result.ok:
                raise FatalFileError(f"{display}: {result.error}")
            return _stage_sql_result(con, tm, mapping, display, result)
        finally:
            if own:
                shutil.rmtree(out_dir, ignore_errors=True)

    return stager


LOST_WARNINGS_SQL = """
insert into warnings
select $file, _row, $table, null, null, $message
from read_parquet($path)
order by _row
"""


def _stage_sql_result(con: duckdb.DuckDBPyConnection, tm: TableMapping, mapping: Mapping, display: str,
                      result: SqlResult) -> Staged:
    headers = list(result.columns)
    select = ", ".join(f"cast({_q(h)} as varchar) as c{i}" for i, h in enumerate(headers))
    con.execute(
        f"create or replace temp table stg as select (file_row_number + 2)::bigint as _row, {select} "
        "from read_parquet($p, file_row_number = true)", {"p": result.parquet})
    decimal = tm.decimal or mapping.decimal
    staged = Staged(
        headers=headers,
        rows_read=result.rows + len(result.raw_rejects),
        file_format="sql",
        decimal_comma=False if decimal is None else decimal == ",",
        raw_rejects=[RawReject(row, raw, reason, file) for file, row, raw, reason in result.raw_rejects],
        inputs=list(result.inputs),
    )
    staged.notes.append(f"{result.rows:,} rows produced by the SQL in {result.seconds:.2f} s")
    for loss in result.joins:
        shown = "; ".join(f"row {row}: {cells[:80]}" for row, cells in loss.examples)
        staged.notes.append(
            f"join: {loss.unmatched:,} of {loss.rows:,} rows of {loss.driving} found no partner in "
            f"{', '.join(loss.partners)} and are not in the result (e.g. {shown}); listed as warnings. "
            "Use a left join to keep them (docs/importing.md)")
        con.execute(LOST_WARNINGS_SQL, {
            "file": loss.driving, "table": tm.table, "path": loss.rows_file,
            "message": f"no partner in {', '.join(loss.partners)} (the join of mapping tables.{tm.table}): "
                       "this row is not in the SQL's result"})
        staged.extra_warnings += loss.unmatched
    if result.nul_log:
        con.execute(f"create temp table if not exists {NUL_LOG} (path varchar, column_name varchar, "
                    "count_chars bigint, count_rows bigint, first_row bigint)")
        for row in result.nul_log:
            con.execute(f"delete from {NUL_LOG} where path = $1 and column_name = $2", [row[0], row[1]])
            con.execute(f"insert into {NUL_LOG} values ($1, $2, $3, $4, $5)", list(row))
    for path in dict.fromkeys(row[0] for row in result.short_log):
        rows = [r for r in result.short_log if r[0] == path]
        log_short_rows(con, Path(path), rows[0][2], rows[0][1], [(r[3], r[4]) for r in rows])
    return staged


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'

