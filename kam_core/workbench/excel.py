"""The Excel round trip: download the effective values, edit them in Excel, upload them back.

``export_workbook`` writes one sheet per editable table (named after the table, canonical
column names, the export overlaid with the team's edits) and a hidden sheet ``_kam`` that
remembers the store's last save at download time.

``preview_import`` reads a workbook back — every sheet named after an editable table; a sheet
may hold only the key columns and the columns to change — and computes what would change:
only cells that differ from the effective values count (an unchanged cell records nothing).
Each row goes through the loader's checks (the sheet is read by the loader's own Excel
reader) and the reference checks; a refused row comes back with sheet, row, column and
reason, as the loader reports a rejected row. A row whose record was changed in the app
after the workbook was downloaded is refused too ("changed by X at T after this workbook
was downloaded"), so an old workbook never silently undoes a newer edit.

``apply_import`` writes the previewed changes as one save (``import``) through the same
validation and history; ``import_workbook`` does both (the CLI).

New records: a row with a blank ``contact_id`` (or ``action_id``) is a new contact (plan
action) with a generated id; a row of the other tables whose key is not there yet is a new
record. Deleting is done in the app, not by leaving rows out (a sheet may be partial).
"""

from __future__ import annotations

import io
import tempfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pandas as pd

from kam_core.dataset import CRM_CATALOG
from kam_core.errors import FatalFileError
from kam_core.export import (
    DATE_FORMAT,
    DATETIME_FORMAT,
    XLSX_OPTIONS,
    number_formats,
    write_column,
    write_value,
)
from kam_core.ingest.checks import checked_sql
from kam_core.ingest.loader import normalise_name, table_for_name
from kam_core.ingest.readers import open_xlsx, stage_xlsx
from kam_core.ingest.schema import loaded_tables
from kam_core.sqlutil import quote_ident
from kam_core.workbench import checks
from kam_core.workbench.edits import Create, Operation, Saved, Update, Workbench, WriteRequest, _Txn
from kam_core.workbench.errors import ConflictError, PermissionDenied, WorkbenchError
from kam_core.workbench.store import now_utc, read_store, show_time
from kam_core.workbench.tables import EDITABLE, Editable, decode_key, encode_key, show_key, to_text

META_SHEET = "_kam"
FORMAT = "kam-workbench-1"


# ---------------------------------------------------------------- export


def export_workbook(workbench: Workbench, out: Path | str | IO[bytes], *, account_id: str | None = None,
                    tables: list[str] | None = None) -> dict[str, int]:
    """Write the effective values of the editable tables to ``out`` (a path or a binary file);
    returns the rows written per sheet. ``account_id`` limits every sheet to one account.

    XlsxWriter writes each sheet column by column (``kam_core.export.write_column``): a text is
    a text cell (one that starts like a formula too: the value goes back as it came), dates are
    date cells, numbers numbers, truth values TRUE/FALSE, nulls blank. The header row is bold
    and frozen; each sheet's size (``A1:L150001``) is written up front, as Excel does, so the
    loader's reader does not parse a whole sheet to find it.
    """
    import xlsxwriter

    cur = workbench.dataset()
    present = loaded_tables(cur)
    wanted = [t for t in (tables or list(EDITABLE)) if t in EDITABLE]
    if isinstance(out, (str, Path)):
        Path(out).parent.mkdir(parents=True, exist_ok=True)
    target = str(out) if isinstance(out, (str, Path)) else out
    counts: dict[str, int] = {}
    with xlsxwriter.Workbook(target, {"in_memory": True, **XLSX_OPTIONS}) as book:
        fmt = number_formats(book)
        bold = book.add_format({"bold": True})
        for name in wanted:
            if name not in present:
                continue
            spec = EDITABLE[name]
            sql, params = _effective_sql(spec, account_id, present)
            frame = cur.execute(sql, params or None).df()
            ws = book.add_worksheet(name)
            ws.freeze_panes(1, 0)
            for i, col in enumerate(spec.table.column_names):
                ws.set_column(i, i, max(12, min(40, len(col) + 4)))
                ws.write_string(0, i, col, bold)
                date_only = spec.table.column(col).sql_type == "DATE"  # a date or a month
                write_column(ws, i, frame.iloc[:, i], fmt, datetime_format=DATE_FORMAT if date_only else DATETIME_FORMAT)
            counts[name] = len(frame)
        meta = book.add_worksheet(META_SHEET)
        if counts:
            meta.hide()  # (a workbook needs one visible sheet)
        for row, item in enumerate(_meta(workbench, cur, account_id).items()):
            for col, value in enumerate(item):
                if value is not None:
                    write_value(meta, row, col, value, fmt)
    return counts


def export_workbook_bytes(workbench: Workbench, *, account_id: str | None = None) -> bytes:
    """The workbook as bytes (for a download button)."""
    buf = io.BytesIO()
    export_workbook(workbench, buf, account_id=account_id)
    return buf.getvalue()


def _effective_sql(spec: Editable, account_id: str | None, present: set[str]) -> tuple[str, dict[str, Any]]:
    cols = ", ".join(f"v.{quote_ident(c)}" for c in spec.table.column_names)
    order = ", ".join(f"v.{quote_ident(k)} nulls first" for k in spec.key)
    where, params = "", {}
    if account_id is not None:
        params["account"] = account_id
        if "account_id" in spec.table.column_names:
            where = "where v.account_id = $account"
        elif spec.name == "relationships" and "contacts" in present:
            where = "where v.contact_id in (select contact_id from main.contacts where account_id = $account)"
    return f"select {cols} from main.{quote_ident(spec.name)} as v {where} order by {order}", params


def _meta(workbench: Workbench, cur: Any, account_id: str | None) -> dict[str, Any]:
    with read_store(workbench.store_path) as sq:
        last = sq.execute("select coalesce(max(batch_id), 0) from batches").fetchone()[0] if sq else 0
    loaded = None
    if "load_info" in {r[0] for r in cur.execute(
            "select table_name from duckdb_tables() where database_name = 'crm'").fetchall()}:
        found = cur.execute("select value from crm.main.load_info where key = 'loaded_at'").fetchall()
        loaded = found[0][0] if found else None
    return {"format": FORMAT, "database": workbench.db_path.name, "exported_at": now_utc(),
            "store_last_save": last, "crm_loaded_at": loaded, "account_id": account_id}


# ---------------------------------------------------------------- import


@dataclass(frozen=True)
class CellChange:
    """One cell the import would change (``column`` is ``record`` for a new record)."""

    sheet: str
    row: int
    table: str
    record: str
    column: str
    old: Any
    new: Any


@dataclass(frozen=True)
class Refusal:
    """A refused row: where it is and why, in the loader's words."""

    sheet: str
    row: int
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.sheet} row {self.row}"
        return f"{where}: {self.reason}"


@dataclass
class ImportPreview:
    """What an import would do. ``operations`` are what ``apply_import`` saves."""

    name: str
    changes: list[CellChange] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    operations: list[Operation] = field(default_factory=list)
    rows_read: int = 0
    rows_unchanged: int = 0
    cut_texts: int = 0  # texts longer than a cell holds, cut in the workbook: kept whole
    new_records: int = 0

    @property
    def ok(self) -> bool:
        return not self.refused

    def frame(self) -> pd.DataFrame:
        """The changes as a table for the preview (sheet, row, record, column, old → new)."""
        return pd.DataFrame(
            [{"sheet": c.sheet, "row": c.row, "record": c.record, "column": c.column,
              "old_value": to_text(c.old), "new_value": to_text(c.new)} for c in self.changes],
            columns=["sheet", "row", "record", "column", "old_value", "new_value"])

    def refused_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"sheet": r.sheet, "row": r.row, "column": r.column, "reason": r.reason}
                             for r in self.refused], columns=["sheet", "row", "column", "reason"])

    def summary(self) -> str:
        new_rows = {(c.sheet, c.row) for c in self.changes if c.column == "record"}
        updated = len({(c.sheet, c.row) for c in self.changes} - new_rows)
        return (f"{self.name}: {_count(self.rows_read, 'row')} read; {_count(len(self.changes), 'cell')} to change "
                f"in {_count(updated + self.new_records, 'record')} ({self.new_records} new), "
                f"{_count(self.rows_unchanged, 'row')} unchanged, {_count(len(self.refused), 'row')} refused")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def preview_import(workbench: Workbench, source: Path | str | bytes | IO[bytes], *, name: str | None = None,
                   actor: str | None = None) -> ImportPreview:
    """What importing ``source`` would change (nothing is written). With ``actor``, rows the
    ``authorize`` hook refuses for that user are refused here already."""
    with _as_file(source) as path:
        preview = ImportPreview(name or (Path(source).name if isinstance(source, (str, Path)) else "upload.xlsx"))
        try:
            book = open_xlsx(path)  # once: opening reads every text of every sheet
        except FatalFileError as exc:
            raise WorkbenchError(str(exc)) from None
        try:
            _preview_book(workbench, path, book, preview, actor)
        finally:
            book.close()
        return preview


def _preview_book(workbench: Workbench, path: Path, book: Any, preview: ImportPreview, actor: str | None) -> None:
    sheets = list(book.sheetnames)
    meta = _read_meta(book) if META_SHEET in sheets else {}
    with workbench._lock, read_store(workbench.store_path) as sq:
        txn = _Txn(workbench, sq, actor or "", None)
        _check_reload(txn, meta, preview)
        for sheet in sheets:
            if sheet == META_SHEET:
                continue
            table = table_for_name(sheet)
            if table is None or table not in EDITABLE:
                why = "not editable in the workbench" if table else "not named after a table"
                preview.notes.append(f"sheet {sheet!r} ignored ({why}; editable: {', '.join(EDITABLE)})")
                continue
            first = len(preview.refused)
            _preview_sheet(txn, path, book, sheet, EDITABLE[table], meta, preview, actor)
            preview.refused[first:] = sorted(preview.refused[first:], key=lambda r: r.row)  # as the sheet reads
    if preview.cut_texts:
        n = preview.cut_texts
        preview.notes.append(f"{n} text{'s' if n != 1 else ''} longer than an Excel cell's {EXCEL_CELL_CHARS:,} "
                             f"characters {'were' if n != 1 else 'was'} cut in the workbook: kept whole, not a "
                             "change (change such a text in the app)")


def apply_import(workbench: Workbench, preview: ImportPreview, actor: str) -> Saved:
    """Save the previewed changes as one save; refused rows are not part of it.

    The operations carry the values the preview saw: a record changed since the preview
    refuses the whole save with "changed by X at T" (preview again).
    """
    if not preview.operations:
        return Saved(None, actor, None, "import", [])
    try:
        return workbench.save(actor, preview.operations, source=f"excel import {preview.name}", action="import")
    except ConflictError as exc:
        raise ConflictError(f"{exc} (preview the import again)", exc.changed_by, exc.changed_at) from None


def import_workbook(workbench: Workbench, source: Path | str | bytes | IO[bytes], actor: str, *,
                    name: str | None = None) -> tuple[ImportPreview, Saved]:
    """Preview and apply in one go (the CLI): the accepted rows are saved, the refused ones
    are returned in the preview."""
    preview = preview_import(workbench, source, name=name, actor=actor)
    return preview, apply_import(workbench, preview, actor)


class _as_file:
    """A path for the loader's Excel reader, whatever the source is (an upload is bytes)."""

    def __init__(self, source: Path | str | bytes | IO[bytes]) -> None:
        self.source = source
        self.tmp: Path | None = None

    def __enter__(self) -> Path:
        if isinstance(self.source, (str, Path)):
            path = Path(self.source)
            if not path.is_file():
                raise WorkbenchError(f"workbook {path} does not exist")
            return path
        data = self.source if isinstance(self.source, bytes) else self.source.read()
        handle = tempfile.NamedTemporaryFile(suffix=".xlsx", delete=False)
        with handle:
            handle.write(data)
        self.tmp = Path(handle.name)
        return self.tmp

    def __exit__(self, *exc: object) -> None:
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)


def _read_meta(book: Any) -> dict[str, Any]:
    return {str(row[0]): row[1] if len(row) > 1 else None
            for row in book[META_SHEET].iter_rows(values_only=True) if row and row[0] is not None}


def _check_reload(txn: _Txn, meta: Mapping[str, Any], preview: ImportPreview) -> None:
    then = meta.get("crm_loaded_at")
    if not then or "load_info" not in txn.crm:
        return
    found = txn.con.execute("select value from crm.main.load_info where key = 'loaded_at'").fetchall()
    now = found[0][0] if found else None
    if now and now != then:
        preview.notes.append(
            f"the CRM export was loaded again ({show_time(now)}) after this workbook was downloaded: a cell "
            "that differs from the new export's value counts as a change; download a fresh workbook to be sure")


def _preview_sheet(txn: _Txn, path: Path, book: Any, sheet: str, spec: Editable, meta: Mapping[str, Any],
                   preview: ImportPreview, actor: str | None) -> None:
    con = txn.con
    try:
        staged = stage_xlsx(con, path, sheet, book)
    except FatalFileError as exc:
        preview.refused.append(Refusal(sheet, 1, None, str(exc)))
        return
    preview.rows_read += staged.rows_read
    for rr in staged.raw_rejects:
        preview.refused.append(Refusal(sheet, rr.row, None, rr.reason))
    colmap: dict[str, int] = {}
    ignored = []
    for i, header in enumerate(staged.headers):
        column = normalise_name(header)
        if column in spec.table.column_names:
            if column in colmap:
                preview.refused.append(Refusal(sheet, 1, column, f"column {column} appears twice; expected each "
                                                                 "column once"))
                return
            colmap[column] = i
        elif header.strip():
            ignored.append(header.strip())
    if ignored:
        preview.notes.append(f"sheet {sheet}: columns outside the model, ignored: {', '.join(ignored)}")
    missing = [k for k in spec.key if k not in colmap and k != spec.generated]
    if missing:
        preview.refused.append(Refusal(
            sheet, 1, missing[0], f"key column{'s' if len(missing) > 1 else ''} {', '.join(missing)} missing; "
            f"a sheet needs the key ({', '.join(spec.key)}) and the columns to change"))
        return
    rows = con.execute("select * from stg order by _row").fetchall()
    given_cols = [c for c in spec.table.column_names if c in colmap]
    # the key of each row, as the loader parses it (a date key from text included)
    parsed_keys = _parse_keys(txn, spec, rows, colmap)
    try:
        unchanged = _unchanged_rows(txn, spec, colmap, parsed_keys)
    finally:
        con.execute("drop table if exists stg")
    if unchanged:
        preview.rows_unchanged += len(unchanged)
        rows = [raw for raw in rows if raw[0] not in unchanged]
    txn.prefetch(spec, [parsed_keys[raw[0]] for raw in rows if None not in _required(spec, parsed_keys[raw[0]])])
    last_save = int(meta.get("store_last_save") or 0) if meta.get("format") == FORMAT else None
    pending: list[tuple[int, dict[str, str | None], dict[str, Any] | None, tuple | None]] = []
    seen_keys: dict[tuple, int] = {}
    known: dict[tuple, list[dict[str, Any]]] | None = None
    for raw in rows:
        number = raw[0]
        cells = {c: raw[1 + colmap[c]] for c in given_cols}
        key = parsed_keys.get(number)
        if key is None:
            continue  # refused while parsing its key
        blank_id = spec.generated is not None and key[spec.key.index(spec.generated)] is None
        if not blank_id:
            if key in seen_keys:
                preview.refused.append(Refusal(sheet, number, spec.key[0],
                                               f"duplicate key {', '.join(spec.key)} {checks.show(show_key(spec, key))}: "
                                               f"first kept (row {seen_keys[key]})"))
                continue
            seen_keys[key] = number
        current = None
        if not blank_id:
            current, st = txn.effective(spec, key)
            if current is None and spec.generated:
                preview.refused.append(Refusal(
                    sheet, number, spec.generated,
                    f"{spec.generated} {checks.show(key[0])} is neither in the export nor in the workbench; leave "
                    f"{spec.generated} blank to add a new {spec.noun}"))
                continue
            if current is not None and last_save is not None and st.last_batch and st.last_batch > last_save:
                differs = [c for c in given_cols if c not in spec.key and cells[c] != to_text(current[c])]
                if differs:
                    preview.refused.append(Refusal(
                        sheet, number, differs[0],
                        f"{spec.noun} {show_key(spec, key)} was changed by {txn.who(st.changed_by)} at "
                        f"{show_time(st.changed_at)}, after this workbook was downloaded; download a fresh "
                        "workbook (or enter the change in the app)"))
                    continue
        elif spec.identity:
            # a row without id is new, unless it is a record the workbook already had (a
            # second import of the same sheet, an export action without id): never a duplicate
            if known is None:
                known = _by_identity(txn, spec)
            same = known.get(tuple(_norm(cells.get(c)) for c in spec.identity), [])
            if any(all(_same_text(cells.get(c), to_text(r.get(c))) for c in given_cols if c != spec.generated)
                   for r in same):
                preview.rows_unchanged += 1
                continue
            if same:
                ids = ", ".join(to_text(r.get(spec.generated)) or "without id" for r in same)
                what = " and ".join(f"{c} {checks.show(cells.get(c))}" for c in spec.identity)
                preview.refused.append(Refusal(
                    sheet, number, spec.generated,
                    f"a {spec.noun} with {what} already exists ({ids}); give its {spec.generated} to change it"))
                continue
        if current is None:
            full = {c: cells.get(c) for c in spec.table.column_names}
        else:
            full = {c: to_text(current[c]) for c in spec.table.column_names}
            full.update(cells)
        if blank_id:
            full[spec.generated] = "(new)"  # checked as present; the save generates the id
        pending.append((number, full, current, None if blank_id else key))
    _check_pending(txn, sheet, spec, given_cols, pending, preview, actor)


def _unchanged_rows(txn: _Txn, spec: Editable, colmap: dict[str, int], parsed_keys: dict[int, tuple]) -> set[int]:
    """The rows of ``stg`` that change nothing, found in one query (the common case: a whole
    downloaded sheet back); every other row goes through the row by row preview.

    Only for a sheet with every column of its table (each row is then checked as it stands,
    as ``_check_pending`` checks it) and only rows whose key is once in the sheet, is not in the
    store (the record's effective values are the export's) and is in the export: a row whose
    cells pass the loader's checks and whose checked values equal the export's record. The
    key the checks parse must be the key the preview parses (``_parse_keys``); a row without
    its generated id (a new record, or one known by its identity) is never taken here."""
    if spec.name not in txn.crm or any(c not in colmap for c in spec.table.column_names):
        return set()
    stored = set()
    if txn.sq is not None:
        for (text,) in txn.sq.execute("select record_key from records where table_name = ?", (spec.name,)):
            key = decode_key(spec, text)
            if encode_key(spec, key) != text:
                return set()  # a key the tuples below would not find: no shortcut
            stored.add(key)
    counts = Counter(parsed_keys.values())
    match = " and ".join(f"c.{quote_ident(k)} is not distinct from e.{quote_ident(k)}" for k in spec.key)
    same = " and ".join(f"c.{quote_ident(c)} is not distinct from e.{quote_ident(c)}"
                        for c in spec.table.column_names if c not in spec.key) or "true"
    keys = ", ".join(f"c.{quote_ident(k)}" for k in spec.key)
    sql = (f"select c._row, {keys} from ({checked_sql(spec.table, colmap, source='stg')}) as c "
           f"join (select {txn.export_select(spec, 'x')} from {CRM_CATALOG}.main.{quote_ident(spec.name)} as x) as e "
           f"on {match} where c._reason is null and {same} qualify count(*) over (partition by c._row) = 1")
    params = {"dec_comma": False} if "$dec_comma" in sql else None  # as checks.check_rows reads numbers
    generated = spec.key.index(spec.generated) if spec.generated else None
    out = set()
    for number, *key in txn.con.execute(sql, params).fetchall():
        parsed = parsed_keys.get(number)
        if (parsed == tuple(key) and counts[parsed] == 1 and parsed not in stored
                and (generated is None or parsed[generated] is not None)):  # no id: new, or known by identity
            out.add(number)
    return out


def _required(spec: Editable, key: tuple) -> tuple:
    return tuple(v for k, v in zip(spec.key, key, strict=True) if spec.table.column(k).required)


def _same_text(a: str | None, b: str | None) -> bool:
    return (a or None) == (b or None)


def _parse_keys(txn: _Txn, spec: Editable, rows: list[tuple], colmap: dict[str, int]) -> dict[int, tuple | None]:
    """Each row's key as the loader parses it (ids trimmed; a date key from any date form)."""
    dates = [k for k in spec.key if spec.table.column(k).kind == "date" and k in colmap]
    parsed: dict[str, Any] = {}
    if dates:
        texts = sorted({raw[1 + colmap[k]].strip() for raw in rows for k in dates if raw[1 + colmap[k]]})
        parsed = dict(txn.con.execute("select v, kam_date(v) from unnest($v) as t(v)", {"v": texts}).fetchall())
    out: dict[int, tuple | None] = {}
    for raw in rows:
        values = []
        for k in spec.key:
            text = raw[1 + colmap[k]] if k in colmap else None
            text = text.strip() if isinstance(text, str) else text
            if text and k in dates and parsed.get(text) is not None:
                text = parsed[text]
            values.append(text or None)
        out[raw[0]] = tuple(values)
    return out


def _by_identity(txn: _Txn, spec: Editable) -> dict[tuple, list[dict[str, Any]]]:
    """The effective records of a table by their identity columns (see ``Editable.identity``)."""
    cur = txn.wb.dataset()
    if spec.name not in loaded_tables(cur):
        return {}
    result = cur.execute(f"select * from main.{quote_ident(spec.name)}")
    names = [d[0] for d in result.description]
    out: dict[tuple, list[dict[str, Any]]] = {}
    for values in result.fetchall():
        row = dict(zip(names, values, strict=True))
        out.setdefault(tuple(_norm(to_text(row.get(c))) for c in spec.identity), []).append(row)
    return out


EXCEL_CELL_CHARS = 32_767  # the most characters a cell holds; a longer text is cut there on export


def _cut_by_excel(cell: str | None, new: Any, current: Any) -> bool:
    """A cell holding the first 32,767 characters of a longer text: the text as the workbook
    could hold it (cut on export), not a change."""
    return (isinstance(cell, str) and len(cell) == EXCEL_CELL_CHARS and isinstance(current, str)
            and len(current) > EXCEL_CELL_CHARS and isinstance(new, str) and current.startswith(new))


def _norm(text: str | None) -> str | None:
    return " ".join(text.split()).casefold() if text else None


def _check_pending(txn: _Txn, sheet: str, spec: Editable, given_cols: list[str],
                   pending: list[tuple[int, dict[str, str | None], dict[str, Any] | None, tuple | None]],
                   preview: ImportPreview, actor: str | None) -> None:
    """The loader's checks on every pending row at once, then references, then the diffs."""
    results = checks.check_rows(txn.con, spec.table, [p[1] for p in pending], [p[0] for p in pending])
    for (number, full, current, key), result in zip(pending, results, strict=True):
        if result.values is None:
            for column, reason in result.problems:
                preview.refused.append(Refusal(sheet, number, column, reason))
            continue
        new = result.values
        is_new = current is None
        changed = {c for c in given_cols if c not in spec.key}
        if not is_new:
            changed = {c for c in changed if new[c] != current[c]}
            cut = {c for c in changed if _cut_by_excel(full.get(c), new[c], current[c])}
            if cut:  # the workbook could not hold the whole text: not a change
                changed -= cut
                preview.cut_texts += len(cut)
            if not changed:
                preview.rows_unchanged += 1
                continue
        refs = txn.reference_problems(spec, new, set(spec.table.column_names) if is_new else changed, "")
        if refs:
            for p in refs:
                preview.refused.append(Refusal(sheet, number, p.column, p.reason))
            continue
        record = "(new)" if key is None else show_key(spec, key)
        if actor is not None and txn.wb.authorize is not None:
            try:
                accounts = {txn.account_of(spec, new)} | ({txn.account_of(spec, current)} if current else set())
                txn.wb.authorize(WriteRequest(actor, "create" if is_new else "update", spec.name,
                                              key or (None,), tuple(sorted(a for a in accounts if a))))
            except PermissionDenied as exc:
                preview.refused.append(Refusal(sheet, number, None, str(exc)))
                continue
        if is_new:
            values = {c: new[c] for c in spec.table.column_names if c != spec.generated}
            preview.operations.append(Create(spec.name, values))
            preview.new_records += 1
            preview.changes.append(CellChange(sheet, number, spec.name, record, "record", None, "created"))
            for c in spec.table.column_names:
                if c != spec.generated and new[c] is not None and c not in spec.key:
                    preview.changes.append(CellChange(sheet, number, spec.name, record, c, None, new[c]))
            continue
        if spec.name == "contacts":
            txn.planned[key[0]] = new
        ordered = [c for c in spec.table.column_names if c in changed]
        preview.operations.append(Update(spec.name, key, {c: new[c] for c in ordered},
                                         seen={c: current[c] for c in ordered}))
        for c in ordered:
            preview.changes.append(CellChange(sheet, number, spec.name, record, c, current[c], new[c]))
