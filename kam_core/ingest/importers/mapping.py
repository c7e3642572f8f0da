"""The generic column mapping: a TOML file that maps any export to the canonical tables.

A mapping names, per canonical table, either a source ``file`` with ``columns`` (canonical
column = source header), value maps for enumerations, constant ``defaults`` and parsing
options, or one read-only DuckDB ``sql`` SELECT over the source files (joins, aggregates).
The format is documented in ``docs/importing.md``; ``mappings/northwind.toml`` is an example.

>>> m = Mapping.from_toml('[tables.accounts]\\nfile = "kunden.csv"\\ncolumns = {account_id = "Nr", name = "Firma"}')
>>> m.tables["accounts"].columns
{'account_id': 'Nr', 'name': 'Firma'}
>>> Mapping.from_toml(m.to_toml()) == m
True

The functions behind the app's mapping screen: ``propose_mapping`` (a first guess from header
names and sample values, with a confidence per column), ``draft_mapping_text`` (that guess as
TOML text), ``preview_mapping`` (the real loader run into a temporary database).
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import fnmatch
import io
import json
import os
import re
import shutil
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from kam_core.errors import FatalFileError, LoadError
from kam_core.ingest.importers.common import (
    TABULAR_SUFFIXES,
    XLSX_SUFFIXES,
    RawTable,
    build_stg,
    display_of,
    stage_raw,
)
from kam_core.ingest.readers import Staged
from kam_core.ingest.schema import ENUM_ALIASES, LOAD_ORDER, TABLES, Column

if TYPE_CHECKING:
    import pandas as pd

    from kam_core.ingest.loader import SourceFile
    from kam_core.settings import Settings


class MappingError(LoadError):
    """The mapping file is not valid; the message names the key and what is expected."""


TABLE_OPTIONS = (
    "file",
    "sheet",
    "sql",
    "columns",
    "values",
    "defaults",
    "encoding",
    "decimal",
    "date_format",
    "null_values",
)
TOP_OPTIONS = ("encoding", "decimal", "date_format", "null_values", "files", "tables")
_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


# ---------------------------------------------------------------- the model


@dataclass
class TableMapping:
    """How one canonical table is filled: a file with a column map, or one SQL SELECT.

    A table with neither ``file`` nor ``sql`` only adjusts a recognised CRM export's table
    (extra columns such as custom ``__c`` fields, value maps, defaults).
    """

    table: str
    file: str | None = None
    sheet: str | None = None
    sql: str | None = None
    columns: dict[str, str | list[str]] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    encoding: str | None = None
    decimal: str | None = None
    date_format: str | None = None
    null_values: list[str] | None = None
    # how sure ``propose_mapping`` is of each column (0-1); not part of the TOML file
    confidence: dict[str, float] = field(default_factory=dict, compare=False)

    @property
    def is_override(self) -> bool:
        return self.file is None and self.sql is None


@dataclass
class Mapping:
    """A whole mapping file: options for every table, SQL file aliases, and the tables."""

    tables: dict[str, TableMapping] = field(default_factory=dict)
    encoding: str | None = None
    decimal: str | None = None
    date_format: str | None = None
    null_values: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # SQL alias -> file name
    notes: list[str] = field(default_factory=list, compare=False)  # comments for a draft

    # ------------------------------------------------------------ reading

    @classmethod
    def from_file(cls, path: Path | str) -> Mapping:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise MappingError(f"mapping file {path}: cannot be read ({exc})") from None
        return cls.from_toml(text, source=path.name)

    @classmethod
    def from_toml(cls, text: str, source: str = "mapping") -> Mapping:
        """Parse and validate mapping TOML; raises ``MappingError`` naming the bad key."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise MappingError(f"{source}: not valid TOML ({exc})") from None
        unknown = sorted(set(data) - set(TOP_OPTIONS))
        if unknown:
            raise MappingError(f"{source}: unknown key {unknown[0]!r}; expected {', '.join(TOP_OPTIONS)}")
        m = cls(
            encoding=_opt_str(data, "encoding", source),
            decimal=_decimal(data.get("decimal"), f"{source}: decimal"),
            date_format=_opt_str(data, "date_format", source),
            null_values=_str_list(data.get("null_values", []), f"{source}: null_values"),
            files=_files(data.get("files", {}), source),
        )
        tables = data.get("tables", {})
        if not isinstance(tables, dict):
            raise MappingError(f"{source}: tables must be a table of [tables.<name>] sections")
        for name, spec in tables.items():
            m.tables[name] = _table_mapping(name, spec, source)
        return m

    # ------------------------------------------------------------ writing

    def to_toml(self, comments: bool = True) -> str:
        """TOML text that ``from_toml`` reads back to an equal mapping.

        With ``comments``, a proposed mapping's confidences and notes are written as comments.
        """
        out: list[str] = []
        if comments:
            out.extend(f"# {line}" for note in self.notes for line in note.splitlines())
            if self.notes:
                out.append("")
        for key in ("encoding", "decimal", "date_format"):
            if getattr(self, key) is not None:
                out.append(f"{key} = {_toml_str(getattr(self, key))}")
        if self.null_values:
            out.append(f"null_values = [{', '.join(_toml_str(v) for v in self.null_values)}]")
        if self.files:
            out += ["", "[files]"]
            out += [f"{_toml_key(k)} = {_toml_str(v)}" for k, v in self.files.items()]
        for name in sorted(self.tables, key=_table_order):
            t = self.tables[name]
            out += ["", f"[tables.{_toml_key(name)}]"]
            for key in ("file", "sheet", "encoding", "decimal", "date_format"):
                if getattr(t, key) is not None:
                    out.append(f"{key} = {_toml_str(getattr(t, key))}")
            if t.null_values is not None:
                out.append(f"null_values = [{', '.join(_toml_str(v) for v in t.null_values)}]")
            if t.sql is not None:
                out.append(f"sql = {_toml_multiline(t.sql)}")
            if t.columns:
                out.append(f"[tables.{_toml_key(name)}.columns]")
                for col, src in t.columns.items():
                    value = (
                        f"[{', '.join(_toml_str(s) for s in src)}]"
                        if isinstance(src, list)
                        else _toml_str(src)
                    )
                    note = ""
                    if comments and col in t.confidence:
                        note = f"  # confidence {t.confidence[col]:.2f}"
                    out.append(f"{_toml_key(col)} = {value}{note}")
            for col, vmap in t.values.items():
                out.append(f"[tables.{_toml_key(name)}.values.{_toml_key(col)}]")
                out += [f"{_toml_str(k)} = {_toml_str(v)}" for k, v in vmap.items()]
            if t.defaults:
                out.append(f"[tables.{_toml_key(name)}.defaults]")
                out += [f"{_toml_key(k)} = {_toml_str(v)}" for k, v in t.defaults.items()]
        text = re.sub(r"\n{3,}", "\n\n", "\n".join(out))
        return text.strip() + "\n"


def _table_order(name: str) -> int:
    return LOAD_ORDER.index(name) if name in LOAD_ORDER else len(LOAD_ORDER)


def _toml_str(v: str) -> str:
    return json.dumps(v, ensure_ascii=False)


def _toml_key(k: str) -> str:
    return k if _BARE_KEY.match(k) else _toml_str(k)


def _toml_multiline(text: str) -> str:
    if "'''" not in text and "\r" not in text:
        return "'''\n" + text.strip("\n") + "\n'''"
    return _toml_str(text)


def _opt_str(data: dict, key: str, where: str) -> str | None:
    v = data.get(key)
    if v is not None and not isinstance(v, str):
        raise MappingError(f"{where}: {key} must be a text, got {v!r}")
    return v


def _decimal(v: Any, where: str) -> str | None:
    if v is None:
        return None
    if v not in (".", ","):
        raise MappingError(f'{where} = {v!r}: expected "." or ","')
    return v


def _str_list(v: Any, where: str) -> list[str]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise MappingError(f"{where}: expected a list of texts, got {v!r}")
    return list(v)


def _files(v: Any, source: str) -> dict[str, str]:
    if not isinstance(v, dict):
        raise MappingError(f"{source}: [files] must map SQL names to file names")
    for alias, name in v.items():
        if not _ALIAS.match(alias):
            raise MappingError(f"{source}: files.{alias}: a SQL name needs letters, digits and _ only")
        if not isinstance(name, str):
            raise MappingError(f"{source}: files.{alias} must be a file name, got {name!r}")
    return dict(v)


def _table_mapping(name: str, spec: Any, source: str) -> TableMapping:
    where = f"{source}: tables.{name}"
    if name not in TABLES:
        raise MappingError(f"{where}: no table {name!r}; expected one of {', '.join(LOAD_ORDER)}")
    if not isinstance(spec, dict):
        raise MappingError(f"{where} must be a table (a [tables.{name}] section)")
    unknown = sorted(set(spec) - set(TABLE_OPTIONS))
    if unknown:
        raise MappingError(f"{where}: unknown key {unknown[0]!r}; expected {', '.join(TABLE_OPTIONS)}")
    table = TABLES[name]
    t = TableMapping(
        name,
        file=_opt_str(spec, "file", where),
        sheet=_opt_str(spec, "sheet", where),
        sql=_opt_str(spec, "sql", where),
        encoding=_opt_str(spec, "encoding", where),
        decimal=_decimal(spec.get("decimal"), f"{where}.decimal"),
        date_format=_opt_str(spec, "date_format", where),
        null_values=_str_list(spec["null_values"], f"{where}.null_values") if "null_values" in spec else None,
    )
    if t.file is not None and t.sql is not None:
        raise MappingError(f"{where}: give either file (with columns) or sql, not both")
    columns = spec.get("columns", {})
    if not isinstance(columns, dict):
        raise MappingError(f"{where}.columns must map canonical columns to source headers")
    if t.sql is not None and columns:
        raise MappingError(
            f"{where}: a sql table names its columns in the SELECT (… as account_id); remove [columns]"
        )
    for col, src in columns.items():
        _check_column(table.name, col, f"{where}.columns")
        if isinstance(src, list) and src and all(isinstance(s, str) for s in src):
            t.columns[col] = list(src)
        elif isinstance(src, str) and src.strip():
            t.columns[col] = src
        else:
            raise MappingError(
                f"{where}.columns.{col}: expected a source header or a list of headers, got {src!r}"
            )
    values = spec.get("values", {})
    if not isinstance(values, dict):
        raise MappingError(f"{where}.values must hold one value map per column")
    for col, vmap in values.items():
        column = _check_column(table.name, col, f"{where}.values")
        if not isinstance(vmap, dict) or not all(isinstance(v, str) for v in vmap.values()):
            raise MappingError(f"{where}.values.{col}: expected source value = canonical value pairs")
        if column.kind == "enum":
            bad = [v for v in vmap.values() if v and v.strip().lower() not in column.enum]
            if bad:
                raise MappingError(
                    f"{where}.values.{col}: {bad[0]!r} is not one of {', '.join(column.enum)} "
                    '(or "" for blank)'
                )
        t.values[col] = dict(vmap)
    defaults = spec.get("defaults", {})
    if not isinstance(defaults, dict):
        raise MappingError(f"{where}.defaults must map columns to constant values")
    for col, v in defaults.items():
        _check_column(table.name, col, f"{where}.defaults")
        if isinstance(v, bool):
            v = "true" if v else "false"
        if not isinstance(v, (str, int, float)):
            raise MappingError(f"{where}.defaults.{col}: expected a constant, got {v!r}")
        t.defaults[col] = str(v)
    if t.sql is not None:
        validate_select(t.sql, where)
    return t


def _check_column(table: str, col: str, where: str) -> Column:
    try:
        return TABLES[table].column(col)
    except KeyError:
        raise MappingError(
            f"{where}: {table} has no column {col!r}; columns are {', '.join(TABLES[table].column_names)}"
        ) from None


def validate_select(sql: str, where: str = "sql") -> None:
    """Accept exactly one read-only SELECT (``con.extract_statements`` and its type).

    >>> validate_select("select 1 as x")
    >>> validate_select("copy (select 1) to 'x.csv'")
    Traceback (most recent call last):
    ...
    kam_core.ingest.importers.mapping.MappingError: sql: only a single SELECT is allowed, got COPY
    """
    con = duckdb.connect()
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise MappingError(f"{where}: the SQL does not parse ({str(exc).splitlines()[0]})") from None
    finally:
        con.close()
    if len(statements) != 1:
        raise MappingError(f"{where}: only a single SELECT is allowed, got {len(statements)} statements")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise MappingError(f"{where}: only a single SELECT is allowed, got {kind.name}")


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
    mapping: Mapping, files: list[Path], base: Path, displays: dict[Path, str] | None, crm_tables: set[str]
) -> MappedSources:
    """Source files for the mapping's tables; override-only tables are returned for a CRM importer."""
    from kam_core.ingest.loader import SourceFile

    out = MappedSources([], set(), [], {})
    aliases = _aliases(mapping, files, base, displays)
    listing = ", ".join(display_of(p, base, displays) for p in files if p.suffix.lower() in TABULAR_SUFFIXES)
    for name in sorted(mapping.tables, key=_table_order):
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
            names = ", ".join(display_of(p, base, displays) for p in used.values()) or "no files"
            display = f"mapping tables.{name} (SQL over {names})"
            out.files.append(
                SourceFile(
                    base / f"tables.{name}.sql",
                    display,
                    name,
                    "sql",
                    stager=_sql_stager(mapping, tm, used, display),
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
        for p in found:
            display = display_of(p, base, displays)
            fmt = "xlsx" if p.suffix.lower() in XLSX_SUFFIXES else "csv"
            out.files.append(
                SourceFile(p, display, name, fmt, tm.sheet, stager=_column_stager(mapping, tm, p, display))
            )
            out.consumed.add(p)
    if out.files:
        out.messages.append("mapping: " + ", ".join(f"{f.table} <- {f.display}" for f in out.files))
    return out


def _fatal(message: str):
    def stager(con: duckdb.DuckDBPyConnection) -> Staged:
        raise FatalFileError(message)

    return stager


def _column_stager(mapping: Mapping, tm: TableMapping, path: Path, display: str):
    def stager(con: duckdb.DuckDBPyConnection) -> Staged:
        table = TABLES[tm.table]
        nulls = tm.null_values if tm.null_values is not None else mapping.null_values
        raw = stage_raw(
            con,
            path,
            "map_raw",
            display,
            tm.sheet,
            encoding=tm.encoding or mapping.encoding,
            null_values=nulls or None,
        )
        try:
            exprs: dict[str, str] = {}
            used: set[str] = set()
            for col, src in tm.columns.items():
                sources = src if isinstance(src, list) else [src]
                missing = [s for s in sources if not raw.has(s)]
                if missing:
                    raise FatalFileError(
                        f"{display}: the mapping's tables.{tm.table}.columns.{col} = {missing[0]!r} names no "
                        f"column of this file; its columns are {', '.join(h for h in raw.headers if h.strip())}"
                    )
                used.update(raw.find(s) or s for s in sources)
                if len(sources) == 1:
                    exprs[col] = raw.col(sources[0])
                else:
                    exprs[col] = (
                        "nullif(concat_ws(' ', "
                        + ", ".join(f"kam_clean({raw.col(s)})" for s in sources)
                        + "), '')"
                    )
            # a header spelled like the canonical column needs no entry
            for c in table.columns:
                if c.name not in exprs and raw.has(c.name) and raw.find(c.name) not in used:
                    exprs[c.name] = raw.col(c.name)
                    used.add(raw.find(c.name) or c.name)
            params: dict[str, Any] = {}
            date_format = tm.date_format or mapping.date_format
            final = {}
            for i, c in enumerate(table.columns):
                if c.name in exprs or c.name in tm.defaults:
                    final[c.name] = column_sql(
                        c, exprs.get(c.name, "null::varchar"), tm, params, f"c{i}", date_format
                    )
            extra = [h for h in raw.headers if h.strip() and h not in used]
            decimal = tm.decimal or mapping.decimal
            return build_stg(
                con,
                raw,
                final,
                f"from {raw.name} m",
                params=params,
                extra_headers=extra,
                decimal_comma=None if decimal is None else decimal == ",",
            )
        except Exception:
            con.execute(f"drop table if exists {raw.name}")
            raise

    return stager


def _sql_stager(mapping: Mapping, tm: TableMapping, used: dict[str, Path], display: str):
    """Run the SELECT in a separate in-memory DuckDB that cannot touch files, then stage its rows."""

    def stager(con: duckdb.DuckDBPyConnection) -> Staged:
        sandbox = duckdb.connect(config={"autoinstall_known_extensions": False})
        try:
            nulls = tm.null_values if tm.null_values is not None else (mapping.null_values or ["NULL"])
            for alias, path in used.items():
                name = _q(alias)
                stage_raw(
                    sandbox,
                    path,
                    name,
                    path.name,
                    encoding=tm.encoding or mapping.encoding,
                    null_values=nulls,
                    named=True,
                )
                sandbox.execute(f"alter table {name} drop column _row")
            sandbox.execute("set python_enable_replacements = false")
            sandbox.execute("set enable_external_access = false")
            sandbox.execute("set lock_configuration = true")
            try:
                result = sandbox.sql(tm.sql).to_arrow_table()
            except duckdb.Error as exc:
                raise FatalFileError(
                    f"{display}: the mapping's SQL failed ({str(exc).splitlines()[0]})"
                ) from None
        finally:
            sandbox.close()
        headers = list(result.column_names)
        select = ", ".join(f"cast({_q(h)} as varchar) as c{i}" for i, h in enumerate(headers))
        mapped_rows = result  # noqa: F841 - DuckDB finds it by its name in the SQL
        con.execute(
            f"create or replace temp table stg as select (row_number() over () + 1)::bigint as _row, "
            f"{select} from mapped_rows"
        )
        decimal = tm.decimal or mapping.decimal
        return Staged(
            headers=headers,
            rows_read=result.num_rows,
            file_format="sql",
            decimal_comma=False if decimal is None else decimal == ",",
        )

    return stager


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# ---------------------------------------------------------------- proposing a mapping

# Header spellings per canonical column (compared without case, spaces, '_' and '-').
SYNONYMS: dict[str, dict[str, list[str]]] = {
    "accounts": {
        "account_id": [
            "customer_id",
            "customerid",
            "customer_no",
            "customer_number",
            "client_id",
            "company_id",
            "kundennummer",
            "kunden_nr",
            "kundennr",
            "kunde_id",
            "debitor",
            "debitorennummer",
            "account_number",
            "account",
        ],
        "name": [
            "company_name",
            "companyname",
            "account_name",
            "customer_name",
            "company",
            "firma",
            "firmenname",
            "kunde",
            "kundenname",
            "name",
        ],
        "industry": ["branche", "sector", "segment", "industry"],
        "region": ["region", "state", "bundesland", "territory", "gebiet"],
        "country": ["country", "land", "country_code", "nation"],
        "parent_account_id": ["parent_id", "parent", "parent_company", "parent_account", "konzern"],
        "account_manager_id": [
            "owner",
            "owner_id",
            "account_owner",
            "account_manager",
            "kam",
            "key_account_manager",
            "sales_rep",
            "betreuer",
            "employee_id",
        ],
        "mentor_id": ["mentor", "sponsor", "mentor_id"],
        "phase": ["phase", "lifecycle_stage", "lifecycle"],
        "annual_revenue": ["annual_revenue", "revenue", "umsatz", "jahresumsatz", "turnover"],
        "key_account_since": ["key_account_since", "ka_since", "customer_since"],
    },
    "team": {
        "member_id": [
            "employee_id",
            "employeeid",
            "user_id",
            "userid",
            "staff_id",
            "member",
            "personalnummer",
            "mitarbeiter_id",
            "id",
        ],
        "name": ["full_name", "employee_name", "user_name", "mitarbeiter", "name"],
        "role": ["title", "job_title", "position", "role", "funktion"],
        "department": ["department", "abteilung", "dept", "team"],
        "location": ["city", "office", "location", "standort", "ort"],
        "is_active": ["active", "is_active", "aktiv", "enabled"],
    },
    "contacts": {
        "contact_id": ["contact_id", "contactid", "person_id", "ansprechpartner_id", "id"],
        "account_id": ["account_id", "customer_id", "customerid", "company_id", "kundennummer", "kunden_nr"],
        "name": ["contact_name", "contactname", "full_name", "ansprechpartner", "name"],
        "title": ["title", "job_title", "contact_title", "contacttitle", "position", "funktion"],
        "department": ["department", "abteilung"],
        "level": ["level", "ebene", "hierarchy"],
        "location": ["city", "location", "ort", "standort"],
        "buying_role": ["buying_role", "role", "rolle"],
        "piece": ["piece", "chess_piece", "figur"],
        "attitude": ["attitude", "haltung", "einstellung"],
        "is_active": ["active", "is_active", "aktiv"],
    },
    "relationships": {
        "member_id": ["member_id", "employee_id", "user_id", "owner"],
        "contact_id": ["contact_id", "contact"],
        "strength": ["strength", "staerke", "relationship_strength"],
        "last_contact_date": ["last_contact", "last_contact_date", "letzter_kontakt"],
    },
    "activities": {
        "activity_id": ["activity_id", "id", "activityid"],
        "date": ["date", "activity_date", "datum", "start", "due_date", "order_date"],
        "account_id": ["account_id", "customer_id", "customerid", "company_id"],
        "contact_id": ["contact_id", "who_id"],
        "member_id": ["member_id", "owner", "owner_id", "user_id", "employee_id", "assigned_to"],
        "type": ["type", "activity_type", "art"],
    },
    "revenue": {
        "account_id": ["account_id", "customer_id", "customerid", "company_id", "kundennummer"],
        "period": ["period", "month", "monat", "invoice_date", "order_date", "date", "datum"],
        "product_line": [
            "product_line",
            "product",
            "category",
            "product_category",
            "sparte",
            "produktlinie",
            "family",
        ],
        "revenue": ["revenue", "net_revenue", "sales", "umsatz", "net_amount", "amount", "betrag"],
        "gross_margin": ["gross_margin", "margin", "profit", "deckungsbeitrag", "rohertrag"],
    },
    "opportunities": {
        "opportunity_id": ["opportunity_id", "deal_id", "opp_id", "id"],
        "account_id": ["account_id", "customer_id", "customerid", "company_id"],
        "name": ["deal_name", "opportunity_name", "topic", "name"],
        "product_line": ["product_line", "product", "category"],
        "stage": ["stage", "deal_stage", "stage_name", "phase"],
        "status": ["status", "state", "outcome"],
        "amount": ["amount", "value", "deal_value", "est_revenue", "betrag", "volumen"],
        "probability": ["probability", "wahrscheinlichkeit", "win_probability"],
        "created_date": ["created", "created_date", "create_date", "created_on", "erstellt"],
        "close_date": ["close_date", "closedate", "expected_close", "abschlussdatum"],
    },
    "potential": {
        "account_id": ["account_id", "customer_id"],
        "product_line": ["product_line", "product", "category"],
        "annual_potential": ["annual_potential", "potential", "potenzial"],
    },
    "criteria": {
        "criterion_id": ["criterion_id", "id"],
        "name": ["name", "criterion"],
        "axis": ["axis", "achse"],
        "weight": ["weight", "gewicht"],
        "source": ["source", "metric"],
    },
    "criterion_scores": {
        "account_id": ["account_id", "customer_id"],
        "criterion_id": ["criterion_id", "criterion"],
        "score": ["score", "punkte", "bewertung"],
    },
    "plan_actions": {
        "action_id": ["action_id", "id"],
        "account_id": ["account_id", "customer_id"],
        "objective": ["objective", "action", "ziel", "massnahme"],
        "owner_id": ["owner_id", "owner", "verantwortlich"],
        "due_date": ["due_date", "due", "faellig"],
        "status": ["status"],
    },
    "reviews": {
        "account_id": ["account_id", "customer_id"],
        "review_date": ["review_date", "date", "datum"],
        "mentor_id": ["mentor_id", "mentor"],
        "rating": ["rating", "bewertung"],
        "notes": ["notes", "notizen"],
    },
    "competitors": {
        "account_id": ["account_id", "customer_id"],
        "competitor": ["competitor", "wettbewerber"],
        "product_line": ["product_line", "product"],
        "est_share": ["est_share", "share", "anteil"],
    },
}

FILE_HINTS: dict[str, list[str]] = {
    "accounts": [
        "account",
        "accounts",
        "customer",
        "customers",
        "client",
        "clients",
        "companies",
        "company",
        "kunden",
        "kunde",
        "firmen",
    ],
    "team": ["team", "employees", "employee", "users", "user", "staff", "members", "mitarbeiter", "owners"],
    "contacts": ["contacts", "contact", "people", "persons", "ansprechpartner", "kontakte"],
    "relationships": ["relationships", "relations", "beziehungen"],
    "activities": ["activities", "activity", "tasks", "events", "meetings", "calls", "besuche"],
    "revenue": ["revenue", "sales", "invoices", "umsatz", "umsaetze", "billing"],
    "opportunities": ["opportunities", "opportunity", "deals", "pipeline", "chancen"],
    "potential": ["potential", "potentials", "potenzial"],
    "criteria": ["criteria", "criterion", "kriterien"],
    "criterion_scores": ["criterion_scores", "scores", "bewertungen"],
    "plan_actions": ["plan_actions", "actions", "plan", "massnahmen"],
    "reviews": ["reviews", "review"],
    "competitors": ["competitors", "competitor", "wettbewerber"],
}

FIRST_NAMES = ("firstname", "first_name", "vorname", "givenname")
LAST_NAMES = ("lastname", "last_name", "nachname", "surname", "familyname")


def _snake(header: str) -> str:
    """``customerID`` -> ``customer_id``; other characters as ``_``."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", header.strip())
    return re.sub(r"[^0-9a-z]+", "_", text.casefold()).strip("_")


def _compact(text: str) -> str:
    return text.replace("_", "")


def sample_rows(path: Path, n: int = 200, sheet: str | None = None) -> tuple[list[str], list[list[str]]]:
    """The header and up to ``n`` data rows of a CSV or workbook (text cells; for proposals)."""
    if path.suffix.lower() in XLSX_SUFFIXES:
        import openpyxl

        from kam_core.ingest.readers import _cell_text

        try:
            wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception:  # noqa: BLE001 - an unreadable workbook proposes nothing
            return [], []
        try:
            ws = wb[sheet] if sheet else wb.worksheets[0]
            rows = [[_cell_text(v) or "" for v in r] for r in ws.iter_rows(values_only=True, max_row=n + 1)]
        finally:
            wb.close()
    else:
        try:
            head = path.read_bytes()[: 1 << 20]
        except OSError:
            return [], []
        try:
            text = head.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = head.decode("cp1252", errors="replace")
        first = text.splitlines()[0] if text else ""
        delim = max((",", ";", "\t", "|"), key=first.count) if first else ","
        rows = []
        try:
            for i, r in enumerate(csv.reader(io.StringIO(text), delimiter=delim)):
                if i > n:
                    break
                rows.append(r)
        except csv.Error:
            pass
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        return [], []
    return rows[0], rows[1:]


def _parses(kind: str, values: list[str], col: Column) -> float:
    """Share of sample values that read as the column's kind (1.0 for text and ids)."""
    vals = [v.strip() for v in values if v.strip() and v.strip().upper() != "NULL"]
    if not vals or kind in ("text", "id"):
        return 1.0
    ok = 0
    for v in vals:
        if kind in ("float", "int"):
            ok += _is_number(v)
        elif kind in ("date", "month"):
            ok += _is_date(v)
        elif kind == "bool":
            ok += v.lower() in (
                "true",
                "false",
                "1",
                "0",
                "yes",
                "no",
                "ja",
                "nein",
                "wahr",
                "falsch",
                "y",
                "n",
            )
        elif kind == "enum":
            norm = re.sub(r"[\s\-]+", "_", v.lower())
            ok += norm in col.enum or norm in ENUM_ALIASES.get(col.name, {})
    return ok / len(vals)


def _is_number(v: str) -> bool:
    try:
        float(v.replace(",", "") if v.count(",") and "." in v else v.replace(",", "."))
        return True
    except ValueError:
        return False


def _is_date(v: str) -> bool:
    for fmt in (
        "%Y-%m-%d",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M:%S.%f",
        "%d.%m.%Y",
        "%m/%d/%Y",
        "%d/%m/%Y",
        "%Y-%m",
        "%Y-%m-%dT%H:%M:%S",
        "%d-%m-%Y %H:%M",
    ):
        try:
            dt.datetime.strptime(v, fmt)
            return True
        except ValueError:
            continue
    return False


def _similarity(a: str, b: str) -> float:
    """difflib's ratio, skipped (0) when even its quick upper bound is below 0.8."""
    matcher = difflib.SequenceMatcher(None, a, b)
    return matcher.ratio() if matcher.real_quick_ratio() >= 0.8 and matcher.quick_ratio() >= 0.8 else 0.0


def _column_scores(
    table: str, headers: list[str], rows: list[list[str]]
) -> dict[str, tuple[str | list[str], float]]:
    """Best source header per canonical column with its confidence (greedy, one header per column)."""
    t = TABLES[table]
    keys = [_compact(_snake(h)) for h in headers]
    candidates: list[tuple[float, str, int]] = []
    for col in t.columns:
        syn = [_compact(s) for s in SYNONYMS.get(table, {}).get(col.name, [])]
        for i, k in enumerate(keys):
            if not k:
                continue
            if k == _compact(col.name):
                score = 1.0
            elif k in syn:
                score = 0.9 - 0.02 * syn.index(k) / max(len(syn), 1)
            else:
                best = max([_similarity(k, s) for s in [_compact(col.name), *syn]])
                score = 0.8 * best if best >= 0.8 else 0.0
            if score <= 0:
                continue
            sample = [r[i] for r in rows if i < len(r)]
            score *= 0.5 + 0.5 * _parses(col.kind, sample, col)
            candidates.append((score, col.name, i))
    chosen: dict[str, tuple[str | list[str], float]] = {}
    used: set[int] = set()
    for score, col, i in sorted(candidates, key=lambda c: -c[0]):
        if col in chosen or i in used or score < 0.45:
            continue
        chosen[col] = (headers[i], round(score, 2))
        used.add(i)
    if "name" in t.column_names and ("name" not in chosen or chosen["name"][1] < 0.8):
        first = next(
            (h for h, k in zip(headers, keys, strict=True) if k in [_compact(x) for x in FIRST_NAMES]), None
        )
        last = next(
            (h for h, k in zip(headers, keys, strict=True) if k in [_compact(x) for x in LAST_NAMES]), None
        )
        if first and last:
            chosen["name"] = ([first, last], 0.9)
    return chosen


def propose_mapping(files: list[Path]) -> Mapping:
    """A first mapping from header names and sample values, with a confidence per column.

    Each file is given the table it fits best (its required columns all found, the file name
    as a hint); each table takes at most one file. Files that fit no table are named in
    ``notes`` (describe them with ``sql``).
    """
    options: list[tuple[float, Path, str, dict[str, tuple[str | list[str], float]]]] = []
    for path in files:
        if path.suffix.lower() not in TABULAR_SUFFIXES:
            continue
        headers, rows = sample_rows(path)
        if not headers:
            continue
        stem = _snake(path.stem)
        for table in LOAD_ORDER:
            chosen = _column_scores(table, headers, rows)
            t = TABLES[table]
            req = [c.name for c in t.required]
            if not all(c in chosen for c in req):
                continue
            optional = [c.name for c in t.columns if not c.required]
            score = (
                sum(chosen[c][1] for c in req) / len(req)
                + 0.2 * sum(c in chosen for c in optional) / max(len(optional), 1)
                + (0.5 if stem in FILE_HINTS[table] or _compact(stem) in FILE_HINTS[table] else 0.0)
            )
            options.append((score, path, table, chosen))
    mapping = Mapping()
    taken: set[Path] = set()
    for score, path, table, chosen in sorted(options, key=lambda o: -o[0]):
        if path in taken or table in mapping.tables:
            continue
        tm = TableMapping(table, file=path.name)
        for col in TABLES[table].column_names:
            if col in chosen:
                tm.columns[col] = chosen[col][0]
                tm.confidence[col] = chosen[col][1]
        mapping.tables[table] = tm
        taken.add(path)
        del score
    unassigned = [p.name for p in files if p.suffix.lower() in TABULAR_SUFFIXES and p not in taken]
    if unassigned:
        mapping.notes.append(
            'Files that fit no table by their headers (describe them with sql = "select ... from <file stem>"): '
            + ", ".join(unassigned)
        )
    return mapping


def draft_mapping_text(files: list[Path]) -> str:
    """A draft mapping file for these files, as TOML text with confidences as comments."""
    mapping = propose_mapping(files)
    mapping.notes.insert(
        0,
        "Draft mapping generated from the files' headers and sample values: check every\n"
        "line (confidence 1.0 = exact name, 0.9 = a known synonym, lower = a guess),\n"
        "then load with: python -m kam_core load SOURCE --db kam.duckdb --mapping THIS_FILE\n"
        "The format is described in docs/importing.md.",
    )
    if not mapping.tables:
        mapping.notes.append("No file fits a table yet: add [tables.accounts] with file and [columns].")
    return mapping.to_toml()


def preview_mapping(
    mapping: Mapping, files: list[Path], settings: Settings | None = None, limit: int | None = 1000
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Run the real loader with this mapping into a temporary database.

    Returns the loaded tables (first ``limit`` rows each) and the rejects (file, row, table,
    raw row, reason). Raises ``LoadError`` when nothing could be built (no accounts).
    """
    from kam_core.ingest.loader import load
    from kam_core.ingest.schema import loaded_tables

    workdir = Path(tempfile.mkdtemp(prefix="kam-preview-"))
    try:
        mfile = workdir / "mapping.toml"
        mfile.write_text(mapping.to_toml(comments=False), encoding="utf-8")
        db = workdir / "preview.duckdb"
        load(files, db, settings, mapping=mfile)
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
        return tables, rejects
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# ---------------------------------------------------------------- the mapping screen's helpers

NO_SOURCE = "(none)"  # the screen's choice for "no source column"
SOURCE_JOIN = " + "  # several headers joined with a space, as the screen shows them
_MAPPING_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def source_files(sources: list[Path], workdir: Path) -> list[Path]:
    """The files of the sources as the loader sees them: folders searched, a .zip unpacked.

    Zips are unpacked into ``workdir`` (once: an existing unpacked folder is reused).
    """
    from kam_core.ingest.loader import _hidden, _safe_extract

    out: list[Path] = []
    for i, source in enumerate(Path(s) for s in sources):
        if source.is_dir():
            out += sorted(p for p in source.rglob("*") if p.is_file() and not _hidden(p, source))
        elif source.suffix.lower() == ".zip":
            target = workdir / f"zip{i}-{source.stem}"
            if not target.is_dir():
                try:
                    with zipfile.ZipFile(source) as zf:
                        _safe_extract(zf, target)
                except (zipfile.BadZipFile, LoadError):
                    shutil.rmtree(target, ignore_errors=True)
                    continue
            out += sorted(p for p in target.rglob("*") if p.is_file() and not _hidden(p, target))
        elif source.is_file():
            out.append(source)
    return out


def needs_mapping(files: list[Path]) -> bool:
    """True when the files are in no recognised format, so only a mapping can load them.

    Recognised: a known CRM export, or a file named after the accounts table whose header has
    ``account_id`` (an ``accounts.csv``, or a workbook with an ``accounts`` sheet).
    ``customers.csv`` with a ``customerID`` column is named like accounts but is not canonical.
    """
    from kam_core.ingest.importers import _is_canonical, detect
    from kam_core.ingest.loader import table_for_name

    if not any(p.suffix.lower() in TABULAR_SUFFIXES for p in files):
        return False
    base = Path(os.path.commonpath([str(p.parent) for p in files]))
    detection = detect(files, base)
    if detection is not None:
        return not detection.files
    for p in files:
        table = table_for_name(p.stem)
        if table == "accounts" and _is_canonical(p, "accounts"):
            return False
        if table is None and p.suffix.lower() in XLSX_SUFFIXES:
            from kam_core.ingest.importers.common import peek_xlsx_headers

            if any(table_for_name(s) == "accounts" for s in peek_xlsx_headers(p)):
                return False
    return True


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
        stem = _snake(path.stem)
        hint = 0.5 if stem in FILE_HINTS[table] or _compact(stem) in FILE_HINTS[table] else 0.0
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


def save_mapping(mapping: Mapping, folder: Path, name: str, overwrite: bool = False) -> Path:
    """Write the mapping as ``<folder>/<name>.toml``; returns the path.

    The name takes letters, digits, ``-`` and ``_`` (a typed ``.toml`` is dropped). An existing
    file is replaced only with ``overwrite``; else ``MappingError`` says so.
    """
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
