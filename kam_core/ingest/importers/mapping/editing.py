"""The mapping screen's helpers: editing, previewing and saving a mapping."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from kam_core.errors import LoadError
from kam_core.ingest.importers.common import TABULAR_SUFFIXES, XLSX_SUFFIXES
from kam_core.ingest.importers.mapping.model import Mapping, MappingError, TableMapping
from kam_core.ingest.importers.mapping.proposals import _column_scores, named_like, sample_rows
from kam_core.ingest.readers import shared_workbooks
from kam_core.ingest.schema import LOAD_ORDER, TABLES
from kam_core.ingest.sources import ZipLimits, source_hidden, table_for_name, unpack_zip
from kam_core.ingest.workspace import work_dir

if TYPE_CHECKING:
    import pandas as pd

    from kam_core.settings import Settings

def preview_mapping(
    mapping: Mapping, files: list[Path], settings: Settings | None = None, limit: int | None = 1000
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, list[str]]:
    """Run the real loader with this mapping into a temporary database.

    Returns the loaded tables (first ``limit`` rows each), the rejects (file, row, table,
    raw row, reason) and the load's problems as the command line prints them first (``FAILED
    <table> (<file>): … Fix: …``, ``FATAL <file> -> <table>: …``; empty when the load is ok).
    Raises ``LoadError`` when nothing could be built (no accounts).
    """
    from kam_core.ingest.loader import load
    from kam_core.ingest.schema import loaded_tables

    workdir = work_dir("preview")
    try:
        mfile = workdir / "mapping.toml"
        mfile.write_text(mapping.to_toml(comments=False), encoding="utf-8")
        db = workdir / "preview.duckdb"
        report = load(files, db, settings, mapping=mfile)
        problems = report.problem_lines()
        con = duckdb.connect(str(db), read_only=True)
        try:
            tables = {}
            for t in [t for t in LOAD_ORDER if t in loaded_tables(con)]:
                tables[t] = con.execute(f"select * from {t} limit $n", {"n": limit or 2**62}).df()
            rejects = con.execute(
                "select * from rejects order by source_file, row_number limit $n", {"n": limit or 2**62}
            ).df()
        finally:
            con.close()
        return tables, rejects, problems
    finally:
        shutil.rmtree(workdir, ignore_errors=True)



# ---------------------------------------------------------------- the mapping screen's helpers

NO_SOURCE = "(none)"  # the screen's choice for "no source column"
SOURCE_JOIN = " + "  # several headers joined with a space, as the screen shows them
_MAPPING_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def source_files(sources: list[Path], workdir: Path, limits: ZipLimits | None = None) -> list[Path]:
    """The files of the sources as the loader sees them: folders searched, a .zip unpacked.

    Zips are unpacked into ``workdir`` within ``limits`` (once: an existing unpacked folder is
    reused); a zip that cannot be unpacked is left out (loading it says why).
    """
    out: list[Path] = []
    for i, source in enumerate(Path(s) for s in sources):
        if source.is_dir():
            out += sorted(p for p in source.rglob("*") if p.is_file() and not source_hidden(p, source))
        elif source.suffix.lower() == ".zip":
            target = workdir / f"zip{i}-{source.stem}"
            if not target.is_dir():
                try:
                    unpack_zip(source, target, limits)
                except LoadError:
                    continue
            out += sorted(p for p in target.rglob("*") if p.is_file() and not source_hidden(p, target))
        elif source.is_file():
            out.append(source)
    return out


def needs_mapping(files: list[Path]) -> bool:
    """True when the files are in no recognised format, so only a mapping can load them.

    Recognised: a known CRM export, or a file named after the accounts table whose header has
    ``account_id`` (an ``accounts.csv``, or a workbook with an ``accounts`` sheet).
    ``customers.csv`` with a ``customerID`` column is named like accounts but is not canonical.
    """
    if not any(p.suffix.lower() in TABULAR_SUFFIXES for p in files):
        return False
    with shared_workbooks():  # each workbook opened once for the detections and the peeks
        return _needs_mapping(files)


def _needs_mapping(files: list[Path]) -> bool:
    from kam_core.ingest.importers import _is_canonical, detect

    base = Path(os.path.commonpath([str(p.parent) for p in files]))
    detection = detect(files, base)
    if detection is not None:
        return not detection.files
    for p in files:
        table = table_for_name(p.stem)
        if table == "accounts" and (_is_canonical(p, "accounts") or _empty(p)):
            return False  # an empty accounts.csv needs a new export, not a mapping (the load says so)
        if table is None and p.suffix.lower() in XLSX_SUFFIXES:
            from kam_core.ingest.importers.common import peek_xlsx_headers

            if any(table_for_name(s) == "accounts" for s in peek_xlsx_headers(p)):
                return False
    return True


def _empty(path: Path) -> bool:
    try:
        return path.stat().st_size == 0
    except OSError:
        return False


def propose_table(table: str, files: list[Path]) -> TableMapping:
    """A proposal for one table the user adds by hand: the file that fits it best, its columns.

    The best file has the most required columns found, then the highest sum of confidences (a
    file named like the table counts 0.5 more). With no tabular file, the table has no file.
    """
    best: tuple[float, TableMapping] | None = None
    t = TABLES[table]
    for path in files:
        if path.suffix.lower() not in TABULAR_SUFFIXES:
            continue
        headers, rows = sample_rows(path)
        if not headers:
            continue
        chosen = _column_scores(table, headers, rows)
        found = sum(c.name in chosen for c in t.required)
        hint = 0.5 if named_like(path, table) else 0.0
        score = 10 * found + sum(conf for _, conf in chosen.values()) + hint
        if best is None or score > best[0]:
            tm = TableMapping(table, file=path.name)
            for col in t.column_names:
                if col in chosen:
                    tm.columns[col], tm.confidence[col] = chosen[col]
            best = (score, tm)
    return best[1] if best else TableMapping(table, file=None)


def source_label(source: str | list[str] | None) -> str:
    """A column's source as the screen shows it.

    >>> source_label(["firstName", "lastName"]), source_label("Nr"), source_label(None)
    ('firstName + lastName', 'Nr', '(none)')
    """
    if not source:
        return NO_SOURCE
    return SOURCE_JOIN.join(source) if isinstance(source, list) else source


def source_value(label: str, headers: list[str] | None = None) -> str | list[str] | None:
    """The screen's choice back as a mapping source; a header that contains " + " stays whole.

    >>> source_value("firstName + lastName"), source_value("(none)"), source_value("a + b", ["a + b"])
    (['firstName', 'lastName'], None, 'a + b')
    """
    if not label or label == NO_SOURCE:
        return None
    if SOURCE_JOIN in label and label not in (headers or []):
        return [part.strip() for part in label.split(SOURCE_JOIN)]
    return label


def source_options(headers: list[str], current: str | list[str] | None = None) -> list[str]:
    """The choices for one column: no source, the file's headers, and the current source."""
    options = [NO_SOURCE, *dict.fromkeys(h for h in headers if h.strip())]
    label = source_label(current)
    if label not in options:
        options.append(label)
    return options


def defaults_text(defaults: dict[str, str]) -> str:
    """Defaults as the screen's text box shows them, one ``column = value`` per line."""
    return "\n".join(f"{col} = {value}" for col, value in defaults.items())


def parse_defaults(text: str, table: str) -> dict[str, str]:
    """The text box's ``column = value`` lines (blank lines and ``#`` comments skipped).

    >>> parse_defaults("type = order\\n\\n# a comment\\nmember_id = 7", "activities")
    {'type': 'order', 'member_id': '7'}
    """
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        col, sep, value = line.partition("=")
        col = col.strip()
        if not sep or not col:
            raise MappingError(f"tables.{table}.defaults line {n}: expected column = value, got {line!r}")
        if col not in TABLES[table].column_names:
            raise MappingError(
                f"tables.{table}.defaults line {n}: {table} has no column {col!r}; "
                f"columns are {', '.join(TABLES[table].column_names)}"
            )
        out[col] = value.strip().strip('"')
    return out


def edited_table(
    base: TableMapping,
    *,
    file: str | None = None,
    sql: str | None = None,
    sources: dict[str, str] | None = None,
    headers: list[str] | None = None,
    defaults: dict[str, str] | None = None,
) -> TableMapping:
    """The table as the user set it on the screen: a file with column choices, or one SQL SELECT.

    ``sources`` maps canonical columns to the screen's labels (``"(none)"``, a header, or
    ``"a + b"``). Value maps and parsing options are kept from ``base``; the sheet too while the
    file stays the same. A column's confidence is kept while its source is the proposed one.
    """
    tm = TableMapping(
        base.table,
        values={c: dict(v) for c, v in base.values.items()},
        defaults=dict(base.defaults if defaults is None else defaults),
        encoding=base.encoding,
        decimal=base.decimal,
        date_format=base.date_format,
        null_values=None if base.null_values is None else list(base.null_values),
    )
    if sql is not None:
        tm.sql = sql
        return tm
    tm.file = file
    tm.sheet = base.sheet if file == base.file else None
    if file == base.file:  # filters, lookups, grouping and formulas belong to the file
        tm.where = {k: list(v) for k, v in base.where.items()}
        tm.where_not = {k: list(v) for k, v in base.where_not.items()}
        tm.lookups = dict(base.lookups)
        tm.group_by = list(base.group_by)
        tm.aggregate = dict(base.aggregate)
        tm.formulas = dict(base.formulas)
        tm.normalise = list(base.normalise)
    for col in TABLES[base.table].column_names:
        label = (sources or {}).get(col)
        value = source_value(label, headers) if label is not None else base.columns.get(col)
        if value is None:
            continue
        tm.columns[col] = value
        if value == base.columns.get(col) and col in base.confidence:
            tm.confidence[col] = base.confidence[col]
    return tm


def edited_mapping(
    base: Mapping, tables: list[TableMapping], null_values: list[str] | None = None
) -> Mapping:
    """The whole mapping from the screen's tables, checked as a mapping file is.

    Top-level options and SQL file names come from ``base``. Raises ``MappingError`` naming the
    key when the result would not be a valid mapping file (e.g. a SQL that is not one SELECT).
    """
    mapping = Mapping(
        tables={t.table: t for t in tables},
        encoding=base.encoding,
        decimal=base.decimal,
        date_format=base.date_format,
        null_values=list(base.null_values if null_values is None else null_values),
        files=dict(base.files),
    )
    Mapping.from_toml(mapping.to_toml(comments=False), source="the mapping")
    return mapping


def saved_mappings(folder: Path) -> dict[str, Path]:
    """The mapping files in a folder by name (file stem), sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.toml")) if p.is_file()}


def save_mapping(mapping: Mapping, folder: Path, name: str, overwrite: bool = False, *, actor: Any) -> Path:
    """Write the mapping as ``<folder>/<name>.toml`` on behalf of ``actor``; returns the path.

    A saved mapping decides how later loads read the exports, so saving one needs the right to
    load data (``AccessDenied`` otherwise). The name takes letters, digits, ``-`` and ``_`` (a
    typed ``.toml`` is dropped). An existing file is replaced only with ``overwrite``; else
    ``MappingError`` says so.
    """
    from kam_core.access import Action, require

    require(actor, Action.LOAD_DATA)
    name = name.strip()
    if name.lower().endswith(".toml"):
        name = name[: -len(".toml")]
    if not _MAPPING_NAME.match(name):
        raise MappingError(
            f"mapping name {name!r}: use letters, digits, - and _ only (e.g. my-crm)"
            if name
            else "give the mapping a name (letters, digits, - and _)"
        )
    folder = Path(folder)
    path = folder / f"{name}.toml"
    if path.exists() and not overwrite:
        raise MappingError(f"{path.name} exists already in {folder}: tick overwrite to replace it")
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(mapping.to_toml(), encoding="utf-8")
    os.replace(tmp, path)
    return path
