"""Building blocks shared by the importers.

An importer stages each raw export file with the loader's own readers (encodings, quoting,
ragged rows), keeps it as a temp table (its columns found by header name), and then builds
the canonical staging table ``stg`` with one SELECT over it. The SELECT keeps the raw file's
``_row`` and the raw table stays until the loader has written the rejects (it shows the
original cells as the raw row), so rejects name the original file and row; the SELECT yields
exactly one staged row per raw row: every row is counted once.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from kam_core.ingest.readers import Staged, binary_reason, stage_csv, stage_xlsx, workbook
from kam_core.sqlutil import quote_ident, quote_literal

CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
XLSX_SUFFIXES = {".xlsx", ".xlsm"}
TABULAR_SUFFIXES = CSV_SUFFIXES | XLSX_SUFFIXES

# A stable team-member id made from an owner's name (HubSpot and Dynamics export names, not ids):
# trimmed, lower-cased, inner whitespace collapsed.
OWNER_KEY_MACRO = """
create or replace temp macro kam_owner_key(v) as
    nullif(lower(regexp_replace(trim(v), '\\s+', ' ', 'g')), '')
"""

TEMP_TABLE_EXISTS = """
select count(*) from duckdb_tables() where temporary and table_name = $name
"""

COUNT_STG = "select count(*) from stg"

INSERT_WARNING = """
insert into warnings
select $file, _row, $table, $column, value, message from importer_warnings
"""


def header_key(text: str) -> str:
    """A header as compared: trimmed, case-folded, inner whitespace collapsed.

    >>> header_key('  Company   Name ')
    'company name'
    """
    return " ".join(text.strip().casefold().split())


@dataclass
class RawTable:
    """One raw export file staged as a temp table (``_row`` and its cells), with its headers."""

    name: str
    path: Path
    display: str
    staged: Staged
    headers: list[str]
    columns: dict[str, str] = field(default_factory=dict)  # header key -> quoted identifier
    originals: dict[str, str] = field(default_factory=dict)  # header key -> header as written
    key: Callable[[str], str] = header_key

    def find(self, *names: str) -> str | None:
        """The original header of the first name present (compared by the table's ``key``)."""
        for n in names:
            found = self.originals.get(self.key(n))
            if found is not None:
                return found
        return None

    def has(self, *names: str) -> bool:
        return self.find(*names) is not None

    def col(self, *names: str, alias: str = "m") -> str:
        """SQL for the first present column among ``names`` (null when none is present)."""
        for n in names:
            ident = self.columns.get(self.key(n))
            if ident is not None:
                return f"{alias}.{ident}"
        return "null::varchar"


def peek_csv_header(path: Path) -> list[str]:
    """The header row of a CSV file without reading the whole file (cheap, for detection)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(256 * 1024)
    except OSError:
        return []
    if binary_reason(head):
        return []
    text = head.replace(b"\x00", b"").decode("utf-8-sig", errors="replace")
    first = text.splitlines()[0] if text else ""
    if not first:
        return []
    counts = {d: first.count(d) for d in (",", ";", "\t", "|")}
    delim = max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","
    try:
        return next(csv.reader(io.StringIO(text), delimiter=delim))
    except (StopIteration, csv.Error):
        return []


def peek_xlsx_headers(path: Path) -> dict[str, list[str]]:
    """First non-empty row of every worksheet, by sheet name (empty dict if unreadable)."""
    out: dict[str, list[str]] = {}
    with ExitStack() as stack:
        try:
            wb = stack.enter_context(workbook(path))  # (the load's, opened once for every use)
        except Exception:  # noqa: BLE001 - any broken workbook is simply "not recognised"
            return {}
        for ws in wb.worksheets:
            for values in ws.iter_rows(values_only=True, max_row=20):
                if any(v is not None and str(v).strip() for v in values):
                    out[ws.title] = ["" if v is None else str(v) for v in values]
                    break
    return out


def peek_header(path: Path) -> list[str]:
    """Header of a CSV file or of the first non-empty sheet of a workbook."""
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return peek_csv_header(path)
    if suffix in XLSX_SUFFIXES:
        sheets = peek_xlsx_headers(path)
        return next(iter(sheets.values()), [])
    return []


def used_params(sql: str, params: dict | None) -> dict | None:
    """The parameters ``sql`` refers to (DuckDB refuses unused named parameters).

    >>> used_params("select $a1, $b", {"a": 1, "a1": 2, "b": 3, "c": 4})
    {'a1': 2, 'b': 3}
    """
    if not params:
        return None
    return {k: v for k, v in params.items() if re.search(rf"\${re.escape(k)}\b", sql)} or None


def temp_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return con.execute(TEMP_TABLE_EXISTS, {"name": name}).fetchone()[0] > 0


def unique_idents(headers: list[str]) -> list[str]:
    """Quoted identifiers for headers: blank and repeated names get a suffix."""
    seen: set[str] = set()
    out = []
    for i, h in enumerate(headers):
        name = h.strip() or f"column_{i + 1}"
        base, n = name, 2
        while name.casefold() in seen:
            name, n = f"{base}_{n}", n + 1
        seen.add(name.casefold())
        out.append(quote_ident(name))
    return out


def stage_raw(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    name: str,
    display: str,
    sheet: str | None = None,
    key: Callable[[str], str] = header_key,
    encoding: str | None = None,
    null_values: list[str] | None = None,
    named: bool = False,
) -> RawTable:
    """Stage a raw file as temp table ``name``: ``_row`` and the cells ``c0 … cN`` as text.

    The loader's staging table is renamed, not copied (fast); ``RawTable.col`` finds a column
    by its header. ``named`` gives the columns their header names instead (for user SQL).
    ``encoding`` forces a CSV encoding (else it is sniffed); ``null_values`` are cell texts
    (compared trimmed and upper-cased) that become null.
    """
    if path.suffix.lower() in XLSX_SUFFIXES:
        staged = stage_xlsx(con, path, sheet)
    else:
        staged = stage_csv(con, path, encoding=encoding)
    headers = list(staged.headers)
    idents = unique_idents(headers) if named else [f"c{i}" for i in range(len(headers))]
    columns: dict[str, str] = {}
    originals: dict[str, str] = {}
    for h, ident in zip(headers, idents, strict=True):
        columns.setdefault(key(h), ident)
        originals.setdefault(key(h), h)
    con.execute(f"drop table if exists {name}")
    if null_values or named:
        cells = [
            f"case when list_contains($nulls, upper(trim(c{i}))) then null else c{i} end as {ident}"
            for i, ident in enumerate(idents)
        ]
        con.execute(
            f"create temp table {name} as select _row, {', '.join(cells)} from stg",
            {"nulls": [v.strip().upper() for v in null_values or []]},
        )
        con.execute("drop table stg")
    else:
        con.execute(f"alter table stg rename to {name}")
    return RawTable(name, path, display, staged, headers, columns, originals, key)


@dataclass(frozen=True)
class BlankReason:
    """A reject reason (SQL: the text, or null) that also says why ``columns`` are blank.

    A lookup that finds no partner leaves the column it fills blank: the row is rejected with
    this reason alone, not also with the loader's "account_id is blank (required)". Where the
    reason does not apply (e.g. the lookup's key itself is blank), the loader's own reason does.
    """

    sql: str
    columns: tuple[str, ...]


def reason_sql(reasons: list[str | BlankReason]) -> str:
    """SQL for ``_pre_reason``: every reason that applies, joined by ``'; '`` (null: none)."""
    texts = [r.sql if isinstance(r, BlankReason) else r for r in reasons]
    return ("nullif(concat_ws('; ', " + ", ".join(texts) + "), '')") if texts else "null::varchar"


def blank_sql(reasons: list[str | BlankReason]) -> str:
    """SQL for ``_pre_blank``: the columns whose blank a reason that applies already explains.

    >>> blank_sql([BlankReason("r", ("account_id",))])
    "list_filter([case when (r) is not null then 'account_id' end], lambda x: x is not null)"
    >>> blank_sql(["r"])
    '[]::varchar[]'
    """
    cases = [f"case when ({r.sql}) is not null then {quote_literal(c)} end"
             for r in reasons if isinstance(r, BlankReason) for c in r.columns]
    if not cases:
        return "[]::varchar[]"
    return f"list_filter([{', '.join(cases)}], lambda x: x is not null)"


def build_stg(
    con: duckdb.DuckDBPyConnection,
    main: RawTable,
    exprs: dict[str, str],
    from_sql: str,
    reasons: list[str | BlankReason] | None = None,
    params: dict | None = None,
    extra_headers: list[str] | None = None,
    decimal_comma: bool | None = False,
) -> Staged:
    """Create ``stg`` from one SELECT over ``main`` (alias ``m``) and return what the loader needs.

    ``exprs`` maps canonical column names to SQL; ``reasons`` are SQL expressions giving a
    reject reason or null (a ``BlankReason`` also names the columns it leaves blank);
    ``extra_headers`` are listed by the loader as ignored columns.
    ``main`` stays in place: the loader shows its cells as the raw text of rejected rows and
    then drops it.
    """
    cols = list(exprs)
    reasons = list(reasons or [])
    select = ", ".join(f"cast({exprs[c]} as varchar) as c{i}" for i, c in enumerate(cols))
    sql = f"""create or replace temp table stg as
            select m._row, {reason_sql(reasons)} as _pre_reason, {blank_sql(reasons)} as _pre_blank, {select}
            {from_sql}"""
    con.execute(sql, used_params(sql, params))
    staged_rows = con.execute(COUNT_STG).fetchone()[0]
    expected = main.staged.rows_read - len(main.staged.raw_rejects)
    if staged_rows != expected:  # a lookup joined more than once: a bug, never a silent loss
        raise AssertionError(f"{main.display}: staged {staged_rows} rows, expected {expected}")
    return Staged(
        headers=cols,
        ignored_headers=list(extra_headers or []),
        delimiter=main.staged.delimiter,
        encoding=main.staged.encoding,
        file_format=main.staged.file_format,
        rows_read=main.staged.rows_read,
        raw_rejects=list(main.staged.raw_rejects),
        has_pre_reason=True,
        has_pre_blank=True,
        decimal_comma=decimal_comma,
        raw_table=main.name,
        raw_columns=len(main.headers),
    )


def build_derived_stg(
    con: duckdb.DuckDBPyConnection, select_sql: str, headers: list[str], params: dict | None = None
) -> Staged:
    """Create ``stg`` from a SELECT that yields ``_row``, ``_raw`` and ``c0..cN`` (derived rows)."""
    sql = f"create or replace temp table stg as {select_sql}"
    con.execute(sql, used_params(sql, params))
    n = con.execute(COUNT_STG).fetchone()[0]
    return Staged(headers=headers, rows_read=n, has_raw=True, decimal_comma=False)


def add_warnings(
    con: duckdb.DuckDBPyConnection,
    display: str,
    table: str,
    column: str,
    select_sql: str,
    params: dict | None = None,
) -> None:
    """Record importer warnings (a SELECT of ``_row, value, message``) for one staged file."""
    sql = f"create or replace temp table importer_warnings as {select_sql}"
    con.execute(sql, used_params(sql, params))
    con.execute(INSERT_WARNING, {"file": display, "table": table, "column": column})
    con.execute("drop table importer_warnings")


def drop(con: duckdb.DuckDBPyConnection, *names: str) -> None:
    for n in names:
        con.execute(f"drop table if exists {n}")


def display_of(path: Path, base: Path, displays: dict[Path, str] | None) -> str:
    """The file name as the user knows it (relative to its source)."""
    if displays and path in displays:
        return displays[path]
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.name


def owner_team_stager(
    sources: list[tuple[Path, str | None, str, str]], label: str, key: Callable[[str], str] = header_key
) -> Callable[[duckdb.DuckDBPyConnection], Staged]:
    """Team rows derived from owner names: one per distinct name, id = ``kam_owner_key(name)``.

    ``sources`` are (path, sheet, display, owner header). Each derived row is one staged row;
    its raw text names the files the owner appears in.
    """

    def stager(con: duckdb.DuckDBPyConnection) -> Staged:
        con.execute(OWNER_KEY_MACRO)
        parts = []
        for i, (path, sheet, display, header) in enumerate(sources):
            raw = stage_raw(con, path, f"owner_src_{i}", display, sheet, key)
            col = raw.col(header)
            con.execute(
                f"create or replace temp table owner_names_{i} as "
                f"select distinct trim({col}) as name, $f as file from {raw.name} m "
                f"where kam_owner_key({col}) is not null",
                {"f": display},
            )
            drop(con, raw.name)
            parts.append(f"select * from owner_names_{i}")
        union = (
            " union all ".join(parts)
            if parts
            else "select null::varchar as name, null::varchar as file where false"
        )
        staged = build_derived_stg(
            con,
            f"""with names as ({union}),
                owners as (
                    select kam_owner_key(name) as member_id,
                           min(regexp_replace(name, '\\s+', ' ', 'g')) as name,
                           string_agg(distinct file, ', ' order by file) as files
                    from names group by all
                )
                select (row_number() over (order by member_id) + 1)::bigint as _row,
                       name || ' (owner in ' || files || ')' as _raw,
                       member_id as c0, name as c1
                from owners""",
            ["member_id", "name"],
        )
        for i in range(len(sources)):
            drop(con, f"owner_names_{i}")
        return staged

    stager.label = label  # type: ignore[attr-defined]
    return stager


_GUID = re.compile(r"^\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?$")


def value_map(base: dict[str, str], overrides: dict, table: str, column: str) -> dict[str, str]:
    """A CRM's built-in value map (e.g. role names -> buying_role) with the mapping file's
    ``[tables.<table>.values.<column>]`` entries on top (keys and values trimmed, lower-cased)."""
    merged = dict(base)
    override = overrides.get(table)
    if override and column in override.values:
        merged.update({k.strip().lower(): v.strip().lower() for k, v in override.values[column].items()})
    return merged


def is_guid(text: str) -> bool:
    """
    >>> is_guid('7d51925c-cde2-e411-80db-00155d2a68cb')
    True
    """
    return bool(_GUID.match(text.strip()))
