"""The mapping file's model: ``Mapping`` and ``TableMapping``, read from and written to TOML."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from kam_core.errors import LoadError
from kam_core.ingest.schema import LOAD_ORDER, TABLES, Column
from kam_core.sqlutil import scratch


class MappingError(LoadError):
    """The mapping file is not valid; the message names the key and what is expected."""


TABLE_OPTIONS = (
    "file",
    "sheet",
    "sql",
    "columns",
    "formulas",
    "values",
    "defaults",
    "where",
    "where_not",
    "lookups",
    "group_by",
    "aggregate",
    "normalise",
    "encoding",
    "decimal",
    "date_format",
    "null_values",
)
LOOKUP_OPTIONS = ("file", "sheet", "on", "match")
MATCHES = ("normalised", "exact")  # how a lookup compares keys (normalised: no case, no spaces)
AGGREGATES = ("first", "last", "sum", "min", "max")  # how a grouped table's other columns combine
# the declarative options a table may use besides file and columns (not with sql)
DECLARATIVE = ("formulas", "where", "where_not", "lookups", "group_by", "aggregate")
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
    # computed columns: canonical column = arithmetic over headers ("unitPrice * quantity")
    formulas: dict[str, str] = field(default_factory=dict)
    # row filters: keep rows whose cell is one of the values / leave out rows whose cell is one
    where: dict[str, list[str]] = field(default_factory=dict)
    where_not: dict[str, list[str]] = field(default_factory=dict)
    # other files joined by a key (a left join: a row without partner keeps its place)
    lookups: dict[str, Lookup] = field(default_factory=dict)
    # one row per distinct combination of these canonical columns; the others combine by
    # ``aggregate`` (first non-empty value in file order unless said otherwise)
    group_by: list[str] = field(default_factory=list)
    aggregate: dict[str, str] = field(default_factory=dict)
    # id columns read trimmed, lower-case, inner spaces collapsed ("Acme  Corp " -> "acme corp"):
    # a key taken from a name typed by hand, the same in every table that names it
    normalise: list[str] = field(default_factory=list)
    # how sure ``propose_mapping`` is of each column (0-1); not part of the TOML file
    confidence: dict[str, float] = field(default_factory=dict, compare=False)

    @property
    def is_override(self) -> bool:
        return self.file is None and self.sql is None

    @property
    def is_declarative(self) -> bool:
        """Uses options beyond a plain column map (filters, lookups, grouping, formulas)."""
        return any(getattr(self, key) for key in DECLARATIVE)


@dataclass
class Lookup:
    """``[tables.X.lookups.<name>]``: another file joined by a key; its columns are
    ``<name>.<header>`` in ``columns``, ``where`` and later lookups' ``on``."""

    file: str
    on: dict[str, str]  # column of the table's file (or ``<earlier lookup>.<header>``) = lookup's header
    sheet: str | None = None
    match: str = "normalised"


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
        for name in sorted(self.tables, key=table_order):
            t = self.tables[name]
            out += ["", f"[tables.{_toml_key(name)}]"]
            for key in ("file", "sheet", "encoding", "decimal", "date_format"):
                if getattr(t, key) is not None:
                    out.append(f"{key} = {_toml_str(getattr(t, key))}")
            if t.null_values is not None:
                out.append(f"null_values = [{', '.join(_toml_str(v) for v in t.null_values)}]")
            if t.sql is not None:
                out.append(f"sql = {_toml_multiline(t.sql)}")
            if t.group_by:
                out.append(f"group_by = [{', '.join(_toml_str(c) for c in t.group_by)}]")
            if t.normalise:
                out.append(f"normalise = [{', '.join(_toml_str(c) for c in t.normalise)}]")
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
            if t.formulas:
                out.append(f"[tables.{_toml_key(name)}.formulas]")
                out += [f"{_toml_key(k)} = {_toml_str(v)}" for k, v in t.formulas.items()]
            for key in ("where", "where_not"):
                filters = getattr(t, key)
                if filters:
                    out.append(f"[tables.{_toml_key(name)}.{key}]")
                    out += [f"{_toml_key(k)} = [{', '.join(_toml_str(v) for v in vs)}]" for k, vs in filters.items()]
            if t.aggregate:
                out.append(f"[tables.{_toml_key(name)}.aggregate]")
                out += [f"{_toml_key(k)} = {_toml_str(v)}" for k, v in t.aggregate.items()]
            for alias, lk in t.lookups.items():
                out.append(f"[tables.{_toml_key(name)}.lookups.{_toml_key(alias)}]")
                out.append(f"file = {_toml_str(lk.file)}")
                if lk.sheet is not None:
                    out.append(f"sheet = {_toml_str(lk.sheet)}")
                pairs = ", ".join(f"{_toml_key(k)} = {_toml_str(v)}" for k, v in lk.on.items())
                out.append(f"on = {{ {pairs} }}")
                out.append(f"match = {_toml_str(lk.match)}")
        text = re.sub(r"\n{3,}", "\n\n", "\n".join(out))
        return text.strip() + "\n"


def table_order(name: str) -> int:
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
    normalise = spec.get("normalise", [])
    if isinstance(normalise, str):
        normalise = [normalise]
    if not isinstance(normalise, list) or not all(isinstance(c, str) for c in normalise):
        raise MappingError(f"{where}.normalise: expected a list of id columns of {name}")
    for col in normalise:
        if _check_column(table.name, col, f"{where}.normalise").kind != "id":
            raise MappingError(f"{where}.normalise: {col} is not an id column")
    if normalise and t.sql is not None:
        raise MappingError(f"{where}: normalise works with file and columns, not with sql")
    t.normalise = list(normalise)
    _declarative(t, spec, table.name, where)
    if t.sql is not None:
        validate_select(t.sql, where)
    return t


def _values(v: Any, where: str) -> list[str]:
    """A filter's value(s): a text, a number or a list of them (compared as text)."""
    items = v if isinstance(v, list) else [v]
    out = []
    for x in items:
        if isinstance(x, bool) or not isinstance(x, (str, int, float)):
            raise MappingError(f"{where}: expected a value or a list of values, got {v!r}")
        out.append(str(x))
    if not out:
        raise MappingError(f"{where}: expected at least one value")
    return out


def _declarative(t: TableMapping, spec: dict, table: str, where: str) -> None:
    """Read and check formulas, where, where_not, lookups, group_by and aggregate."""
    used = [k for k in DECLARATIVE if spec.get(k)]
    if t.sql is not None and used:
        raise MappingError(f"{where}: {used[0]} works with file and columns, not with sql")
    if t.file is None and used:
        raise MappingError(f"{where}: {used[0]} needs file = \"...\" (the file the table is read from)")
    formulas = spec.get("formulas", {})
    if not isinstance(formulas, dict):
        raise MappingError(f"{where}.formulas must map columns to arithmetic over headers")
    for col, text in formulas.items():
        column = _check_column(table, col, f"{where}.formulas")
        if column.kind not in ("float", "int"):
            raise MappingError(f"{where}.formulas.{col}: a formula gives a number; {col} is not a number column")
        if col in t.columns:
            raise MappingError(f"{where}.formulas.{col}: {col} is in columns too; give it one source")
        if not isinstance(text, str):
            raise MappingError(f"{where}.formulas.{col}: expected arithmetic over headers as a text")
        from kam_core.ingest.importers.mapping.formula import parse_formula

        parse_formula(text, f"{where}.formulas.{col}")
        t.formulas[col] = text
    for key in ("where", "where_not"):
        filters = spec.get(key, {})
        if not isinstance(filters, dict):
            raise MappingError(f"{where}.{key} must map source headers to values")
        for header, v in filters.items():
            getattr(t, key)[header] = _values(v, f"{where}.{key}.{header}")
    lookups = spec.get("lookups", {})
    if not isinstance(lookups, dict):
        raise MappingError(f"{where}.lookups must hold one [tables.{table}.lookups.<name>] per file")
    for alias, lk in lookups.items():
        at = f"{where}.lookups.{alias}"
        if not _ALIAS.match(alias):
            raise MappingError(f"{at}: a lookup's name needs letters, digits and _ only")
        if not isinstance(lk, dict):
            raise MappingError(f"{at} must be a table with file and on")
        unknown = sorted(set(lk) - set(LOOKUP_OPTIONS))
        if unknown:
            raise MappingError(f"{at}: unknown key {unknown[0]!r}; expected {', '.join(LOOKUP_OPTIONS)}")
        file, on, match = lk.get("file"), lk.get("on"), lk.get("match", "normalised")
        if not isinstance(file, str) or not file.strip():
            raise MappingError(f"{at}.file: expected the lookup file's name")
        if isinstance(on, str):
            on = {on: on}
        if not isinstance(on, dict) or not on or not all(isinstance(k, str) and isinstance(v, str)
                                                          for k, v in on.items()):
            raise MappingError(f'{at}.on: expected {{ "<column of {t.file}>" = "<column of {file}>" }}')
        if match not in MATCHES:
            raise MappingError(f"{at}.match = {match!r}: expected one of {', '.join(MATCHES)}")
        t.lookups[alias] = Lookup(file, dict(on), _opt_str(lk, "sheet", at), match)
    group_by = spec.get("group_by", [])
    if isinstance(group_by, str):
        group_by = [group_by]
    if not isinstance(group_by, list) or not all(isinstance(c, str) for c in group_by):
        raise MappingError(f"{where}.group_by: expected a list of columns of {table}")
    for col in group_by:
        _check_column(table, col, f"{where}.group_by")
    t.group_by = list(group_by)
    aggregate = spec.get("aggregate", {})
    if not isinstance(aggregate, dict):
        raise MappingError(f"{where}.aggregate must map columns to one of {', '.join(AGGREGATES)}")
    if aggregate and not t.group_by:
        raise MappingError(f"{where}.aggregate needs group_by (the columns that make one row)")
    for col, how in aggregate.items():
        column = _check_column(table, col, f"{where}.aggregate")
        if how not in AGGREGATES:
            raise MappingError(f"{where}.aggregate.{col} = {how!r}: expected one of {', '.join(AGGREGATES)}")
        if col in t.group_by:
            raise MappingError(f"{where}.aggregate.{col}: {col} is in group_by; it is not combined")
        if how == "sum" and column.kind not in ("float", "int"):
            raise MappingError(f"{where}.aggregate.{col} = 'sum': {col} is not a number column")
        if how in ("min", "max") and column.kind not in ("float", "int", "date", "month"):
            raise MappingError(f"{where}.aggregate.{col} = {how!r}: {col} is not a number or date column")
        t.aggregate[col] = how


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
    kam_core.ingest.importers.mapping.model.MappingError: sql: only a single SELECT is allowed, got COPY
    """
    with scratch() as con:
        try:
            statements = con.extract_statements(sql)
        except duckdb.Error as exc:
            raise MappingError(f"{where}: the SQL does not parse ({str(exc).splitlines()[0]})") from None
    if len(statements) != 1:
        raise MappingError(f"{where}: only a single SELECT is allowed, got {len(statements)} statements")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise MappingError(f"{where}: only a single SELECT is allowed, got {kind.name}")

