"""Read one source file into a staging table of text cells, one row per input record.

Every reader produces the same thing: a DuckDB temp table ``stg`` with ``_row`` (the row
number as a spreadsheet shows it: header = 1, a quoted multi-line record is one row) and the
file's columns as VARCHAR named ``c0 … cN`` (user headers never enter SQL text), plus the
header list and any rows that could not even be split into fields (``RawReject``).

CSV goes through DuckDB's own reader when the file is clean (the fast path: millions of rows
per second); files DuckDB would refuse (rows with too many fields, blank lines, a quote never
closed) go through Python's ``csv`` module, which keeps every row and its raw text. Rows with
fewer fields than the header are read with the missing cells blank, on every path, and logged
(``SHORT_LOG``).
Windows-1252 is decoded in Python because DuckDB's reader does not know it.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import os
import posixpath
import re
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from xml.etree import ElementTree

import duckdb
import pyarrow as pa

from kam_core.errors import FatalFileError
from kam_core.sqlutil import quote_ident

if TYPE_CHECKING:
    import openpyxl

DELIMITERS = (",", ";", "\t", "|")
CHUNK = 8 << 20
MAX_FIELD = 64 * 1024 * 1024  # "no length limit below several MB" (spec §2)
csv.field_size_limit(MAX_FIELD)


@dataclass
class RawReject:
    row: int
    raw: str
    reason: str
    file: str | None = None  # the raw file, when it is not the staged file itself (a mapping's SQL)


@dataclass
class Staged:
    """What a reader leaves behind: ``stg`` in the connection, and facts about the file."""

    headers: list[str]
    delimiter: str = ","
    encoding: str = "utf-8"
    file_format: str = "csv"
    rows_read: int = 0
    raw_rejects: list[RawReject] = field(default_factory=list)
    # Importers of foreign formats may add to ``stg``: ``_raw`` (the original row's text, shown
    # in rejects instead of the staged cells) and ``_pre_reason`` (a reason found while mapping,
    # e.g. "currency 'MXN' has no conversion rate"; null when fine).
    has_raw: bool = False
    has_pre_reason: bool = False
    # ``_pre_blank`` (importers): the columns whose blank ``_pre_reason`` already explains (a
    # lookup that found nothing), so the loader does not add "<column> is blank (required)"
    has_pre_blank: bool = False
    # True when the reader already turned blank and 'NULL' cells into nulls (the loader's
    # readers do; an importer's stager may leave it to the loader)
    cleaned: bool = False
    # German number format (decimal comma) known by the importer; None = detect from the cells.
    decimal_comma: bool | None = None
    # The relation holding the staged cells: the temp table ``stg``, or (the fast path for a
    # clean CSV file) a read_csv subquery that the loader streams through its checks without
    # materialising the text cells first; ``source_params`` are its parameters.
    source: str = "stg"
    source_params: dict = field(default_factory=dict)
    raw_source: str | None = None  # the same cells as read (not cleaned), for the rejects' raw rows
    # The streamed source has ``_fields``: a row's number of fields when it has fewer than the
    # header (null otherwise); the loader keeps it in its checked rows and logs them (``SHORT_LOG``).
    has_fields: bool = False
    cleanup: list[Path] = field(default_factory=list)  # temporary files to delete after the load
    # Importers: a temp table holding the original file's cells (``_row``, ``c0 … c{raw_columns-1}``);
    # rejects show those cells as the raw row (built only for rejected rows). The loader drops it.
    raw_table: str | None = None
    raw_columns: int = 0
    # lines the load prints under the file (e.g. a lookup file that could not be read)
    notes: list[str] = field(default_factory=list)
    sheet: str | None = None  # an .xlsx file: the worksheet read (``xlsx_formulas_without_values``)
    # a table derived from raw files: each file and the rows read from it
    inputs: list[tuple[str, int]] = field(default_factory=list)
    extra_warnings: int = 0  # warnings the stager wrote under other files' names (a join's lost rows)
    # the file's columns an importer does not read (listed as ignored; never matched to a column
    # by name, so a file's unused "name" beside the mapped one is not a second name column)
    ignored_headers: list[str] = field(default_factory=list)
    # columns read from other files (a mapping's lookups): (file, sheet, header), not "ignored" there
    lookup_reads: list[tuple[str, str | None, str]] = field(default_factory=list)


# ---------------------------------------------------------------- encoding and dialect


@dataclass
class _ByteScan:
    nuls: int = 0  # NUL bytes (stray ones in text are dropped from the cells; see ``binary_reason``)
    utf8: bool = True  # every byte decodes as UTF-8
    blank: bool = False  # a blank line (only looked for when asked)
    quotes: int = 0  # quote characters


# File signatures of formats that are not CSV text, with what to tell the user.
SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "it is a zip archive (an .xlsx workbook is one): name it .xlsx or .zip"),
    (b"PAR1", "it is a Parquet file: name it .parquet"),
    (b"\xd0\xcf\x11\xe0", "it is an old Excel .xls workbook: save it as .xlsx or CSV"),
    (b"%PDF", "it is a PDF document"),
    (b"\x89PNG", "it is a PNG image"),
    (b"\xff\xd8\xff", "it is a JPEG image"),
    (b"GIF8", "it is a GIF image"),
    (b"SQLite format 3\x00", "it is an SQLite database"),
    (b"\x1f\x8b", "it is gzip-compressed: unpack it first"),
)
SAMPLE = 64 * 1024  # the bytes looked at for the share of control characters
CONTROL_SHARE = 0.05  # more control characters than this in the sample (and at least 3): not text
# control bytes that text does not contain (tab, line feed, form feed and carriage return are text)
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 12, 13)) + b"\x7f"


def binary_reason(head: bytes) -> str | None:
    """Why a file that starts with ``head`` is not CSV text, or None for text.

    Decided on evidence, never on one NUL: a file signature, or a high share of control bytes
    (a real export's long text fields may hold a few stray NULs; a binary file holds many).

    >>> binary_reason(b'"Id","Name"\\n"1","Ac\\x00me"\\n') is None
    True
    >>> binary_reason(b"PK\\x03\\x04" + bytes(100))
    'it is a zip archive (an .xlsx workbook is one): name it .xlsx or .zip'
    """
    for signature, why in SIGNATURES:
        if head.startswith(signature):
            return why
    sample = head[:SAMPLE]
    control = len(sample) - len(sample.translate(None, _CONTROL))
    if control >= 3 and control > CONTROL_SHARE * len(sample):
        return f"{control / len(sample):.0%} of its first bytes are control characters"
    return None


def utf16_without_bom(head: bytes) -> str | None:
    """``utf-16-le``/``utf-16-be`` for UTF-16 text without a byte-order mark (every other byte NUL)."""
    sample = head[: SAMPLE - SAMPLE % 2]
    if len(sample) < 4:
        return None
    odd, even = sample[1::2], sample[0::2]
    if odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "utf-16-be"
    return None


def _scan_bytes(path: Path, blank_lines: bool, stop_unless_utf8: bool = False, stop_at_nul: bool = False
                ) -> _ByteScan:
    """One pass over a file's bytes in large chunks (single-byte tests are the fast ones)."""
    scan = _ByteScan()
    decoder = codecs.getincrementaldecoder("utf-8")()
    prev_tail = b""
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            if b"\x00" in chunk:
                scan.nuls += chunk.count(b"\x00")
                if stop_at_nul:
                    return scan
            # ASCII needs no decoding (unless a multi-byte character is split across chunks)
            if scan.utf8 and not (chunk.isascii() and not decoder.getstate()[0]):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    scan.utf8 = False
                    if stop_unless_utf8:
                        return scan
            if blank_lines and not scan.blank:
                edge = prev_tail + chunk[:2]  # a blank line across the chunk boundary
                scan.blank = b"\n\n" in chunk or b"\n\n" in edge or (
                    b"\r" in chunk and (b"\n\r\n" in chunk or b"\n\r\n" in edge))
            if b'"' in chunk:
                scan.quotes += chunk.count(b'"')
            prev_tail = chunk[-2:]
    if scan.utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            scan.utf8 = False
    return scan


@dataclass
class FileFacts:
    """What one read of a CSV file's bytes tells (``sniff_file``)."""

    encoding: str
    careful: bool  # only Python's csv reader numbers and keeps its rows right
    nuls: int = 0  # stray NUL bytes: dropped from the cells and reported


def not_text(path: Path, why: str) -> FatalFileError:
    return FatalFileError(
        f"{path.name}: this is not a text file ({why}); expected a CSV file in UTF-8 or "
        "Windows-1252, an .xlsx workbook or a Parquet file"
    )


def sniff_file(path: Path) -> FileFacts:
    """Encoding, whether the careful reader is needed, and stray NULs, after reading the file once.

    UTF-8 (with or without BOM) when every byte decodes; UTF-16 when it has a UTF-16 BOM (or
    every other byte is NUL); otherwise Windows-1252. ``careful``: the file has blank lines
    (rows of a spreadsheet that DuckDB's reader would skip, shifting row numbers) or an odd
    number of quote characters (a quote that never closes). A 0-byte file, or one that is not
    text by its signature or its share of control bytes, is fatal.
    """
    if path.stat().st_size == 0:
        raise FatalFileError(f"{path.name}: the file is empty (0 bytes); expected a header row")
    with path.open("rb") as fh:
        head = fh.read(SAMPLE)
    if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return FileFacts("utf-16", True)
    utf16 = utf16_without_bom(head)
    if utf16:
        return FileFacts(utf16, True)
    why = binary_reason(head)
    if why:
        raise not_text(path, why)
    scan = _scan_bytes(path, blank_lines=True)
    return FileFacts("utf-8" if scan.utf8 else "cp1252", scan.blank or scan.quotes % 2 == 1, scan.nuls)


def sniff_encoding(path: Path) -> tuple[str, bool]:
    """(encoding, careful) of ``sniff_file``."""
    facts = sniff_file(path)
    return facts.encoding, facts.careful


def _cp1252_with_latin1_fallback(err: UnicodeDecodeError) -> tuple[str, int]:
    # The five bytes cp1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) occur in real
    # exports inside mojibake; keep them as their Latin-1 code points instead of failing.
    return err.object[err.start : err.end].decode("latin-1"), err.end


codecs.register_error("kam_cp1252", _cp1252_with_latin1_fallback)


def open_text(path: Path, encoding: str) -> io.TextIOWrapper:
    enc = "utf-8-sig" if encoding == "utf-8" else encoding
    errors = "kam_cp1252" if encoding == "cp1252" else "strict"
    return open(path, encoding=enc, errors=errors, newline="")


def sniff_delimiter(header_line: str) -> str:
    """The candidate delimiter that occurs most often outside quotes in the header line."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for ch in header_line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])  # ties keep the earlier (comma first)
    return best if counts[best] else ","


def _first_record(path: Path, encoding: str) -> tuple[str, list[str]]:
    with open_text(path, encoding) as fh:
        first_line = fh.readline()
        delim = sniff_delimiter(first_line)
        fh.seek(0)
        reader = csv.reader(fh, delimiter=delim)
        try:
            header = next(reader)
        except StopIteration:
            header = []
    if header and header[0].startswith("\ufeff"):
        header[0] = header[0][1:]
    return delim, [h.replace("\x00", "") for h in header]


# ---------------------------------------------------------------- CSV


def stage_csv(con: duckdb.DuckDBPyConnection, path: Path, lazy: bool = False, careful: bool = False,
              encoding: str | None = None) -> Staged:
    """Stage a CSV file. ``lazy``: for a clean file return a streaming read_csv source instead of
    a materialised ``stg`` (the caller falls back to ``careful=True`` if DuckDB then refuses
    the file). ``careful``: always use Python's csv module (ragged rows, blank lines).
    ``encoding`` overrides the sniffed one (a mapping file's ``encoding``).

    Stray NUL characters are dropped from the cells and logged per column (``NUL_LOG``)."""
    facts = sniff_file(path)
    if encoding and encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
        facts.encoding = encoding
    delim, header = _first_record(path, facts.encoding)
    if not any(h.strip() for h in header):
        raise FatalFileError(f"{path.name}: the first row is empty; expected a header row with column names")
    staged = Staged(headers=header, delimiter=delim, encoding=facts.encoding, file_format="csv")
    if not facts.careful and not careful:
        # DuckDB reads UTF-8 only: other encodings are decoded once into a UTF-8 copy.
        fast_path = path if facts.encoding == "utf-8" else transcode_to_utf8(path, facts.encoding)
        if fast_path != path:
            staged.cleanup.append(fast_path)
        if lazy and not facts.nuls:
            staged.source = f"({_read_csv_sql(staged, clean=False)})"
            staged.raw_source = f"({_read_csv_sql(staged, raw=True)})"
            staged.source_params = {"path": str(fast_path)}
            staged.has_pre_reason = True
            staged.has_fields = True
            staged.rows_read = -1  # known after the checks have run
            return staged
        try:
            _stage_csv_duckdb(con, fast_path, staged, path)
            _drop_nuls(con, path, staged, facts.nuls)
            return staged
        except duckdb.Error:
            pass  # a ragged or otherwise unusual file: the careful reader below keeps every row
        finally:  # the cells are staged (or read again below): the decoded copy is not needed
            if fast_path != path:
                fast_path.unlink(missing_ok=True)
                staged.cleanup.remove(fast_path)
    _stage_csv_python(con, path, staged)
    _drop_nuls(con, path, staged, facts.nuls)
    return staged


# Stray NULs dropped from the cells: per file and column, the characters, the rows and the first
# row. The loader turns them into warnings and notes ("37 NUL characters removed from Description").
NUL_LOG = "kam_nul_log"


def _drop_nuls(con: duckdb.DuckDBPyConnection, path: Path, staged: Staged, nuls: int) -> None:
    """Remove NUL characters from the staged cells of ``path`` and log how many per column."""
    if not nuls:
        return
    n = len(staged.headers)
    per_column = ", ".join(
        f"sum(length(c{i}) - length(replace(c{i}, chr(0), ''))), "
        f"count(*) filter (where contains(c{i}, chr(0))), min(_row) filter (where contains(c{i}, chr(0)))"
        for i in range(n))
    counts = con.execute(f"select {per_column} from stg").fetchone()
    con.execute(f"create temp table if not exists {NUL_LOG} (path varchar, column_name varchar, "
                "count_chars bigint, count_rows bigint, first_row bigint)")
    con.execute(f"delete from {NUL_LOG} where path = $p", {"p": str(path)})
    sets = []
    for i in range(n):
        chars, rows, first = counts[3 * i : 3 * i + 3]
        if chars:
            con.execute(f"insert into {NUL_LOG} values ($p, $c, $chars, $rows, $first)",
                        {"p": str(path), "c": staged.headers[i].strip() or f"column {i + 1}", "chars": chars,
                         "rows": rows, "first": first})
            cell = f"replace(c{i}, chr(0), '')"
            sets.append(f"c{i} = case when upper(trim({cell})) in ('', 'NULL') then null else {cell} end")
    if staged.has_raw:
        sets.append("_raw = replace(_raw, chr(0), '')")
    if sets:
        con.execute(f"update stg set {', '.join(sets)}")


def fast_csv(path: Path) -> Staged | None:
    """A CSV file's streaming source without row numbers, or None if DuckDB cannot read it as is.

    DuckDB numbers rows (``with ordinality``) only by giving up half its parallel reading, and
    a file whose every row loads needs no row numbers: this source is for the loader's
    optimistic first attempt (blank lines then do not matter either: they hold no data). One
    quick pass over the bytes instead of ``sniff_encoding``'s: the file must be UTF-8 (others
    need decoding first) with no quote left open (which DuckDB's reader would misread).
    """
    if path.stat().st_size == 0:
        return None
    scan = _scan_bytes(path, blank_lines=False, stop_unless_utf8=True, stop_at_nul=True)
    if scan.nuls or not scan.utf8 or scan.quotes % 2:
        return None
    delim, header = _first_record(path, "utf-8")
    if not any(h.strip() for h in header):
        return None
    staged = Staged(headers=header, delimiter=delim, file_format="csv", rows_read=-1)
    staged.source = f"({_read_csv_sql(staged, numbered=False, clean=False)})"
    staged.source_params = {"path": str(path)}
    staged.has_pre_reason = True
    staged.has_fields = True
    return staged


def _read_csv_sql(staged: Staged, raw: bool = False, parallel: bool = True, numbered: bool = True,
                  clean: bool = True) -> str:
    """SELECT of a CSV file's cells with spreadsheet row numbers (parameter $path).

    One column more than the header is read, padded with null: an empty string there means
    the row ended with an extra delimiter, any value an extra field — both are rejected
    (``_pre_reason``), as a row with more fields than the header must be. Empty fields are
    read as '' (not null) for that reason, and cleaned afterwards. A row with fewer fields than
    the header is padded with nulls, so its last cell is null (an empty field is ''): ``_fields``
    is its number of fields (null for a full row), for the load's warning. ``raw``: one column
    ``_raw`` with the row's cells as read, for the rejects. ``numbered=False``: ``_row`` is
    null and the file is read at full parallel speed (see ``fast_csv``). ``clean=False``: the
    cells as read; the loader's checks clean each column as its kind needs.
    """
    n = len(staged.headers)
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(n + 1)) + "}"
    delim_sql = {",": "','", ";": "';'", "\t": "'\\t'", "|": "'|'"}[staged.delimiter]
    if raw:
        cells = ", ".join(f"kam_csvq(c{i}, {delim_sql})" for i in range(n + 1))
        select = f"concat_ws({delim_sql}, {cells}) as _raw"
    else:
        # padding is trailing: the fields present are the cells that are not null (computed
        # only for the rare short row; first in the list, before the cells' names are reused)
        present = " + ".join(f"(c{i} is not null)::int" for i in range(n))
        fields = f"case when c{n - 1} is null then ({present})::bigint end as _fields"
        cells = ", ".join(f"kam_clean(c{i}) as c{i}" if clean else f"c{i}" for i in range(n))
        select = (f"{fields}, {cells}, case when c{n} is not null then 'the row has {n + 1} fields but the header "
                  f"has {n}; a delimiter inside a value must be quoted' end as _pre_reason")
    row = "(ordinality + 1)::bigint" if numbered else "null::bigint"
    return f"""
        select {row} as _row, {select}
        from read_csv(
            $path, delim = {delim_sql}, quote = '"', escape = '"', header = true,
            auto_detect = false, columns = {columns}, strict_mode = true, null_padding = true,
            nullstr = '\x01', parallel = {str(parallel).lower()},
            max_line_size = {MAX_FIELD}, buffer_size = {2 * MAX_FIELD}, encoding = 'utf-8'
        ){" with ordinality" if numbered else ""}"""


def serial(staged: Staged) -> Staged:
    """The streamed source read by DuckDB's serial reader: its parallel one cannot pad rows
    when values hold line breaks (it says so with an error naming null_padding)."""
    staged.source = f"({_read_csv_sql(staged, parallel=False, clean=False)})"
    staged.raw_source = f"({_read_csv_sql(staged, raw=True, parallel=False)})"
    return staged


def _stage_csv_duckdb(con: duckdb.DuckDBPyConnection, path: Path, staged: Staged, original: Path) -> None:
    """``stg`` from DuckDB's serial reader (``path``: the file, or its UTF-8 copy of ``original``)."""
    con.execute(f"create or replace temp table stg as {_read_csv_sql(staged, parallel=False)}", {"path": str(path)})
    staged.rows_read = con.execute("select count(*) from stg").fetchone()[0]
    log_short_rows_of(con, original, len(staged.headers), "stg")
    con.execute("alter table stg drop column _fields")  # stg holds the cells only
    staged.cleaned = True
    staged.has_pre_reason = True


# Rows with fewer fields than the header (real exports drop trailing empty fields): they load,
# their missing cells blank. Per file: how many, and the first few with their number of fields
# (one row each). The loader turns them into a warning and a note ("3 rows have fewer fields …").
SHORT_LOG = "kam_short_log"
SHORT_EXAMPLES = 5


def log_short_rows(con: duckdb.DuckDBPyConnection, path: Path, header_fields: int, count: int,
                   examples: list[tuple[int, int]]) -> None:
    """Log ``count`` short rows of ``path``, with the first ``(row, fields)``; replaces its earlier entry."""
    con.execute(f"create temp table if not exists {SHORT_LOG} (path varchar, count_rows bigint, "
                "header_fields bigint, row_number bigint, fields bigint)")
    con.execute(f"delete from {SHORT_LOG} where path = $p", {"p": str(path)})
    for row, fields in examples[:SHORT_EXAMPLES] if count else []:
        con.execute(f"insert into {SHORT_LOG} values ($p, $count, $n, $row, $fields)",
                    {"p": str(path), "count": count, "n": header_fields, "row": row, "fields": fields})


def log_short_rows_of(con: duckdb.DuckDBPyConnection, path: Path, header_fields: int, relation: str) -> None:
    """``log_short_rows`` from a table with ``_row`` and ``_fields`` (one cheap aggregate)."""
    rows = con.execute(f"""select count(*) over (), _row, _fields from {relation}
                           where _fields is not null order by _row limit {SHORT_EXAMPLES}""").fetchall()
    log_short_rows(con, path, header_fields, rows[0][0] if rows else 0, [(r, f) for _, r, f in rows])


def clean_cell(v: str | None) -> str | None:
    """A blank cell or the text NULL (any case) is missing (spec §2)."""
    if v is None:
        return None
    stripped = v.strip()
    if not stripped or stripped.upper() == "NULL":
        return None
    return v


class _LineTap:
    """Feeds lines to csv.reader and remembers the raw text of the current record.

    Lines can be pushed back: after a quote that never closes, the lines it swallowed are
    read again as records of their own.
    """

    def __init__(self, fh: io.TextIOBase) -> None:
        self.fh = fh
        self.lines: list[str] = []
        self.pushed: list[str] = []

    def __iter__(self) -> _LineTap:
        return self

    def __next__(self) -> str:
        line = self.pushed.pop(0) if self.pushed else self.fh.readline()
        if not line:
            raise StopIteration
        self.lines.append(line)
        return line

    def take(self) -> str:
        raw = "".join(self.lines).rstrip("\r\n")
        self.lines = []
        return raw


def _stage_csv_python(con: duckdb.DuckDBPyConnection, path: Path, staged: Staged) -> None:
    n = len(staged.headers)
    rows: list[list[str | None]] = [[] for _ in range(n)]
    raws: list[str] = []
    row_numbers: list[int] = []
    short: list[tuple[int, int]] = []  # the first rows with fewer fields than the header: (row, fields)
    count_short = 0
    with open_text(path, staged.encoding) as fh:
        tap = _LineTap(fh)
        reader = csv.reader(tap, delimiter=staged.delimiter, strict=True)
        try:
            next(reader)  # header
        except (StopIteration, csv.Error):
            pass
        tap.take()
        row_no = 1
        while True:
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                row_no += 1
                staged.rows_read += 1
                lines = tap.lines
                tap.lines = []
                if "unexpected end of data" in str(exc) and len(lines) > 1:
                    # a quote that never closes swallowed the lines after it: reject the line
                    # that opened it and read the others again
                    staged.raw_rejects.append(RawReject(
                        row_no, lines[0].rstrip("\r\n"),
                        "a quoted value is never closed (a \" without its closing \")"))
                    tap.pushed = lines[1:] + tap.pushed
                else:
                    staged.raw_rejects.append(RawReject(
                        row_no, "".join(lines).rstrip("\r\n"), f"the row cannot be read as CSV ({exc})"))
                reader = csv.reader(tap, delimiter=staged.delimiter, strict=True)
                continue
            raw = tap.take()
            row_no += 1
            if not record:  # a blank line: a row in a spreadsheet, but no data to keep
                continue
            staged.rows_read += 1
            if len(record) > n:
                staged.raw_rejects.append(
                    RawReject(row_no, raw, f"the row has {len(record)} fields but the header has {n}; "
                              "a delimiter inside a value must be quoted")
                )
                continue
            if len(record) < n:
                count_short += 1
                if len(short) < SHORT_EXAMPLES:
                    short.append((row_no, len(record)))
            row_numbers.append(row_no)
            raws.append(raw)
            for i in range(n):
                rows[i].append(clean_cell(record[i]) if i < len(record) else None)
    _register_stage(con, row_numbers, rows, raws)
    log_short_rows(con, path, n, count_short, short)
    staged.cleaned = True
    staged.has_raw = True


def _register_stage(con: duckdb.DuckDBPyConnection, row_numbers: list[int],
                    columns: list[list[str | None]], raws: list[str] | None = None) -> None:
    arrays = {"_row": pa.array(row_numbers, pa.int64())}
    for i, col in enumerate(columns):
        arrays[f"c{i}"] = pa.array(col, pa.string())
    if raws is not None:  # the original text of each record, shown for rejected rows
        arrays["_raw"] = pa.array(raws, pa.string())
    staged_arrow = pa.table(arrays)  # noqa: F841 - DuckDB finds it by its name in the SQL
    con.execute("create or replace temp table stg as select * from staged_arrow")


# ---------------------------------------------------------------- Excel and Parquet


def _cell_text(v: object) -> str | None:
    if type(v) is str:  # most cells: what the last line does, without the checks above it
        return v if v != "" else None
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time(0) else v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    text = str(v)
    return text if text != "" else None


def xlsx_sheet_names(path: Path) -> list[str]:
    with workbook(path) as wb:
        return list(wb.sheetnames)


def open_xlsx(path: Path) -> openpyxl.Workbook:
    """The workbook opened as ``stage_xlsx`` reads it (read-only, saved values); the caller
    closes it. Opening reads the whole shared-strings part (every distinct text of every sheet):
    a caller that stages several sheets of one file opens it once and passes it on."""
    import openpyxl

    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken file
        raise FatalFileError(f"{path.name}: cannot be opened as an Excel workbook ({exc})") from None


# The workbooks of a ``shared_workbooks`` block, by file (path, size, modification time)
_SHARED_BOOKS: ContextVar[dict[tuple, openpyxl.Workbook] | None] = ContextVar("kam_shared_workbooks", default=None)


@contextmanager
def shared_workbooks() -> Iterator[None]:
    """Within the block, ``workbook`` opens each file once and the block's end closes them: a
    load peeks at a workbook's sheet names and headers (which export is it?) and then stages
    every sheet, and each opening reads every distinct text of the file (seconds for a large
    export)."""
    books: dict[tuple, openpyxl.Workbook] = {}
    token = _SHARED_BOOKS.set(books)
    try:
        yield
    finally:
        _SHARED_BOOKS.reset(token)
        for book in books.values():
            book.close()


@contextmanager
def workbook(path: Path) -> Iterator[openpyxl.Workbook]:
    """The workbook at ``path`` (``open_xlsx``) for the block: the one of the enclosing
    ``shared_workbooks`` block, else opened now and closed after."""
    books = _SHARED_BOOKS.get()
    if books is None:
        book = open_xlsx(path)
        try:
            yield book
        finally:
            book.close()
        return
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in books:
        books[key] = open_xlsx(path)
    yield books[key]


def stage_xlsx(con: duckdb.DuckDBPyConnection, path: Path, sheet: str | None,
               book: openpyxl.Workbook | None = None) -> Staged:
    """Stage one worksheet; the Excel row number is the row number. ``book``: the file already
    opened by ``open_xlsx`` (left open), else ``workbook``'s."""
    with nullcontext(book) if book is not None else workbook(path) as wb:
        ws = wb[sheet] if sheet else wb.worksheets[0]
        rows_iter = ws.iter_rows(values_only=True)
        header: list[str] | None = None
        header_row = 0
        for r, values in enumerate(rows_iter, start=1):
            if any(v is not None and str(v).strip() for v in values):
                header = [(_cell_text(v) or "") for v in values]
                header_row = r
                break
        if header is None:
            raise FatalFileError(f"{path.name} [{ws.title}]: the sheet is empty; expected a header row")
        while header and not header[-1].strip():
            header.pop()
        n = len(header)
        staged = Staged(headers=header, file_format="xlsx", encoding="xlsx", sheet=ws.title)
        cols: list[list[str | None]] = [[] for _ in range(n)]
        raws: list[str] = []
        row_numbers: list[int] = []
        join_raw = _RawJoiner()
        for r, values in enumerate(rows_iter, start=header_row + 1):
            cells = [_cell_text(v) for v in values]
            if not any(c is not None and c.strip() for c in cells):
                continue
            staged.rows_read += 1
            if any(c is not None and c.strip() for c in cells[n:]):
                staged.raw_rejects.append(RawReject(r, _join_raw(cells), f"the row has values beyond the last of the {n} header columns"))
                continue
            row_numbers.append(r)
            raws.append(join_raw(cells[:n]))
            for i in range(n):
                cols[i].append(clean_cell(cells[i]) if i < len(cells) else None)
    _register_stage(con, row_numbers, cols, raws)
    staged.has_raw = True
    staged.cleaned = True
    return staged


# The end of a cell whose formula has no value in a worksheet's XML (any namespace prefix):
# ``…</f></c>``, ``…</f><v/></c>``, ``…</f><v></v></c>`` or a shared ``<f …/>`` before them.
# A quick filter: a match may still be a text result (t="str"), which the parse tells.
_P = rb"(?:[A-Za-z_][\w.-]*:)?"
_FORMULA_WITHOUT_VALUE = re.compile(
    rb"(?:</" + _P + rb"f>|<" + _P + rb"f\b[^<>]*/>)\s*(?:<" + _P + rb"v\b[^<>]*/>\s*|<" + _P + rb"v\b[^<>]*>\s*</"
    + _P + rb"v>\s*)?</" + _P + rb"c>")


def xlsx_formulas_without_values(path: Path, sheet: str, columns: set[int], first_row: int = 1
                                 ) -> list[tuple[int, int, str]]:
    """The cells of ``sheet`` in ``columns`` (1 = A) from ``first_row`` on that hold a formula
    whose value was never saved: ``(row, column, formula)``, formula as ``=…`` ('' when shared).

    A workbook written by a tool (not saved by Excel) stores formulas without their values;
    read for values (``stage_xlsx``) such a cell is blank, like an empty one. Only the sheet's
    XML tells them apart: a ``<c>`` with an ``<f>`` and no (or an empty) ``<v>`` — and not a
    text result (Excel saves a formula that returns "" as ``t="str"`` with an empty value).
    Read only when needed (a blank cell in a column the load uses), and parsed only after a
    quick scan of the bytes finds such a cell: an export has no formulas, and a workbook saved
    by Excel has every formula's value, so most files stop at the scan.
    Returns [] when the file cannot be read this way (the cells then stay plain blanks).
    """
    try:
        with zipfile.ZipFile(path) as zf:
            part = _sheet_part(zf, sheet)
            with zf.open(part) as fh:
                tail = b""
                while chunk := fh.read(CHUNK):
                    if _FORMULA_WITHOUT_VALUE.search(tail + chunk):
                        break
                    tail = chunk[-1024:]  # a match across the chunks' boundary
                else:
                    return []
            with zf.open(part) as fh:
                return _formula_cells(fh, columns, first_row)
    except (KeyError, StopIteration, ValueError, OSError, zipfile.BadZipFile, ElementTree.ParseError):
        return []


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _sheet_part(zf: zipfile.ZipFile, sheet: str) -> str:
    """The zip member holding the worksheet named ``sheet`` (through the package's relationships)."""

    def relationships(part: str) -> dict[str, tuple[str, str]]:  # id -> (type, member)
        folder, name = posixpath.split(part)
        root = ElementTree.fromstring(zf.read(posixpath.join(folder, "_rels", name + ".rels")))
        out = {}
        for rel in root:
            target = rel.get("Target", "")
            member = target[1:] if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
            out[rel.get("Id", "")] = (rel.get("Type", ""), member)
        return out

    workbook = next(m for t, m in relationships("").values() if t.endswith("/officeDocument"))
    sheets = relationships(workbook)
    for el in ElementTree.fromstring(zf.read(workbook)).iter():
        if _local(el.tag) == "sheet" and el.get("name") == sheet:
            rid = next(v for k, v in el.attrib.items() if _local(k) == "id")
            return sheets[rid][1]
    raise KeyError(sheet)


def _formula_cells(fh: io.BufferedIOBase, columns: set[int], first_row: int) -> list[tuple[int, int, str]]:
    from openpyxl.utils.cell import column_index_from_string, coordinate_from_string

    found: list[tuple[int, int, str]] = []
    row_no = 0
    for _, el in ElementTree.iterparse(fh, events=("end",)):
        if _local(el.tag) != "row":
            continue
        row_no = int(el.get("r") or row_no + 1)
        col_no = 0
        for cell in el:
            if _local(cell.tag) != "c":
                continue
            ref = cell.get("r")
            col_no = column_index_from_string(coordinate_from_string(ref)[0]) if ref else col_no + 1
            if row_no < first_row or col_no not in columns or cell.get("t") == "str":
                continue
            formula = value = None
            for child in cell:
                kind = _local(child.tag)
                if kind == "f":
                    formula = child
                elif kind == "v":
                    value = child
            if formula is not None and (value is None or not value.text):
                found.append((row_no, col_no, "=" + formula.text if formula.text else ""))
        el.clear()
    return found


def _join_raw(cells: list[str | None]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(["" if c is None else c for c in cells])
    return out.getvalue()


class _RawJoiner:
    """``_join_raw`` for many rows: one buffer and one csv writer, emptied for each row."""

    def __init__(self) -> None:
        self.out = io.StringIO()
        self.writer = csv.writer(self.out, lineterminator="")

    def __call__(self, cells: list[str | None]) -> str:
        self.out.seek(0)
        self.out.truncate()
        self.writer.writerow(["" if c is None else c for c in cells])
        return self.out.getvalue()


def stage_parquet(con: duckdb.DuckDBPyConnection, path: Path) -> Staged:
    try:
        rel_cols = [r[0] for r in con.execute("describe select * from read_parquet($p)", {"p": str(path)}).fetchall()]
    except duckdb.Error as exc:
        raise FatalFileError(f"{path.name}: cannot be read as Parquet ({str(exc).splitlines()[0]})") from None
    select = ", ".join(f"kam_clean(cast({quote_ident(c)} as varchar)) as c{i}" for i, c in enumerate(rel_cols))
    con.execute(
        f"create or replace temp table stg as select (file_row_number + 2)::bigint as _row, {select} "
        "from read_parquet($p, file_row_number = true)",
        {"p": str(path)},
    )
    staged = Staged(headers=rel_cols, file_format="parquet", encoding="parquet", cleaned=True)
    staged.rows_read = con.execute("select count(*) from stg").fetchone()[0]
    return staged


# The load's work folder: temporary copies go there and are removed with it (a load that is
# killed leaves the folder, which the next load sweeps; ``kam_core.ingest.leftovers``).
WORK_DIR: ContextVar[Path | None] = ContextVar("kam_work_dir", default=None)


def transcode_to_utf8(path: Path, encoding: str) -> Path:
    """A UTF-8 copy of a file (for tools that only read UTF-8), in the load's work folder;
    the caller deletes it."""
    fd, tmp = tempfile.mkstemp(suffix=".csv", prefix="kam-utf8-", dir=WORK_DIR.get())
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as out, open_text(path, encoding) as src:
        while chunk := src.read(CHUNK):
            out.write(chunk)
    return Path(tmp)
