"""Build the DuckDB database from a source: every input row loaded or kept as a reject.

The pipeline for one file: a reader stages its cells as text (``readers``), then one SQL
pass per step parses and checks every column (types, ranges, enumerations, Excel errors),
then references and keys are checked against what is already loaded, and each row goes to
its table or to ``rejects`` with a reason a person can act on.

A CSV file is first tried in one pass: DuckDB reads it in parallel without row numbers and
the same checks run as the rows go straight into their table, stopping at the first row
that fails one; references and keys are then checked on the inserted rows. Any problem
rolls that attempt back and the steps above run, so a clean file is read once and a file
with rejects twice, with the same result either way (the tests load every case both ways).

A load writes a new database file beside the target and moves it into place only when it
is complete, so a crash or a fatal file never leaves a broken database behind.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import time
import uuid
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb

from kam_core import __version__
from kam_core.asof import data_as_of
from kam_core.errors import FatalFileError, LoadError
from kam_core.ingest.readers import (
    Staged,
    fast_csv,
    serial,
    stage_csv,
    stage_parquet,
    stage_xlsx,
    xlsx_sheet_names,
)
from kam_core.ingest.schema import ENUM_ALIASES, LOAD_ORDER, TABLES, Column, Table, create_schema
from kam_core.metrics.pipeline import store_static_steps
from kam_core.settings import Settings
from kam_core.sqlutil import literal_list, quote_literal

CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
XLSX_SUFFIXES = {".xlsx", ".xlsm"}
PARQUET_SUFFIXES = {".parquet", ".pq"}

# CSV files are first tried in one pass, optimistically (``_clean_file_at_once``); the tests
# switch it off to compare both paths. The error that stops the attempt at a row failing a check:
TRY_ONE_PASS = True
FAST_PATH_STOP = "kam: a row fails a check"

LOAD_MEMORY_LIMIT = "2GB"  # the load stays well inside a small machine, whatever the export size

EXCEL_ERRORS = ("#N/A", "#REF!", "#DIV/0!", "#VALUE!", "#NAME?", "#NUM!", "#NULL!")

# File names that mean a canonical table besides its own name (singular, common synonyms).
TABLE_ALIASES = {
    "account": "accounts",
    "customers": "accounts",
    "contact": "contacts",
    "members": "team",
    "team_members": "team",
    "users": "team",
    "relationship": "relationships",
    "activity": "activities",
    "opportunity": "opportunities",
    "deals": "opportunities",
    "criterion": "criteria",
    "scores": "criterion_scores",
    "criterion_score": "criterion_scores",
    "plan": "plan_actions",
    "actions": "plan_actions",
    "plan_action": "plan_actions",
    "review": "reviews",
    "competitor": "competitors",
}

# Kinds whose parsing turns a blank or NULL cell into null by itself (see ``checked_sql``).
LAZY_CLEAN = ("float", "int", "date", "month", "bool")

KIND_WORDS = {
    "float": "a number",
    "int": "a whole number",
    "date": "a date (YYYY-MM-DD or DD.MM.YYYY)",
    "month": "a month (YYYY-MM or a date in the month)",
    "bool": "true or false (also 1/0, yes/no, ja/nein)",
}


def normalise_name(name: str) -> str:
    """Header or file name as matched: trimmed, case-folded, spaces and hyphens as '_'."""
    return "_".join(name.strip().casefold().replace("-", " ").split())


# ---------------------------------------------------------------- report


@dataclass
class FileResult:
    source_file: str
    table: str | None
    file_format: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    warnings: int = 0
    fatal: str | None = None
    ignored_columns: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class LoadReport:
    db_path: Path
    files: list[FileResult] = field(default_factory=list)
    ignored_files: list[str] = field(default_factory=list)
    table_rows: dict[str, int] = field(default_factory=dict)
    detected: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def fatal_files(self) -> list[FileResult]:
        return [f for f in self.files if f.fatal]

    @property
    def ok(self) -> bool:
        return not self.fatal_files

    def lines(self) -> list[str]:
        """The load output a person reads: one line per file, then what was skipped."""
        out = list(self.detected)
        for f in self.files:
            target = f" -> {f.table}" if f.table else ""
            if f.fatal:
                out.append(f"FATAL {f.source_file}{target}: {f.fatal}")
                continue
            extra = f", {f.warnings} warnings" if f.warnings else ""
            out.append(
                f"{f.source_file}{target}: {f.rows_read} read, {f.rows_loaded} loaded, "
                f"{f.rows_rejected} rejected{extra} ({f.seconds:.2f} s)"
            )
            if f.ignored_columns:
                out.append(f"  columns outside the model, ignored: {', '.join(f.ignored_columns)}")
        for name in self.ignored_files:
            out.append(f"ignored: {name}")
        return out


@dataclass
class SourceFile:
    path: Path
    display: str
    table: str
    file_format: str
    sheet: str | None = None
    # An importer's own reader (foreign formats): stages ``stg`` with canonical column names.
    stager: Callable[[duckdb.DuckDBPyConnection], Staged] | None = None
    # A side file next to a CRM export: its non-blank cells update the rows of the same key
    # that the export loaded; a key the export does not have is rejected.
    merge: bool = False


# ---------------------------------------------------------------- discovering files


def discover(sources: list[Path], workdir: Path, mapping: Path | None = None,
             detected: list[str] | None = None,
             settings: Settings | None = None) -> tuple[list[SourceFile], list[str]]:
    """The files of the sources, each with its table; plus what is ignored and why.

    Exports of known CRMs (and anything a mapping file describes) are recognised first by
    ``importers.detect``, which sees the files of all sources at once (so side files and a
    mapping may span sources); the remaining files are canonical files named after their
    table. ``detected`` collects the importers' messages ("Salesforce Data Export detected: ...").
    """
    from kam_core.ingest.importers import detect

    found: list[SourceFile] = []
    ignored: list[str] = []
    entries: list[tuple[Path, str]] = []  # (path, display name)
    bases: list[Path] = []
    for source in sources:
        source = Path(source)
        if source.is_dir():
            files = sorted(p for p in source.rglob("*") if p.is_file() and not _hidden(p, source))
            base = source
        elif source.suffix.lower() == ".zip":
            target = workdir / f"zip{len(list(workdir.iterdir()))}"
            try:
                with zipfile.ZipFile(source) as zf:
                    _safe_extract(zf, target)
            except zipfile.BadZipFile:
                raise LoadError(f"{source.name}: not a readable zip file") from None
            files = sorted(p for p in target.rglob("*") if p.is_file() and not _hidden(p, target))
            base = target
        else:
            files, base = [source], source.parent
        bases.append(base)
        entries.extend((p, p.relative_to(base).as_posix() if p != source else p.name) for p in files)
    displays = dict(entries)
    base = bases[0] if len(bases) == 1 else Path(os.path.commonpath([str(b.resolve()) for b in bases] or ["."]))
    detection = detect([p for p, _ in entries], base, mapping, settings=settings, displays=displays)
    consumed: set[Path] = set()
    if detection is not None:
        found.extend(detection.files)
        ignored.extend(detection.ignored)
        if detected is not None:
            detected.extend(detection.messages)
        consumed = detection.consumed
    for path, display in entries:
        if path in consumed:
            continue
        found_here, why = _classify(path, display)
        found.extend(found_here)
        if why:
            ignored.append(f"{display} ({why})")
    order = {t: i for i, t in enumerate(LOAD_ORDER)}
    # stable: files of one table keep their order; side files merge after the export's rows
    found.sort(key=lambda f: (order[f.table], f.merge))
    return found, ignored


def _hidden(path: Path, base: Path) -> bool:
    return any(part.startswith((".", "__MACOSX")) for part in path.relative_to(base).parts)


def _safe_extract(zf: zipfile.ZipFile, target: Path) -> None:
    target.mkdir(parents=True)
    for member in zf.infolist():
        dest = (target / member.filename).resolve()
        if not str(dest).startswith(str(target.resolve())):
            raise LoadError(f"zip member {member.filename!r} points outside the archive")
    zf.extractall(target)


def table_for_name(stem: str) -> str | None:
    name = normalise_name(stem)
    if name in TABLES:
        return name
    return TABLE_ALIASES.get(name)


def _classify(path: Path, display: str) -> tuple[list[SourceFile], str | None]:
    suffix = path.suffix.lower()
    table = table_for_name(path.stem)
    if suffix in CSV_SUFFIXES | PARQUET_SUFFIXES:
        if table is None:
            return [], f"no table is named {path.stem!r}; expected one of {', '.join(LOAD_ORDER)}"
        fmt = "csv" if suffix in CSV_SUFFIXES else "parquet"
        return [SourceFile(path, display, table, fmt)], None
    if suffix in XLSX_SUFFIXES:
        if table is not None:
            return [SourceFile(path, display, table, "xlsx")], None
        try:
            sheets = xlsx_sheet_names(path)
        except FatalFileError as exc:
            return [], str(exc)
        out = []
        skipped = []
        for sheet in sheets:
            sheet_table = table_for_name(sheet)
            if sheet_table:
                out.append(SourceFile(path, f"{display} [{sheet}]", sheet_table, "xlsx", sheet))
            else:
                skipped.append(sheet)
        why = None
        if not out:
            why = f"no sheet is named after a table; expected sheets such as {', '.join(LOAD_ORDER[:4])}"
        elif skipped:
            why = f"sheets not named after a table, ignored: {', '.join(skipped)}"
        return out, why
    return [], "not a CSV, Excel (.xlsx) or Parquet file"


# ---------------------------------------------------------------- SQL building blocks


def _date_formats(settings: Settings) -> list[str]:
    day_first = settings.date_order == "dmy"
    slash = ["%d/%m/%Y", "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S"] if day_first else [
        "%m/%d/%Y", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S"]
    return [
        "%d.%m.%Y", "%d.%m.%Y %H:%M", "%d.%m.%Y %H:%M:%S", "%d.%m.%y",
        "%d-%m-%Y", "%d-%m-%Y %H:%M", "%d-%m-%Y %H:%M:%S",  # Excel re-save of ISO stamps
        "%Y/%m/%d", *slash,
    ]


def install_macros(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Parsing functions used by the checks (temporary: they do not end up in the database)."""
    formats = literal_list(_date_formats(settings))
    con.execute(
        f"""
        -- one cheap guard picks the few cells that can be blank or NULL (trim removes spaces)
        create or replace temp macro kam_clean(v) as
            case when v = '' or length(v) = 4 or prefix(v, ' ') or suffix(v, ' ')
                 then case when upper(trim(v)) in ('', 'NULL') then null else v end
                 else v end;
        create or replace temp macro kam_clean_id(v) as  -- kam_clean, and trimmed
            case when v = '' or length(v) = 4 or prefix(v, ' ') or suffix(v, ' ')
                 then case when upper(trim(v)) in ('', 'NULL') then null else trim(v) end
                 else v end;
        -- casts ignore outer white space: only the rare slow branches trim
        create or replace temp macro kam_num(v, dec_comma) as (
            case when dec_comma then
                case when not contains(v, '.') then try_cast(replace(v, ',', '.') as double)
                else try_cast(replace(
                    case when regexp_full_match(trim(v), '[+-]?\\d{{1,3}}(\\.\\d{{3}})+(,\\d*)?')
                         then replace(trim(v), '.', '') else trim(v) end, ',', '.') as double) end
            else coalesce(
                try_cast(v as double),
                try_cast(
                    case when regexp_full_match(trim(v), '[+-]?\\d{{1,3}}(,\\d{{3}})+(\\.\\d*)?')
                         then replace(trim(v), ',', '') end as double))
            end);
        create or replace temp macro kam_date(v) as coalesce(
            try_cast(v as date),
            try_cast(try_cast(v as timestamp) as date),
            try_cast(try_strptime(trim(v), {formats}) as date));
        create or replace temp macro kam_month(v) as date_trunc('month', coalesce(
            case when length(v) <= 8 then try_cast(v || '-01' as date) end,
            try_cast(try_strptime(trim(v), ['%Y-%m', '%Y/%m', '%m.%Y', '%m/%Y']) as date),
            kam_date(v)))::date;
        create or replace temp macro kam_bool(v) as
            case when lower(trim(v)) in ('true', '1', 'yes', 'y', 'ja', 'j', 'wahr', 't') then true
                 when lower(trim(v)) in ('false', '0', 'no', 'n', 'nein', 'falsch', 'f') then false
            end;
        create or replace temp macro kam_csvq(v, d) as
            case when contains(v, d) or contains(v, '"') or contains(v, chr(10)) or contains(v, chr(13))
                 then '"' || replace(v, '"', '""') || '"' else v end;
        create or replace temp macro kam_show(v) as
            '''' || case when length(v) > 60 then left(v, 57) || '...' else v end || '''';
        """
    )


def _enum_expr(col: Column, v: str) -> str:
    norm = f"regexp_replace(lower(trim({v})), '[\\s\\-]+', '_', 'g')"
    aliases = ENUM_ALIASES.get(col.name, {})
    slow = norm
    if aliases:
        whens = " ".join(f"when {quote_literal(a)} then {quote_literal(b)}" for a, b in aliases.items())
        slow = f"(case {norm} {whens} else {norm} end)"
    # most cells are already canonical (perhaps in another case): skip the regex for them
    allowed = ", ".join(quote_literal(x) for x in col.enum)
    return f"(case when lower({v}) in ({allowed}) then lower({v}) else {slow} end)"


def _parse_expr(col: Column, v: str) -> str:
    """SQL turning the cleaned text ``v`` into the column's value (null if it does not parse)."""
    if col.kind == "text":
        return v
    if col.kind == "id":
        return v  # cleaned and trimmed by kam_clean_id
    if col.kind == "enum":
        return _enum_expr(col, v)
    if col.kind in ("float", "int"):
        expr = f"kam_num({v}, $dec_comma)"
        if col.name == "probability":
            # a probability above 1 and up to 100 is a percentage (70 -> 0.7)
            expr = f"(case when {expr} > 1 and {expr} <= 100 then {expr} / 100 else {expr} end)"
        return expr
    if col.kind == "date":
        return f"kam_date({v})"
    if col.kind == "month":
        return f"kam_month({v})"
    if col.kind == "bool":
        return f"kam_bool({v})"
    raise AssertionError(col.kind)


def _checks(col: Column, v: str, p: str) -> list[tuple[str, str]]:
    """(condition, reason) SQL pairs: the reason text applies when the condition is true."""
    name = quote_literal(col.name)
    checks: list[tuple[str, str]] = []
    if col.required:
        checks.append((f"{v} is null", f"{name} || ' is blank (required)'"))
    # Excel error literals all contain '#': that cheap test guards the costly one
    is_excel = f"(contains({v}, '#') and upper(trim({v})) in {tuple(EXCEL_ERRORS)!r})"
    checks.append((is_excel, f"{name} || ' holds the Excel error ' || trim({v})"))
    if col.kind in KIND_WORDS:
        words = quote_literal(KIND_WORDS[col.kind])
        checks.append((f"{v} is not null and {p} is null and not {is_excel}",
                       f"{name} || ' ' || kam_show({v}) || ' is not ' || {words}"))
    if col.kind in ("float", "int"):
        checks.append((f"not isfinite({p})", f"{name} || ' must be a finite number'"))
    if col.kind == "int":
        checks.append((f"isfinite({p}) and {p} <> floor({p})",
                       f"{name} || ' ' || kam_show({v}) || ' is not a whole number'"))
    if col.kind in ("float", "int") and (col.min is not None or col.max is not None):
        conds = []
        if col.min is not None:
            conds.append(f"{p} < {col.min!r}")
        if col.max is not None:
            conds.append(f"{p} > {col.max!r}")
        if col.name == "probability":
            expected = "0-1, or a percentage up to 100"
        elif col.min is not None and col.max is not None:
            expected = f"{_num(col.min)} to {_num(col.max)}"
        elif col.min is not None:
            expected = f"at least {_num(col.min)}"
        else:
            expected = f"at most {_num(col.max)}"
        checks.append((" or ".join(conds),
                       f"{name} || ' ' || kam_show({v}) || ' is out of range (expected {expected})'"))
    if col.kind in ("date", "month"):
        checks.append((f"{p} < date '1900-01-01' or {p} > date '2199-12-31'",
                       f"{name} || ' ' || kam_show({v}) || ' is out of range (expected a year 1900-2199)'"))
    if col.kind == "enum":
        allowed = ", ".join(col.enum)
        what = "names no known metric" if col.name == "source" else "is not one of"
        values = ", ".join(quote_literal(x) for x in col.enum)
        checks.append((f"{p} not in ({values}) and not {is_excel}",
                       f"{name} || ' ' || kam_show({v}) || ' {what}: {allowed}'"))
    return checks


def _failed(col: Column, v: str, p: str) -> str:
    """One SQL condition, true when any of ``_checks(col)`` fails (cheaper than OR-ing them all).

    An Excel error never parses as a number, date, month, truth value or allowed enumeration
    value, so for those kinds the parse failing covers it; text and ids test for it.
    """
    if col.kind in ("text", "id"):
        excel = f"(contains({v}, '#') and upper(trim({v})) in {tuple(EXCEL_ERRORS)!r})"
        return f"{v} is null or {excel}" if col.required else excel
    if col.kind == "enum":
        values = ", ".join(quote_literal(x) for x in col.enum)
        cond = f"{p} in ({values})"
    else:
        conds = [f"{p} is not null"]
        if col.kind in ("float", "int"):
            conds.append(f"isfinite({p})")
        if col.kind == "int":
            conds.append(f"{p} = floor({p})")
        if col.kind in ("float", "int") and col.min is not None:
            conds.append(f"{p} >= {col.min!r}")
        if col.kind in ("float", "int") and col.max is not None:
            conds.append(f"{p} <= {col.max!r}")
        if col.kind in ("date", "month"):
            conds.append(f"{p} between date '1900-01-01' and date '2199-12-31'")
        cond = " and ".join(conds)
    ok = f"coalesce({cond}, false)"
    # (the cheap test first: ``v`` may be a cleaning expression)
    return f"not {ok}" if col.required else f"not {ok} and {v} is not null"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _final_value(col: Column, p: str) -> str:
    if col.default is None:
        return f"{p}::{col.sql_type}"
    default = "true" if col.default is True else quote_literal(str(col.default))
    return f"coalesce({p}, {default})::{col.sql_type}"


def checked_sql(table: Table, colmap: dict[str, int], pre_reason: bool = False, cleaned: bool = False,
                source: str = "stg") -> str:
    """The SELECT that parses and checks every column of one staged file (``stg``).

    The reason text is built only for rows that fail a check (a CASE evaluates its branch
    only for the rows that reach it), which keeps clean files fast.
    """
    selected = ["_pre_reason"] if pre_reason else []
    parsed, values = [], {}  # values: the cleaned cell of each column, as the checks see it
    for c in table.columns:
        if c.name not in colmap:
            selected.append(f"null::varchar as v_{c.name}")
            values[c.name] = f"v_{c.name}"
        elif c.kind in LAZY_CLEAN:
            # parsing needs no cleaning (a blank or NULL cell does not parse): the cleaned text
            # is computed only where a check fails or a reason is written
            selected.append(f"c{colmap[c.name]} as r_{c.name}")
            values[c.name] = f"kam_clean(r_{c.name})"
        else:
            raw = f"c{colmap[c.name]}"
            cell = f"kam_clean_id({raw})" if c.kind == "id" else raw if cleaned else f"kam_clean({raw})"
            selected.append(f"{cell} as v_{c.name}")
            values[c.name] = f"v_{c.name}"
    for c in table.columns:
        cell = f"r_{c.name}" if c.name in colmap and c.kind in LAZY_CLEAN else f"v_{c.name}"
        parsed.append(f"{_parse_expr(c, cell)} as p_{c.name}")
    cleaned_cols = ", ".join(selected)
    parsed = ", ".join(parsed)
    finals = ", ".join(f"{_final_value(c, 'p_' + c.name)} as {c.name}" for c in table.columns)
    # columns absent from the file are null: only their 'required' check could fail, and a
    # missing required column is fatal before we get here
    pairs = [pair for c in table.columns if c.name in colmap for pair in _checks(c, values[c.name], f"p_{c.name}")]
    # a null condition counts as false: OR-ing and CASE WHEN both treat it so
    conditions = [f"({_failed(c, values[c.name], f'p_{c.name}')})" for c in table.columns if c.name in colmap]
    reasons = [f"case when {cond} then {msg} end" for cond, msg in pairs]
    if pre_reason:
        conditions.insert(0, "_pre_reason is not null")
        reasons.insert(0, "_pre_reason")
    any_failed = " or\n            ".join(conditions) or "false"
    return f"""
        with cleaned as (
            select _row, {cleaned_cols} from {source}
        ),
        parsed as (
            select *, {parsed} from cleaned
        )
        select
            _row,
            {finals},
            case when {any_failed}
            then nullif(concat_ws('; ',
                {", ".join(reasons)}
            ), '') end as _reason
        from parsed
    """


# ---------------------------------------------------------------- the load


class _Loader:
    def __init__(self, con: duckdb.DuckDBPyConnection, settings: Settings, files: list[SourceFile]) -> None:
        self.con = con
        self.settings = settings
        self.created: set[str] = set()
        # files still to come per table: the keys of a file are kept for the files after it
        self.pending = Counter(sf.table for sf in files if not sf.merge)

    def load_file(self, sf: SourceFile) -> FileResult:
        res = FileResult(sf.display, sf.table, sf.file_format)
        started = time.perf_counter()
        try:
            self._load(sf, res)
        except FatalFileError as exc:
            res.fatal = str(exc)
            res.rows_read = res.rows_loaded = res.rows_rejected = 0
        except duckdb.Error as exc:
            res.fatal = f"{sf.display}: cannot be read ({str(exc).splitlines()[0]})"
            res.rows_read = res.rows_loaded = res.rows_rejected = 0
        res.seconds = time.perf_counter() - started
        self.con.execute("drop table if exists stg; drop table if exists fin; drop table if exists dups")
        return res

    def _stage(self, sf: SourceFile) -> Staged:
        if sf.stager is not None:
            return sf.stager(self.con)
        if sf.file_format == "csv":
            return stage_csv(self.con, sf.path, lazy=True)
        if sf.file_format == "xlsx":
            return stage_xlsx(self.con, sf.path, sf.sheet)
        return stage_parquet(self.con, sf.path)

    def _load(self, sf: SourceFile, res: FileResult) -> None:
        table = TABLES[sf.table]
        if sf.merge:
            if sf.table not in self.created:
                raise FatalFileError(f"{sf.display}: nothing to merge into: no {sf.table} were loaded from the export")
            table = _merge_table(table)
        if self._clean_file_at_once(sf, table, res):
            return
        staged = self._stage(sf)
        try:
            self._check_and_insert(sf, table, staged, res)
        finally:
            for path in staged.cleanup:
                path.unlink(missing_ok=True)

    def _clean_file_at_once(self, sf: SourceFile, table: Table, res: FileResult) -> bool:
        """The optimistic first attempt for a CSV file: if every row is clean, insert them all
        in one parallel pass straight into the table. True when that worked.

        The pass runs the same checks as the full path but stops at the first row that fails
        one; then, or when a reference has no target (a reject or a warning) or a key repeats,
        the attempt is rolled back and the full path runs, which numbers the rows and keeps
        every reject with its reason. So a clean file is read once, a file with rejects twice.
        Only the sole file of its table is tried (a later file's duplicates must name this
        file's rows).
        """
        if (not TRY_ONE_PASS or sf.stager is not None or sf.file_format != "csv" or sf.merge
                or self.pending[sf.table] != 1):
            return False
        staged = fast_csv(sf.path)
        if staged is None:
            return False
        colmap, ignored = self._map_columns(sf, table, staged.headers)
        if sf.table not in self.created:
            create_schema(self.con, [sf.table])
            self.created.add(sf.table)
        cols = ", ".join(table.column_names)
        self.con.execute("begin transaction")
        try:
            params = dict(staged.source_params)
            checked = checked_sql(table, colmap, True, staged.cleaned, staged.source)
            if "$dec_comma" in checked:
                params["dec_comma"] = self._decimal_comma(table, colmap, staged)
            inserted = self.con.execute(
                f"""insert into {table.name} select {cols} from ({checked})
                    where case when _reason is not null then error('{FAST_PATH_STOP}') else true end""",
                params,
            ).fetchone()[0]
            # references are checked on the inserted rows: far faster than a join in the pass
            clean = not any(
                self.con.execute(sql).fetchone()[0] for sql in self._reference_problems(table))
            if clean and table.key:
                # distinct hashes prove distinct keys (a collision only sends the file the long way)
                keys = ", ".join(table.key)
                clean = not self.con.execute(
                    f"select count(*) - count(distinct hash({keys})) from {table.name}").fetchone()[0]
        except duckdb.Error:
            clean = False
        if not clean:
            self.con.execute("rollback")
            return False
        self.con.execute("commit")
        self.pending[sf.table] -= 1
        res.ignored_columns = ignored
        res.rows_read = res.rows_loaded = inserted
        return True

    def _reference_problems(self, table: Table) -> list[str]:
        """Counting queries over the loaded table: rows whose reference has no target (a reject
        or a warning in the full path; one query with a join per reference is the fastest form)
        and manual scores of derived criteria (a warning)."""
        joins, dangling = [], []
        for i, col in enumerate(table.columns):
            if not col.ref or col.ref.split(".")[0] not in self.created:
                continue
            ref_table, ref_col = col.ref.split(".")
            joins.append(f"left join {ref_table} r{i} on r{i}.{ref_col} = t.{col.name}")
            dangling.append(f"(t.{col.name} is not null and r{i}.{ref_col} is null)")
        out = []
        if joins:
            out.append(f"select count(*) from {table.name} t {' '.join(joins)} where {' or '.join(dangling)}")
        if table.name == "criterion_scores" and "criteria" in self.created:
            out.append("""select count(*) from criterion_scores s join criteria c using (criterion_id)
                          where c.source <> 'manual'""")
        return out

    def _check_and_insert(self, sf: SourceFile, table: Table, staged: Staged, res: FileResult) -> None:
        colmap, ignored = self._map_columns(sf, table, staged.headers)
        res.ignored_columns = ignored
        res.rows_read = staged.rows_read
        if sf.table not in self.created:
            create_schema(self.con, [sf.table])
            self.created.add(sf.table)
        try:
            self._checked_rows(sf, table, staged, colmap)
        except duckdb.Error as exc:
            if staged.source == "stg":
                raise
            if "null_padding" in str(exc):  # line breaks inside values: DuckDB's serial reader
                try:
                    self._checked_rows(sf, table, serial(staged), colmap)
                    exc = None
                except duckdb.Error:
                    pass
            if exc is not None:
                # DuckDB's reader refused the file (e.g. more fields than the header, twice):
                # the careful reader keeps every row, with its raw text
                staged = stage_csv(self.con, sf.path, careful=True)
                self._checked_rows(sf, table, staged, colmap)
        if staged.rows_read < 0:  # a streamed file: its rows are counted now
            staged.rows_read = self.con.execute("select count(*) from fin").fetchone()[0]
        res.rows_read = staged.rows_read
        cols = ", ".join(table.column_names)
        if sf.merge:
            self._merge_into(table)
        else:
            self.con.execute(f"insert into {table.name} select {cols} from fin where _reason is null")
            self.pending[sf.table] -= 1
            if table.key and self.pending[sf.table] > 0:
                self._keep_keys(sf, table)
        n = len(staged.headers)
        delim = quote_literal(staged.delimiter if staged.file_format == "csv" else ",")
        raw = "concat_ws(" + delim + ", " + ", ".join(f"kam_csvq(coalesce(s.c{i}, ''), {delim})" for i in range(n)) + ")"
        raw_join = ""
        if staged.has_raw or staged.raw_source:
            raw = "s._raw"
        elif staged.raw_table:
            raw = "concat_ws(" + delim + ", " + ", ".join(
                f"kam_csvq(coalesce(r.c{i}, ''), {delim})" for i in range(staged.raw_columns)) + ")"
            raw_join = f"join {staged.raw_table} r on r._row = fin._row"
        if self.con.execute("select count(*) from fin where _reason is not null").fetchone()[0]:
            # the raw cells: from the staged table, or a second read of a streamed file
            self.con.execute(
                f"""insert into rejects
                    select $f, fin._row, $t, {raw}, fin._reason
                    from fin join {staged.raw_source or staged.source} s using (_row) {raw_join}
                    where fin._reason is not null order by fin._row""",
                {"f": sf.display, "t": table.name, **staged.source_params},
            )
        if staged.raw_table:
            self.con.execute(f"drop table if exists {staged.raw_table}")
        for rr in staged.raw_rejects:
            self.con.execute("insert into rejects values ($f, $r, $t, $raw, $why)",
                             {"f": sf.display, "r": rr.row, "t": table.name, "raw": rr.raw, "why": rr.reason})
        loaded, rejected = self.con.execute(
            "select count(*) filter (where _reason is null), count(*) filter (where _reason is not null) from fin"
        ).fetchone()
        res.rows_loaded = loaded
        res.rows_rejected = rejected + len(staged.raw_rejects)
        res.warnings = self.con.execute("select count(*) from warnings where source_file = $f", {"f": sf.display}).fetchone()[0]
        assert res.rows_read == res.rows_loaded + res.rows_rejected, (sf.display, res)

    def _checked_rows(self, sf: SourceFile, table: Table, staged: Staged, colmap: dict[str, int]) -> None:
        """Build ``fin``: every staged row with its values, reason (null = loads) and warnings."""
        dec_comma = staged.decimal_comma
        if dec_comma is None:
            dec_comma = self._decimal_comma(table, colmap, staged)
        checked = checked_sql(table, colmap, staged.has_pre_reason, staged.cleaned, staged.source)
        params = dict(staged.source_params)
        if "$dec_comma" in checked:
            params["dec_comma"] = dec_comma
        self._references_and_keys(sf, table, checked, params)

    def _map_columns(self, sf: SourceFile, table: Table, headers: list[str]) -> tuple[dict[str, int], list[str]]:
        colmap: dict[str, int] = {}
        ignored: list[str] = []
        for i, h in enumerate(headers):
            name = normalise_name(h)
            if name in table.column_names:
                if name in colmap:
                    raise FatalFileError(
                        f"{sf.display}: column {name} appears twice (columns {colmap[name] + 1} and {i + 1}); "
                        "expected each column once"
                    )
                colmap[name] = i
            elif h.strip():
                ignored.append(h.strip())
        missing = [c.name for c in table.required if c.name not in colmap]
        if missing:
            expected = ", ".join(c.name + ("*" if c.required else "") for c in table.columns)
            found = ", ".join(h.strip() for h in headers if h.strip()) or "none"
            plural = "s" if len(missing) > 1 else ""
            raise FatalFileError(
                f"{sf.display}: required column{plural} {', '.join(missing)} missing for table {table.name}; "
                f"expected columns {expected} (* = required); found {found}"
            )
        return colmap, ignored

    def _decimal_comma(self, table: Table, colmap: dict[str, int], staged: Staged) -> bool:
        """German number format in this file? Only files not delimited by commas can have it."""
        numeric = [colmap[c.name] for c in table.columns if c.kind in ("float", "int") and c.name in colmap]
        delimiter = staged.delimiter
        if delimiter == "," or not numeric:
            return False
        any_comma = " or ".join(f"bool_or(contains(c{i}, ','))" for i in numeric)
        any_dot = " or ".join(f"bool_or(contains(c{i}, '.'))" for i in numeric)
        all_thousands = " and ".join(
            f"coalesce(bool_and(regexp_full_match(trim(c{i}), '[+-]?\\d{{1,3}}(\\.\\d{{3}})+')) "
            f"filter (where contains(c{i}, '.')), true)" for i in numeric
        )
        comma, dot, thousands = self.con.execute(
            f"select coalesce({any_comma}, false), coalesce({any_dot}, false), {all_thousands} from {staged.source}",
            staged.source_params or None,
        ).fetchone()
        return bool(comma) or (bool(dot) and bool(thousands) and delimiter == ";")

    def _merge_into(self, table: Table) -> None:
        """Side file: reject keys the export does not have, then update the matching rows."""
        key_match = " and ".join(f"t.{k} = fin.{k}" for k in table.key)
        noun = {"team": "team member", "opportunities": "opportunity"}.get(table.name, table.name.rstrip("s"))
        shown = " || ', ' || ".join(f"fin.{k}" for k in table.key)
        self.con.execute(
            f"""update fin set _reason = 'no {noun} ' || kam_show({shown}) || ' in the export'
                where _reason is null and not exists (select 1 from {table.name} t where {key_match})"""
        )
        sets = ", ".join(f"{c} = coalesce(fin.{c}, t.{c})" for c in table.column_names if c not in table.key)
        self.con.execute(
            f"update {table.name} t set {sets} from (select * from fin where _reason is null) fin where {key_match}"
        )

    def _keep_keys(self, sf: SourceFile, table: Table) -> None:
        """Remember this file's keys so that a later file of the table can name the first row."""
        keys = ", ".join(table.key)
        not_null = " and ".join(f"{k} is not null" for k in table.key)
        self.con.execute(
            f"create temp table if not exists keys_{table.name} as "
            f"select {keys}, ''::varchar as source_file, 0::bigint as _row from fin where false"
        )
        self.con.execute(
            f"insert into keys_{table.name} select {keys}, $f, _row from fin where _reason is null and {not_null}",
            {"f": sf.display},
        )

    def _references_and_keys(self, sf: SourceFile, table: Table, checked: str, params: dict) -> None:
        merge = sf.merge  # a side file's keys are the export's keys: only duplicates within it count
        select, warns = self._with_references(table, checked)
        self.con.execute(f"create or replace temp table fin as {select}", params or None)
        if table.key:
            self._duplicates(table, check_earlier_files=not merge)
        for i, (column, _, _) in enumerate(warns):
            self.con.execute(
                f"""insert into warnings
                    select $f, _row, $t, $c, {column}, _w{i} from fin
                    where _reason is null and _w{i} is not null order by _row""",
                {"f": sf.display, "t": table.name, "c": column},
            )

    def _with_references(self, table: Table, checked: str) -> tuple[str, list[tuple[str, str, str]]]:
        """The checked rows joined to the tables they reference: the SELECT, and the warnings
        it computes (``_w0 …``: a dangling reference in an optional column keeps its row)."""
        joins: list[str] = []
        reasons: list[str] = []
        warns: list[tuple[str, str, str]] = []  # (column, condition, message sql)
        loaded = self.created
        for i, col in enumerate(c for c in table.columns if c.ref):
            ref_table, ref_col = col.ref.split(".")
            if ref_table not in loaded:
                continue  # references into a table that was not loaded are not checked
            alias = f"r{i}"
            source = f"select distinct {ref_col} as k from {ref_table}"
            if ref_table == table.name:  # accounts.parent_account_id: this file's rows count too
                source += f" union select {ref_col} from chk where _reason is null"
            joins.append(f"left join ({source}) {alias} on chk.{col.name} = {alias}.k")
            missing = f"chk.{col.name} is not null and {alias}.k is null"
            noun = ref_table.rstrip("s") if ref_table != "team" else "team member"
            if ref_table == "criteria":
                noun = "criterion"
            msg = f"{quote_literal(col.name)} || ' ' || kam_show(chk.{col.name}) || ' has no {noun} in {ref_table}'"
            if TABLES[table.name].column(col.name).required:  # a merge table relaxes `required`
                reasons.append(f"case when {missing} then {msg} end")
            else:
                warns.append((col.name, missing, msg + " || ' (kept)'"))
        if table.name == "criterion_scores" and "criteria" in loaded:
            joins.append("left join criteria cr on chk.criterion_id = cr.criterion_id")
            warns.append((
                "criterion_id", "cr.source is not null and cr.source <> 'manual'",
                "'criterion ' || kam_show(chk.criterion_id) || ' is derived from the metric ' || cr.source "
                "|| '; this manual score is ignored'"))
        warn_cols = ", ".join(f"case when {cond} then {msg} end as _w{i}" for i, (_, cond, msg) in enumerate(warns))
        reason = "nullif(concat_ws('; ', chk._reason" + "".join(f", {r}" for r in reasons) + "), '')"
        select = f"""
            with chk as ({checked})
            select chk.* exclude (_reason), {reason} as _reason{', ' + warn_cols if warns else ''}
            from chk {' '.join(joins)}"""
        return select, warns

    def _duplicates(self, table: Table, check_earlier_files: bool) -> None:
        """Reject later rows with the key of an earlier one (this file, or an earlier file)."""
        keys = ", ".join(table.key)
        not_null = " and ".join(f"{k} is not null" for k in table.key)
        same = " and ".join(f"s.{k} = f.{k}" for k in table.key)
        shown = "concat_ws(', ', " + ", ".join(f"s.{k}" for k in table.key) + ")"
        label = quote_literal(", ".join(table.key))
        # an aggregate finds the repeated keys (usually none) far faster than a window over all rows
        parts = [f"""
            select s._row, 'duplicate key ' || {label} || ' ' || kam_show({shown})
                || ': first kept (row ' || f.first_row || ')' as why
            from survivors s
            join (select {keys}, min(_row) as first_row from survivors group by {keys} having count(*) > 1) f
                on {same}
            where s._row > f.first_row"""]
        earlier = self.con.execute(
            "select count(*) from duckdb_tables() where temporary and table_name = $t", {"t": f"keys_{table.name}"}
        ).fetchone()[0]
        if check_earlier_files and earlier:
            parts.append(f"""
            select s._row, 'duplicate key ' || {label} || ' ' || kam_show({shown})
                || ': first kept (' || f.source_file || ' row ' || f._row || ')' as why
            from survivors s join keys_{table.name} f on {same}""")
        self.con.execute(
            f"""create or replace temp table dups as
                with survivors as (select _row, {keys} from fin where _reason is null and {not_null})
                select _row, first(why) as why from ({' union all '.join(parts)}) group by _row"""
        )
        if self.con.execute("select count(*) from dups").fetchone()[0]:
            self.con.execute("update fin set _reason = dups.why from dups where fin._row = dups._row")


def _merge_table(table: Table) -> Table:
    """The table as a side file sees it: only the key is required and blanks take no default."""
    cols = tuple(replace(c, required=c.name in table.key, default=None) for c in table.columns)
    return replace(table, columns=cols)


def load(sources: list[Path | str], db_path: Path | str, settings: Settings | None = None,
         mapping: Path | str | None = None) -> LoadReport:
    """Load the sources into a new database at ``db_path`` (replaced only when complete).

    Raises ``LoadError`` (and writes nothing) when no readable accounts table results.
    Fatal files are reported in the result; the other files still load.
    """
    settings = settings or Settings()
    db_path = Path(db_path)
    sources = [Path(s) for s in sources]
    for s in sources:
        if not s.exists():
            raise LoadError(f"source {s} does not exist")
    started = time.perf_counter()
    report = LoadReport(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="kam-load-"))
    tmp_db = db_path.with_name(f".{db_path.name}.loading-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    _remove_db(tmp_db)
    try:
        files, report.ignored_files = discover(
            sources, workdir, Path(mapping) if mapping else None, report.detected, settings)
        con = duckdb.connect(str(tmp_db), config={
            "autoinstall_known_extensions": False,
            # bounded memory: large staging tables spill to a temporary folder instead
            "memory_limit": LOAD_MEMORY_LIMIT,
            "temp_directory": str(workdir / "spill"),
            "preserve_insertion_order": False,
        })
        # Common-subexpression elimination would hoist the trims of the parsers' rare slow
        # branches out of their CASEs, computing them for every cell (a third of the checks' time).
        con.execute("set disabled_optimizers = 'common_subexpressions'")
        try:
            create_schema(con, [])
            install_macros(con, settings)
            loader = _Loader(con, settings, files)
            for sf in files:
                report.files.append(loader.load_file(sf))
            if "accounts" not in loader.created:
                fatal = [f.fatal for f in report.files if f.fatal and f.table == "accounts"]
                why = fatal[0] if fatal else "no accounts file was found (expected accounts.csv, .xlsx or .parquet)"
                raise LoadError("\n".join([f"nothing was built: {why}", *report.detected]))
            for t in sorted(loader.created):
                report.table_rows[t] = con.execute(f"select count(*) from {t}").fetchone()[0]
            report.seconds = time.perf_counter() - started
            _write_load_info(con, report, sources, settings)
            store_static_steps(con, settings)  # metrics whose inputs the app cannot edit
            con.execute("checkpoint")
        finally:
            con.close()
        _swap_in(tmp_db, db_path)
    finally:
        _remove_db(tmp_db)
        shutil.rmtree(workdir, ignore_errors=True)
    return report


def _write_load_info(con: duckdb.DuckDBPyConnection, report: LoadReport, sources: list[Path],
                     settings: Settings) -> None:
    for f in report.files:
        con.execute(
            "insert into load_files values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            [f.source_file, f.table, f.file_format, f.rows_read, f.rows_loaded, f.rows_rejected,
             f.fatal, ", ".join(f.ignored_columns) or None, round(f.seconds, 3)],
        )
    for name in report.ignored_files:
        con.execute("insert into load_files (source_file, fatal_error) values ($1, $2)", [name, "ignored"])
    info = {
        "loaded_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "sources": "; ".join(s.name for s in sources),
        "kam_version": __version__,
        "data_as_of": data_as_of(con).isoformat(),
        "currency": settings.currency,
        "load_seconds": f"{report.seconds:.2f}",
    }
    for k, v in info.items():
        con.execute("insert or replace into load_info values ($1, $2)", [k, v])


def _remove_db(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".wal")):
        p.unlink(missing_ok=True)


def _swap_in(tmp_db: Path, db_path: Path) -> None:
    # A stale write-ahead log of the old file must not be replayed onto the new one.
    db_path.with_name(db_path.name + ".wal").unlink(missing_ok=True)
    os.replace(tmp_db, db_path)
