"""Build the DuckDB database from a source: every input row loaded or kept as a reject.

The pipeline for one file: a reader stages its cells as text (``readers``), then one SQL
pass per step parses and checks every column (types, ranges, enumerations, Excel errors),
then references and keys are checked against what is already loaded, and each row goes to
its table or to ``rejects`` with a reason a person can act on.

A CSV file is first tried in one pass: DuckDB reads it in parallel without row numbers and
the same checks run as the rows go straight into their table, stopping at the first row
that fails one (or has fewer fields than the header); references and keys are then checked
on the inserted rows. Any problem rolls that attempt back and the steps above run, so a
clean file is read once and a file with rejects or short rows twice, with the same result
either way (the tests load every case both ways).

A load writes a new database file beside the target and moves it into place only when it
is complete, so a crash or a fatal file never leaves a broken database behind.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
import uuid
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb
import pyarrow as pa

from kam_core import __version__
from kam_core.asof import data_as_of
from kam_core.errors import FatalFileError, LoadError
from kam_core.ingest.checks import KIND_WORDS, checked_sql, decimal_comma, install_macros
from kam_core.ingest.importers import detect
from kam_core.ingest.readers import (
    NUL_LOG,
    SHORT_LOG,
    WORK_DIR,
    Staged,
    fast_csv,
    log_short_rows_of,
    serial,
    shared_workbooks,
    stage_csv,
    stage_parquet,
    stage_xlsx,
    xlsx_formulas_without_values,
)
from kam_core.ingest.report import (
    INTENDED_REJECTS,
    FileResult,
    LoadReport,
    fix_for,
    ignore_only_unread_columns,
)
from kam_core.ingest.schema import LOAD_ORDER, TABLES, Table, create_schema
from kam_core.ingest.sources import (
    SourceFile,
    ZipLimits,
    classify,
    normalise_name,
    source_entries,
    table_for_name,
)
from kam_core.ingest.workspace import load_lock, sweep_stale, work_dir
from kam_core.metrics.pipeline import spread_stored_steps, store_static_steps
from kam_core.settings import Settings
from kam_core.sqlutil import quote_literal

__all__ = ["KIND_WORDS", "FileResult", "LoadReport", "SourceFile", "discover", "load", "normalise_name",
           "table_for_name"]

# CSV files are first tried in one pass, optimistically (``_clean_file_at_once``); the tests
# switch it off to compare both paths. The error that stops the attempt at a row failing a check:
TRY_ONE_PASS = True
FAST_PATH_STOP = "kam: a row fails a check"

LOAD_MEMORY_LIMIT = "2GB"  # the load stays well inside a small machine, whatever the export size

# The most common reason among a file's rejects, its values masked (report.reason_kind in SQL);
# a row with several reasons counts once for each.
FAILURE_SQL = """
with parts as (
    select row_number, unnest(string_split(reason, '; ')) as part
    from rejects
    where source_file = $f and table_name = $t
),
kinds as (
    select
        row_number,
        part,
        regexp_replace(regexp_replace(part, '''[^'']*''', '''…''', 'g'), '\\d+', 'N', 'g') as kind
    from parts
    where len(list_filter($intended, lambda prefix: starts_with(part, prefix))) = 0
)
select kind, count(distinct row_number) as count_rows, arg_min(part, row_number) as example
from kinds
group by kind
order by count_rows desc, kind
limit 1
"""


# ---------------------------------------------------------------- discovering files


@dataclass
class Discovery:
    """The files of a load, each with its table, and what the recognition said."""

    files: list[SourceFile]
    ignored: list[str]
    messages: list[str]
    displays: dict[Path, str]  # every file of the sources by the name the user knows it
    currency: str | None = None  # the currency an importer chose for the amounts


def discover(sources: list[Path], workdir: Path, mapping: Path | None = None,
             settings: Settings | None = None) -> Discovery:
    """The files of the sources, each with its table; plus what is ignored and why.

    Exports of known CRMs (and anything a mapping file describes) are recognised first by
    ``importers.detect``, which sees the files of all sources at once (so side files and a
    mapping may span sources); the remaining files are canonical files named after their
    table. Zips are unpacked once into ``workdir``, within the settings' limits.
    """
    entries, bases = source_entries(sources, workdir, ZipLimits.from_settings(settings))
    found: list[SourceFile] = []
    ignored: list[str] = []
    messages: list[str] = []
    displays = dict(entries)
    base = bases[0] if len(bases) == 1 else Path(os.path.commonpath([str(b.resolve()) for b in bases] or ["."]))
    detection = detect([p for p, _ in entries], base, mapping, settings=settings, displays=displays)
    consumed: set[Path] = set()
    if detection is not None:
        found.extend(detection.files)
        ignored.extend(detection.ignored)
        messages.extend(detection.messages)
        consumed = detection.consumed
    for path, display in entries:
        if path in consumed:
            continue
        found_here, why = classify(path, display)
        found.extend(found_here)
        if why:
            ignored.append(f"{display} ({why})")
    order = {t: i for i, t in enumerate(LOAD_ORDER)}
    # stable: files of one table keep their order; side files merge after the export's rows
    found.sort(key=lambda f: (order[f.table], f.merge))
    return Discovery(found, ignored, messages, displays, detection.currency if detection else None)


# ---------------------------------------------------------------- the load


class _Loader:
    def __init__(self, con: duckdb.DuckDBPyConnection, settings: Settings, files: list[SourceFile]) -> None:
        self.con = con
        self.settings = settings
        self.created: set[str] = set()
        # files still to come per table: the keys of a file are kept for the files after it
        self.pending = Counter(sf.table for sf in files if not sf.merge)

    def load_file(self, sf: SourceFile) -> FileResult:
        res = FileResult(sf.display, sf.table, sf.file_format, sheet=sf.sheet)
        started = time.perf_counter()
        try:
            self._load(sf, res)
        except FatalFileError as exc:
            res.fatal = str(exc)
            res.rows_read = res.rows_loaded = res.rows_rejected = 0
        except duckdb.Error as exc:
            res.fatal = f"{sf.display}: cannot be read ({str(exc).splitlines()[0]})"
            res.rows_read = res.rows_loaded = res.rows_rejected = 0
        if res.rows_rejected and not res.fatal:
            res.failure = self._failure(sf, res)
        res.seconds = time.perf_counter() - started
        self.con.execute("drop table if exists stg; drop table if exists fin; drop table if exists dups")
        return res

    def _failure(self, sf: SourceFile, res: FileResult) -> str | None:
        """A failed table: more than half of the file's rows rejected for one reason (values aside).

        Returns the message (how many rows, the reason of the first such row, the fix) or None.
        """
        row = self.con.execute(FAILURE_SQL, {"f": sf.display, "t": sf.table, "intended": list(INTENDED_REJECTS)}
                               ).fetchone()
        if row is None or row[1] * 2 <= res.rows_read:
            return None
        _, count, example = row
        others = " (and others like it)" if count > 1 else ""
        return (f"{count:,} of {res.rows_read:,} rows rejected for one reason, e.g. {example}{others}. "
                f"Fix: {fix_for(example, sf.table)}")

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
        res.notes += staged.notes
        res.inputs = list(staged.inputs)
        res.lookup_reads = list(staged.lookup_reads)
        try:
            self._check_and_insert(sf, table, staged, res)
        finally:
            for path in staged.cleanup:
                path.unlink(missing_ok=True)

    def _clean_file_at_once(self, sf: SourceFile, table: Table, res: FileResult) -> bool:
        """The optimistic first attempt for a CSV file: if every row is clean, insert them all
        in one parallel pass straight into the table. True when that worked.

        The pass runs the same checks as the full path but stops at the first row that fails
        one (or has fewer fields than the header: its warning names rows); then, or when a reference has no target (a reject or a warning) or a key repeats,
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
            checked = checked_sql(table, colmap, True, staged.cleaned, staged.source, keep=("_fields",))
            if "$dec_comma" in checked:
                params["dec_comma"] = self._decimal_comma(table, colmap, staged)
            # a row with fewer fields than the header stops it too: the warning names its row
            inserted = self.con.execute(
                f"""insert into {table.name} select {cols} from ({checked})
                    where case when _reason is not null or _fields is not null
                               then error('{FAST_PATH_STOP}') else true end""",
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
        res.ignored_columns = ignored + [h.strip() for h in staged.ignored_headers]
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
        if staged.has_fields:  # a streamed file: its short rows are logged now (the other readers did)
            log_short_rows_of(self.con, sf.path, len(staged.headers), "fin")
        if staged.sheet is not None and sf.stager is None:
            res.notes += self._formulas_without_values(sf, table, staged, colmap)
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
                             {"f": rr.file or sf.display, "r": rr.row, "t": table.name, "raw": rr.raw,
                              "why": rr.reason})
        loaded, rejected = self.con.execute(
            "select count(*) filter (where _reason is null), count(*) filter (where _reason is not null) from fin"
        ).fetchone()
        res.rows_loaded = loaded
        res.rows_rejected = rejected + len(staged.raw_rejects)
        res.warnings = self.con.execute("select count(*) from warnings where source_file = $f",
                                        {"f": sf.display}).fetchone()[0] + staged.extra_warnings
        assert res.rows_read == res.rows_loaded + res.rows_rejected, (sf.display, res)

    def _formulas_without_values(self, sf: SourceFile, table: Table, staged: Staged, colmap: dict[str, int]
                                 ) -> list[str]:
        """Blank cells of a worksheet that hold a formula without a saved value: the reason of a
        row rejected for the blank says so, and a loaded row gets a warning. The rows load or
        are rejected as before. The sheet's XML is read only if a column the table uses has a
        blank cell (``xlsx_formulas_without_values``). Returns the note for the file."""
        used = {i: table.column(name) for name, i in colmap.items()}
        from openpyxl.utils.cell import get_column_letter

        blank = self.con.execute(
            "select " + ", ".join(f"bool_or(c{i} is null)" for i in used) + " from stg").fetchone()
        columns = {i + 1 for i, has_blank in zip(used, blank, strict=True) if has_blank}
        if not columns:
            return []
        cells = xlsx_formulas_without_values(sf.path, staged.sheet, columns)
        if not cells:
            return []
        found = pa.table({"_row": pa.array([c[0] for c in cells], pa.int64()),  # noqa: F841 - used in SQL
                          "col": pa.array([c[1] for c in cells], pa.int64()),
                          "formula": pa.array([c[2] or None for c in cells], pa.string())})
        self.con.execute("create or replace temp table kam_formulas as select * from found")
        sheet = staged.sheet
        for i, col in used.items():
            where = f"kam_formulas._row = fin._row and kam_formulas.col = {i + 1}"
            letter = quote_literal(get_column_letter(i + 1))
            said = (f"'{col.name} holds a formula without a saved value (sheet ' || {quote_literal(sheet)} || ', row ' "
                    f"|| fin._row || ', column ' || {letter} || '), so '")
            fix = "': open the file in Excel and save it, or export values'"
            blanks = [f"{col.name} is blank (required)"] if col.required else []
            if col.required_when:
                other, wanted = col.required_when
                blanks.append(f"{col.name} is blank (required when {other} is {' or '.join(wanted)})")
            for blank_part in blanks:  # the part of the reason, wherever it stands among '; '
                new = f"{said} || 'it is {blank_part.removeprefix(col.name + ' is ')}' || {fix}"
                self.con.execute(
                    f"""update fin set _reason = substr(replace('; ' || _reason, {quote_literal('; ' + blank_part)},
                                                       '; ' || {new}), 3)
                        from kam_formulas where {where} and _reason is not null""")
            default = f" and took the default {col.default if col.default is not True else 'true'}" \
                if col.default is not None else ""
            self.con.execute(
                f"""insert into warnings
                    select $f, fin._row, $t, $c, formula, {said} || 'it was read as blank{default}' || {fix}
                    from fin join kam_formulas on {where}
                    where fin._reason is null order by fin._row""",
                {"f": sf.display, "t": table.name, "c": col.name})
        self.con.execute("drop table kam_formulas")
        names = ", ".join(dict.fromkeys(used[col - 1].name for _, col, _ in sorted(cells, key=lambda c: c[1])))
        cells_hold = "1 cell of" if len(cells) == 1 else f"{len(cells):,} cells of"
        were = "it was" if len(cells) == 1 else "they were"
        return [f"{cells_hold} sheet {sheet} ({names}) hold{'s' if len(cells) == 1 else ''} a formula without a "
                f"saved value, so {were} read as blank: open the file in Excel and save it, or export values"]

    def _checked_rows(self, sf: SourceFile, table: Table, staged: Staged, colmap: dict[str, int]) -> None:
        """Build ``fin``: every staged row with its values, reason (null = loads) and warnings."""
        dec_comma = staged.decimal_comma
        if dec_comma is None:
            dec_comma = self._decimal_comma(table, colmap, staged)
        checked = checked_sql(table, colmap, staged.has_pre_reason, staged.cleaned, staged.source,
                              staged.has_pre_blank, keep=("_fields",) if staged.has_fields else ())
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
        return decimal_comma(self.con, table, colmap, staged.source, staged.source_params, staged.delimiter)

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
    cols = tuple(replace(c, required=c.name in table.key, default=None, required_when=None)
                 for c in table.columns)
    return replace(table, columns=cols)


def load(sources: list[Path | str], db_path: Path | str, settings: Settings | None = None,
         mapping: Path | str | None = None) -> LoadReport:
    """Load the sources into a new database at ``db_path`` (replaced only when complete).

    Raises ``LoadError`` (and writes nothing) when no readable accounts table results, or when
    another load into the same database is running. Fatal files are reported in the result;
    the other files still load. What a killed load left behind is swept first.
    """
    settings = settings or Settings()
    db_path = Path(db_path)
    sources = [Path(s) for s in sources]
    for s in sources:
        if not s.exists():
            raise LoadError(f"source {s} does not exist")
    db_path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(db_path=db_path)
    with load_lock(db_path, "loading " + ", ".join(s.name for s in sources)):
        return _load_locked(sources, db_path, settings, Path(mapping) if mapping else None)


def _load_locked(sources: list[Path], db_path: Path, settings: Settings, mapping: Path | None) -> LoadReport:
    started = time.perf_counter()
    report = LoadReport(db_path)
    workdir = work_dir("load")
    work_token = WORK_DIR.set(workdir)
    tmp_db = db_path.with_name(f".{db_path.name}.loading-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    _remove_db(tmp_db)
    try:
        # a workbook is opened once for the whole load (which export is it, its sheets, each
        # sheet), and closed before the work folder (an unpacked zip) is removed
        with shared_workbooks():
            found = discover(sources, workdir, mapping, settings)
            files, report.ignored_files, report.detected = found.files, found.ignored, found.messages
            report.currency = found.currency or settings.currency
            bounded = {  # bounded memory: large staging tables spill to a temporary folder instead
                "memory_limit": LOAD_MEMORY_LIMIT,
                "temp_directory": str(workdir / "spill"),
            }
            con = duckdb.connect(str(tmp_db), config={
                "autoinstall_known_extensions": False, **bounded, "preserve_insertion_order": False,
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
                ignore_only_unread_columns(report.files)
                _report_nuls(con, report, found.displays)
                _report_short_rows(con, report, found.displays)
                if "accounts" not in loader.created:
                    fatal = [f.fatal for f in report.files if f.fatal and f.table == "accounts"]
                    why = fatal[0] if fatal else "no accounts file was found (expected accounts.csv, .xlsx or .parquet)"
                    if not fatal and mapping is not None:
                        why = _accounts_to_add(mapping, list(found.displays))
                    if fatal and "the file is empty" in why:
                        name = why.split(":", 1)[0]
                        why = (f"{name} is empty (0 bytes) and accounts is required: re-export it (a header row with "
                               "at least account_id, name, and one row per account)")
                    error = LoadError("\n".join([f"nothing was built: {why}", *report.detected]))
                    # the accounts file is there but unreadable: a mapping would not help (wrong
                    # columns would: the draft maps them)
                    error.draft_helps = not fatal or "required column" in why  # type: ignore[attr-defined]
                    raise error
                _leave_out_rejected_tables(con, report, loader.created)
                for t in sorted(loader.created):
                    report.table_rows[t] = con.execute(f"select count(*) from {t}").fetchone()[0]
                if "opportunities" in loader.created:
                    report.notes += deals_without_amount(con)
                report.seconds = time.perf_counter() - started
                _write_load_info(con, report, sources, settings)
                store_static_steps(con, settings)  # metrics whose inputs the app cannot edit
                con.execute("checkpoint")
            finally:
                con.close()
            spread_stored_steps(tmp_db, bounded)  # coverage's input in row groups it scans on every core
            _swap_in(tmp_db, db_path)
    finally:
        _remove_db(tmp_db)
        WORK_DIR.reset(work_token)
        shutil.rmtree(workdir, ignore_errors=True)
    return report


def _leave_out_rejected_tables(con: duckdb.DuckDBPyConnection, report: LoadReport, created: set[str]) -> None:
    """A table whose files had rows and every one was rejected is left out of the database, as
    if its file had not been given: its figures then show "–" and the file that would fill them,
    never a 0 that looks like data (a header-only file stays: a valid empty table). The load
    has already failed for it (``FAILED`` first in the report); the note says what follows."""
    read: dict[str, int] = {}
    loaded: dict[str, int] = {}
    for f in report.files:
        if f.table and not f.fatal:
            read[f.table] = read.get(f.table, 0) + f.rows_read
            loaded[f.table] = loaded.get(f.table, 0) + f.rows_loaded
    for table in sorted(created - {"accounts"}):
        if read.get(table, 0) > 0 and loaded.get(table, 0) == 0:
            con.execute(f"drop table {table}")
            created.discard(table)
            report.notes.append(f"{table}: every one of its {read[table]:,} rows was rejected, so the table is left "
                                "out: the figures that need it show – until the file is fixed and loaded again")


def _accounts_to_add(mapping: Path, files: list[Path]) -> str:
    """The message for a mapping that builds no accounts: which ``[tables.accounts]`` to add."""
    from kam_core.ingest.importers.mapping import Mapping, propose_mapping

    proposal = propose_mapping(files).tables.get("accounts")
    example = ""
    if proposal is not None:
        example = " For example:\n\n" + Mapping(tables={"accounts": proposal}).to_toml(comments=False)
    return (f"the mapping {mapping.name} has no [tables.accounts], and every load needs the accounts: add "
            "[tables.accounts] with file = \"...\" and [tables.accounts.columns] account_id = \"...\", name = "
            f"\"...\" (docs/importing.md).{example}")


def _write_load_info(con: duckdb.DuckDBPyConnection, report: LoadReport, sources: list[Path],
                     settings: Settings) -> None:
    ordinal = 0
    for ordinal, f in enumerate(report.files, start=1):
        con.execute(
            """insert into load_files by name
               select $ordinal as file_ordinal, $file as source_file, $table as table_name,
                      $format as file_format, $read as rows_read, $loaded as rows_loaded,
                      $rejected as rows_rejected, $fatal as fatal_error, $ignored as ignored_columns,
                      $seconds as seconds, $failure as failure, $notes as notes""",
            {"ordinal": ordinal, "file": f.source_file, "table": f.table, "format": f.file_format,
             "read": f.rows_read, "loaded": f.rows_loaded, "rejected": f.rows_rejected, "fatal": f.fatal,
             "ignored": ", ".join(f.ignored_columns) or None, "seconds": round(f.seconds, 3),
             "failure": f.failure, "notes": "\n".join(f.notes) or None},
        )
    for i, name in enumerate(report.ignored_files, start=ordinal + 1):
        con.execute("insert into load_files (file_ordinal, source_file, fatal_error) values ($1, $2, $3)",
                    [i, name, "ignored"])
    info = {
        "loaded_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "sources": "; ".join(s.name for s in sources),
        "kam_version": __version__,
        "data_as_of": data_as_of(con).isoformat(),
        "currency": report.currency or settings.currency,
        "load_seconds": f"{report.seconds:.2f}",
        "notes": "\n".join(report.notes),
    }
    for k, v in info.items():
        con.execute("insert or replace into load_info values ($1, $2)", [k, v])


NUL_WARNINGS_SQL = f"""
select path, column_name, count_chars, count_rows, first_row from {NUL_LOG} order by path, first_row
"""


def _report_nuls(con: duckdb.DuckDBPyConnection, report: LoadReport, displays: dict[Path, str]) -> None:
    """Stray NUL characters dropped from the cells: a warning per file and column, a note per file."""
    if not con.execute("select count(*) from duckdb_tables() where temporary and table_name = $t",
                       {"t": NUL_LOG}).fetchone()[0]:
        return
    by_display = {str(p): d for p, d in displays.items()}
    per_file: dict[str, list[tuple[str, int, int, int]]] = {}
    for path, column, chars, rows, first in con.execute(NUL_WARNINGS_SQL).fetchall():
        per_file.setdefault(by_display.get(path, Path(path).name), []).append((column, chars, rows, first))
    for display, columns in per_file.items():
        results = [f for f in report.files if f.source_file == display and not f.fatal]
        table = results[0].table if results else None
        for column, chars, rows, first in columns:
            con.execute(
                "insert into warnings values ($f, $r, $t, $c, $v, $m)",
                {"f": display, "r": first, "t": table, "c": column, "v": str(chars),
                 "m": f"{chars:,} NUL character{'s' if chars != 1 else ''} removed from {column} "
                      + (f"in row {first}" if rows == 1 else f"in {rows:,} rows (the first is row {first})")
                      + "; the text is kept without them"})
        total = sum(c[1] for c in columns)
        detail = ", ".join(f"{column} {chars:,}" for column, chars, _, _ in columns)
        note = (f"{total:,} stray NUL character{'s' if total != 1 else ''} removed from the cells ({detail}): "
                "a warning, not a reject")
        if results:
            results[0].notes.append(note)
            results[0].warnings += len(columns)
        else:
            report.notes.append(f"{display}: {note}")


SHORT_ROWS_SQL = f"""
select path, any_value(count_rows), any_value(header_fields), list((row_number, fields) order by row_number)
from {SHORT_LOG}
group by path
order by path
"""


def short_rows_message(count: int, header_fields: int, examples: list[tuple[int, int]]) -> str:
    """The warning for a file's rows with fewer fields than the header (they are loaded).

    >>> short_rows_message(7, 4, [(3, 2), (5, 1)])
    '7 rows have fewer fields than the header (row 3: 2 of 4 fields, row 5: 1 of 4 fields, and 5 more): the missing cells were read as blank'
    """
    shown = ", ".join(f"row {row}: {fields} of {header_fields} field{'s' if header_fields != 1 else ''}"
                      for row, fields in examples)
    more = f", and {count - len(examples):,} more" if count > len(examples) else ""
    rows = "1 row has" if count == 1 else f"{count:,} rows have"
    return f"{rows} fewer fields than the header ({shown}{more}): the missing cells were read as blank"


def _report_short_rows(con: duckdb.DuckDBPyConnection, report: LoadReport, displays: dict[Path, str]) -> None:
    """Rows with fewer fields than the header: per file a warning (at the first such row) and a note."""
    if not con.execute("select count(*) from duckdb_tables() where temporary and table_name = $t",
                       {"t": SHORT_LOG}).fetchone()[0]:
        return
    by_display = {str(p): d for p, d in displays.items()}
    for path, count, header_fields, examples in con.execute(SHORT_ROWS_SQL).fetchall():
        display = by_display.get(path, Path(path).name)
        message = short_rows_message(count, header_fields, examples)
        results = [f for f in report.files if f.source_file == display and not f.fatal] or [
            f for f in report.files if not f.fatal and display in (name for name, _ in f.inputs)]  # a derived table
        con.execute("insert into warnings values ($f, $r, $t, null, $v, $m)",
                    {"f": display, "r": examples[0][0], "t": results[0].table if results else None,
                     "v": str(count), "m": message})
        if results:
            results[0].notes.append(message)
            results[0].warnings += 1
        else:
            report.notes.append(f"{display}: {message}")


DEALS_WITHOUT_AMOUNT_SQL = """
select
    count(*) filter (where status = 'open' and amount is null) as open_without_amount,
    count(*) filter (where status = 'lost' and amount is null) as lost_without_amount
from opportunities
"""


def deals_without_amount(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The load's note on deals without an amount (kept: spec §1, amount is required for won deals)."""
    open_n, lost_n = con.execute(DEALS_WITHOUT_AMOUNT_SQL).fetchone()
    parts = [f"{n:,} {what} deal{'s' if n != 1 else ''}" for n, what in ((open_n, "open"), (lost_n, "lost")) if n]
    if not parts:
        return []
    verb = "has" if open_n + lost_n == 1 else "have"
    return [f"opportunities: {' and '.join(parts)} {verb} no amount (kept: counted as deals, left out of "
            "value sums)"]


def _remove_db(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".wal")):
        p.unlink(missing_ok=True)


def _swap_in(tmp_db: Path, db_path: Path) -> None:
    # A stale write-ahead log of the old file must not be replayed onto the new one.
    db_path.with_name(db_path.name + ".wal").unlink(missing_ok=True)
    os.replace(tmp_db, db_path)
