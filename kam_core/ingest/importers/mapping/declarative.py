"""A mapped table read from one file, declaratively: columns, formulas, filters, lookups, grouping.

``[tables.X] file = ...`` with ``[columns]`` maps a file row by row. The other keys cover the
shapes that otherwise need SQL:

- ``formulas``: arithmetic over headers (``unitPrice * quantity * (1 - discount)``);
- ``where`` / ``where_not``: keep (leave out) rows whose cell is one of the values; a row
  left out is a reject with the reason "left out by the mapping's where …" (never lost);
- ``lookups``: another file joined by a key (a left join; keys compared without case and
  spaces unless ``match = "exact"``); its columns are ``<name>.<header>``; a row whose key
  finds no partner is rejected when the lookup fills a required column, else kept;
- ``group_by`` + ``aggregate``: one row per distinct combination of canonical columns
  (a month column groups by month); the other columns take the first non-empty value in file
  order, or ``last``, ``sum``, ``min``, ``max``. Each file row is checked first: a row whose
  key or summed value is blank or unreadable is rejected on its own, with its row number; the
  combined rows then pass the loader's checks like any row.

Everything runs in the load's own connection: no user SQL, every value a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import duckdb

from kam_core.errors import FatalFileError
from kam_core.ingest.checks import checked_sql, decimal_comma_cells
from kam_core.ingest.importers.common import (
    BlankReason,
    RawTable,
    blank_sql,
    build_stg,
    reason_sql,
    stage_raw,
    used_params,
)
from kam_core.ingest.importers.mapping.formula import formula_refs, formula_sql, parse_formula
from kam_core.ingest.importers.mapping.model import Mapping, TableMapping
from kam_core.ingest.readers import RawReject, Staged
from kam_core.ingest.schema import TABLES, Column, Table
from kam_core.sqlutil import quote_literal

MAX_ROWS_SHOWN = 8  # row numbers listed in the raw text of a combined row


def normalised_key(expr: str, match: str) -> str:
    """SQL comparing keys: ``normalised`` ignores case and every space; ``exact`` only trims."""
    if match == "exact":
        return f"nullif(trim({expr}), '')"
    return f"nullif(lower(regexp_replace({expr}, '\\s+', '', 'g')), '')"


@dataclass
class _Lookup:
    alias: str
    raw: RawTable
    keys: list[tuple[str, str]]  # (SQL of the table's side, SQL of the lookup's side), normalised
    shown: str  # the key as the reason shows it: "ProductID"
    match: str
    cells: list[str]  # SQL of the table's side as written (for messages)
    sheet: str | None = None


class _Sources:
    """Resolves a mapping's source names to SQL: a header of the file (alias ``m``) or
    ``<lookup>.<header>`` (alias ``lk_<lookup>``)."""

    def __init__(self, raw: RawTable, display: str, table: str) -> None:
        self.raw, self.display, self.table = raw, display, table
        self.lookups: dict[str, _Lookup] = {}
        self.used: set[str] = set()
        # the columns read from the lookup files: (file, sheet, header), not "ignored" there
        self.lookup_reads: set[tuple[str, str | None, str]] = set()

    def cell(self, ref: str, where: str) -> str:
        if self.raw.has(ref):
            self.used.add(self.raw.find(ref) or ref)
            return self.raw.col(ref)
        alias, dot, header = ref.partition(".")
        lookup = self.lookups.get(alias) if dot else None
        if lookup is not None and lookup.raw.has(header):
            self.lookup_reads.add((lookup.raw.display, lookup.sheet, (lookup.raw.find(header) or header).strip()))
            return lookup.raw.col(header, alias=f"lk_{alias}")
        if lookup is not None:
            raise FatalFileError(
                f"{lookup.raw.display}: the mapping's {where} = {ref!r} names no column of this lookup file; its "
                f"columns are {', '.join(h for h in lookup.raw.headers if h.strip())}")
        known = ", ".join(h for h in self.raw.headers if h.strip())
        hint = f"; lookups: {', '.join(self.lookups)}" if self.lookups else ""
        raise FatalFileError(
            f"{self.display}: the mapping's {where} = {ref!r} names no column of this file; its columns are "
            f"{known}{hint}")


def declarative_stager(mapping: Mapping, tm: TableMapping, path: Path, display: str,
                       lookup_files: dict[str, tuple[Path, str] | str]):
    """The stager of a ``file`` table; ``lookup_files`` gives each lookup's path and display
    name, or the message why it is not in the source."""

    def stager(con: duckdb.DuckDBPyConnection) -> Staged:
        nulls = tm.null_values if tm.null_values is not None else mapping.null_values
        encoding = tm.encoding or mapping.encoding
        raw = stage_raw(con, path, "map_raw", display, tm.sheet, encoding=encoding, null_values=nulls or None)
        names = [raw.name]
        try:
            src = _Sources(raw, display, tm.table)
            notes: list[str] = []
            params: dict[str, Any] = {}
            joins = _lookups(con, tm, src, lookup_files, encoding, nulls, notes, names)
            exprs, reasons = _columns(con, tm, mapping, src, params)
            unmapped = [c.name for c in TABLES[tm.table].required if c.name not in exprs]
            if unmapped:
                plural = "s" if len(unmapped) > 1 else ""
                raise FatalFileError(
                    f"the mapping gives no source for the required column{plural} {', '.join(unmapped)} of "
                    f"{tm.table}. Fix: choose the column{plural} of {display} that hold{'' if plural else 's'} "
                    f"{'them' if plural else 'it'} ([tables.{tm.table}.columns]) or give a constant "
                    f"([tables.{tm.table}.defaults]); its columns are "
                    + ", ".join(h.strip() for h in raw.headers if h.strip()))
            reasons += _filters(tm, src, params)
            required_lookups = _required_lookups(tm, src)
            for alias in src.lookups:
                if alias in required_lookups:
                    # the one reason for the columns it leaves blank
                    reasons.append(BlankReason(_miss_reason(src.lookups[alias]), required_lookups[alias]))
            extra = [h for h in raw.headers if h.strip() and h not in src.used]
            from_sql = f"from {raw.name} m {' '.join(joins)}"
            decimal = tm.decimal or mapping.decimal
            if tm.group_by:
                staged = _grouped(con, tm, src, exprs, reasons, params, from_sql, decimal)
            else:
                staged = build_stg(con, raw, exprs, from_sql, reasons, params, extra,
                                   decimal_comma=None if decimal is None else decimal == ",")
                names.remove(raw.name)  # the loader shows its cells for rejects, then drops it
            for alias, lookup in src.lookups.items():
                if alias not in required_lookups:
                    notes += _misses_kept(con, lookup, from_sql, params)
            if src.lookups or tm.group_by:
                staged.inputs = [(display, raw.staged.rows_read)] + [
                    (lk.raw.display, lk.raw.staged.rows_read) for lk in src.lookups.values()]
            staged.notes = notes + staged.notes
            staged.lookup_reads = sorted(src.lookup_reads, key=str)
            if tm.group_by:
                staged.ignored_headers = extra
            return staged
        finally:
            for name in [*names, "map_lines", "map_checked"]:
                con.execute(f"drop table if exists {name}")
            for alias in tm.lookups:
                con.execute(f"drop table if exists lk_{alias}")

    return stager


# ---------------------------------------------------------------- lookups


def _lookups(con: duckdb.DuckDBPyConnection, tm: TableMapping, src: _Sources,
             files: dict[str, tuple[Path, str] | str], encoding: str | None, nulls: list[str] | None,
             notes: list[str], names: list[str]) -> list[str]:
    """Stage each lookup file once, one row per key (the first in file order): the joins."""
    joins = []
    for alias, spec in tm.lookups.items():
        found = files.get(alias)
        if not isinstance(found, tuple):
            raise FatalFileError(found or f"{spec.file}: not in the source")
        path, display = found
        name = f"map_lk_{alias}"
        raw = stage_raw(con, path, name, display, spec.sheet, encoding=encoding, null_values=nulls or None)
        names.append(name)
        keys, cells = [], []
        for mine, theirs in spec.on.items():
            left = src.cell(mine, f"tables.{tm.table}.lookups.{alias}.on")
            cells.append(left)
            if not raw.has(theirs):
                raise FatalFileError(
                    f"{display}: the mapping's tables.{tm.table}.lookups.{alias}.on names {theirs!r}, no column of "
                    f"this file; its columns are {', '.join(h for h in raw.headers if h.strip())}")
            keys.append((normalised_key(left, spec.match), normalised_key(raw.col(theirs, alias="l"), spec.match)))
            src.lookup_reads.add((display, spec.sheet, (raw.find(theirs) or theirs).strip()))
        key_cols = ", ".join(f"{right} as _k{i}" for i, (_, right) in enumerate(keys))
        partition = ", ".join(f"_k{i}" for i in range(len(keys)))
        not_null = " and ".join(f"_k{i} is not null" for i in range(len(keys)))
        con.execute(f"""create or replace temp table lk_{alias} as
            select * from (select l.*, {key_cols} from {name} l)
            where {not_null}
            qualify row_number() over (partition by {partition} order by _row) = 1""")
        repeated = con.execute(f"""select count(*), any_value(_k0) from (
            select {partition}, any_value(_k0) as _k0 from (select {key_cols} from {name} l)
            where {not_null} group by all having count(*) > 1)""").fetchone()
        if repeated[0]:
            notes.append(f"lookup {alias} ({display}): {repeated[0]:,} keys appear in more than one row (e.g. "
                         f"{repeated[1]!r}); the first row of each is used")
        how = " (compared without case and spaces)" if spec.match == "normalised" else ""
        src.lookups[alias] = _Lookup(alias, raw, keys, " + ".join(spec.on), how, cells, spec.sheet)
        joins.append(f"left join lk_{alias} lk_{alias} on "
                     + " and ".join(f"lk_{alias}._k{i} = {left}" for i, (left, _) in enumerate(keys)))
    return joins


def _required_lookups(tm: TableMapping, src: _Sources) -> dict[str, tuple[str, ...]]:
    """Lookups that fill a required column or a group key (directly or through a later lookup):
    a row without partner there is rejected. Each with the columns its miss leaves blank.

    A later lookup keyed on this one's column finds nothing either, so its columns count too.
    """
    table = TABLES[tm.table]
    fills: dict[str, list[str]] = {}
    for col in table.columns:
        if not (col.required or col.name in tm.group_by):
            continue
        refs: list[str] = []
        source = tm.columns.get(col.name)
        if source is not None:
            refs += source if isinstance(source, list) else [source]
        if col.name in tm.formulas:
            refs += formula_refs(parse_formula(tm.formulas[col.name], "formula"))
        for ref in refs:
            alias, dot, _ = ref.partition(".")
            if dot and alias in src.lookups and not src.raw.has(ref) and col.name not in fills.get(alias, []):
                fills.setdefault(alias, []).append(col.name)
    changed = True
    while changed:  # a needed lookup's key may come from an earlier lookup
        changed = False
        for alias in list(fills):
            for mine in tm.lookups[alias].on:
                other, dot, _ = mine.partition(".")
                if dot and other in src.lookups and not src.raw.has(mine):
                    missing = [c for c in fills[alias] if c not in fills.get(other, [])]
                    if missing:
                        fills.setdefault(other, []).extend(missing)
                        changed = True
    return {alias: tuple(cols) for alias, cols in fills.items()}


def _key_shown(lookup: _Lookup) -> str:
    return " || ' + ' || ".join(f"coalesce(kam_show(trim({cell})), 'blank')" for cell in lookup.cells)


def _miss_reason(lookup: _Lookup) -> str:
    present = " and ".join(f"{left} is not null" for left, _ in lookup.keys)
    return (f"case when {present} and lk_{lookup.alias}._row is null then "
            f"{quote_literal(f'no row of {lookup.raw.display} matches {lookup.shown} ')} || {_key_shown(lookup)}"
            f" || {quote_literal(lookup.match)} end")


def _misses_kept(con: duckdb.DuckDBPyConnection, lookup: _Lookup, from_sql: str, params: dict) -> list[str]:
    present = " and ".join(f"{left} is not null" for left, _ in lookup.keys)
    sql = (f"select count(*), any_value({_key_shown(lookup)}) {from_sql} "
           f"where {present} and lk_{lookup.alias}._row is null")
    count, example = con.execute(sql, used_params(sql, params)).fetchone()
    if not count:
        return []
    return [f"lookup {lookup.alias}: {count:,} rows have no row in {lookup.raw.display} with their {lookup.shown}"
            f"{lookup.match} (e.g. {example}); kept, with the lookup's columns blank"]


# ---------------------------------------------------------------- columns, formulas and filters


def _columns(con: duckdb.DuckDBPyConnection, tm: TableMapping, mapping: Mapping, src: _Sources,
             params: dict[str, Any]) -> tuple[dict[str, str], list[str | BlankReason]]:
    """SQL text per canonical column (value maps, date format, defaults applied) and the reasons
    of formulas whose operands are not numbers (the reason why the formula's column is blank)."""
    from kam_core.ingest.importers.mapping.staging import column_sql

    table = TABLES[tm.table]
    exprs: dict[str, str] = {}
    for col, source in tm.columns.items():
        refs = source if isinstance(source, list) else [source]
        cells = [src.cell(r, f"tables.{tm.table}.columns.{col}") for r in refs]
        exprs[col] = cells[0] if len(cells) == 1 else (
            "nullif(concat_ws(' ', " + ", ".join(f"kam_clean({c})" for c in cells) + "), '')")
    for c in table.columns:  # a header spelled like the canonical column needs no entry
        if c.name not in exprs and c.name not in tm.formulas and src.raw.has(c.name) \
                and src.raw.find(c.name) not in src.used:
            exprs[c.name] = src.cell(c.name, f"tables.{tm.table}.columns")
    reasons: list[str | BlankReason] = []
    if tm.formulas:
        decimal = tm.decimal or mapping.decimal
        operands = {r: src.cell(r, f"tables.{tm.table}.formulas") for text in tm.formulas.values()
                    for r in formula_refs(parse_formula(text, "formula"))}
        if decimal is None:
            dec = decimal_comma_cells(con, list(operands.values()), f"{src.raw.name} m", None,
                                      src.raw.staged.delimiter)
        else:
            dec = decimal == ","
        for col, text in tm.formulas.items():
            tree = parse_formula(text, f"tables.{tm.table}.formulas.{col}")
            value = formula_sql(tree, lambda r: f"kam_num({operands[r]}, {str(dec).lower()})")
            out = f"cast({value} as varchar)"
            exprs[col] = f"replace({out}, '.', ',')" if dec else out
            for ref in formula_refs(tree):
                cell = operands[ref]
                reasons.append(BlankReason(
                    f"case when kam_clean({cell}) is not null and kam_num({cell}, {str(dec).lower()}) is null "
                    f"then {quote_literal(f'{col} = {text}: {ref} ')} || kam_show({cell}) || ' is not a number' end",
                    (col,)))
    date_format = tm.date_format or mapping.date_format
    final = {}
    for i, c in enumerate(table.columns):
        if c.name in exprs or c.name in tm.defaults:
            final[c.name] = column_sql(c, exprs.get(c.name, "null::varchar"), tm, params, f"c{i}", date_format)
    return final, reasons


def _filters(tm: TableMapping, src: _Sources, params: dict[str, Any]) -> list[str]:
    """Reasons for rows the mapping's where / where_not leave out (rejects, never silent)."""
    reasons = []
    for key, keep in (("where", True), ("where_not", False)):
        for i, (header, values) in enumerate(getattr(tm, key).items()):
            cell = src.cell(header, f"tables.{tm.table}.{key}")
            name = f"w_{key}_{i}"
            params[name] = [v.strip().lower() for v in values]
            inside = f"list_contains(${name}, coalesce(lower(trim({cell})), ''))"
            listed = ", ".join(repr(v) if v.strip() else "blank" for v in values)
            if keep:
                verb = f"is not {listed}" if len(values) == 1 else f"is none of {listed}"
                shown = f"{quote_literal(f'{header} ')} || coalesce(kam_show({cell}), 'blank') || {quote_literal(' ' + verb)}"
            else:
                shown = f"{quote_literal(f'{header} is ')} || coalesce(kam_show({cell}), 'blank')"
            reasons.append(
                f"case when {'not ' if keep else ''}{inside} then "
                f"{quote_literal('left out by the mapping' + chr(39) + f's {key}: ')} || {shown} end")
    return reasons


# ---------------------------------------------------------------- grouping


def _as_text(col: Column, value: str, dec: bool) -> str:
    """A checked value back to the text the loader parses again."""
    if col.kind == "month":
        return f"strftime({value}, '%Y-%m')"
    if col.kind in ("float", "int"):
        text = f"cast({value} as varchar)"
        return f"replace({text}, '.', ',')" if dec else text
    return f"cast({value} as varchar)"


def _grouped(con: duckdb.DuckDBPyConnection, tm: TableMapping, src: _Sources, exprs: dict[str, str],
             reasons: list[str | BlankReason], params: dict[str, Any], from_sql: str, decimal: str | None
             ) -> Staged:
    """One row per group: each file row checked on its own first, then the groups combined."""
    table = TABLES[tm.table]
    missing = [c for c in tm.group_by if c not in exprs]
    if missing:
        raise FatalFileError(f"{src.display}: the mapping's tables.{tm.table}.group_by names {missing[0]}, which "
                             "has no source: add it to [columns] (or defaults)")
    cols = [c.name for c in table.columns if c.name in exprs]
    cells = ", ".join(f"cast({exprs[c]} as varchar) as c{i}" for i, c in enumerate(cols))
    lines_sql = (f"create or replace temp table map_lines as select m._row, {reason_sql(reasons)} as _pre_reason, "
                 f"{blank_sql(reasons)} as _pre_blank, {cells} {from_sql}")
    con.execute(lines_sql, used_params(lines_sql, params))
    colmap = {c: i for i, c in enumerate(cols)}
    how = {c: tm.aggregate.get(c, "first") for c in cols if c not in tm.group_by}
    checked_cols = [c for c in cols if c in tm.group_by or how.get(c) in ("sum", "min", "max")]
    line_table = Table(tm.table, tuple(replace(table.column(c), ref=None, required_when=None,
                                               required=table.column(c).required or c in tm.group_by)
                                       for c in checked_cols))
    numeric = [f"c{colmap[c]}" for c in checked_cols if table.column(c).kind in ("float", "int")]
    dec = (decimal == ",") if decimal is not None else decimal_comma_cells(
        con, numeric, "map_lines", None, src.raw.staged.delimiter)
    sub_map = {c: colmap[c] for c in checked_cols}
    checks = checked_sql(line_table, sub_map, pre_reason=True, cleaned=False, source="map_lines", pre_blank=True)
    con.execute(f"create or replace temp table map_checked as {checks}",
                {"dec_comma": dec} if "$dec_comma" in checks else None)
    raw_text = ("concat_ws(" + quote_literal(src.raw.staged.delimiter) + ", "
                + ", ".join(f"kam_csvq(coalesce(m.c{i}, ''), {quote_literal(src.raw.staged.delimiter)})"
                            for i in range(len(src.raw.headers))) + ")")
    rejects = [RawReject(row, raw, why) for row, raw, why in con.execute(
        f"select c._row, {raw_text}, c._reason from map_checked c join {src.raw.name} m using (_row) "
        "where c._reason is not null order by c._row").fetchall()]
    keys = [f"c.{c}" for c in tm.group_by]
    outputs = []
    for c in cols:
        col = table.column(c)
        if c in tm.group_by:
            outputs.append(_as_text(col, f"c.{c}", dec))
        elif how[c] in ("sum", "min", "max"):
            outputs.append(_as_text(col, f"{how[c]}(c.{c})", dec))
        else:
            pick = "arg_min" if how[c] == "first" else "arg_max"
            outputs.append(f"{pick}(l.c{colmap[c]}, l._row) filter (where kam_clean(l.c{colmap[c]}) is not null)")
    select = ", ".join(f"{o} as c{i}" for i, o in enumerate(outputs))
    label = quote_literal(f" rows of {src.display}: rows ")
    con.execute(f"""create or replace temp table stg as
        select
            min(c._row) as _row,
            'combined from ' || count(*) || {label}
                || array_to_string(list_slice(list(c._row order by c._row), 1, {MAX_ROWS_SHOWN}), ', ')
                || case when count(*) > {MAX_ROWS_SHOWN} then ', …' else '' end as _raw,
            {select}
        from map_checked c join map_lines l using (_row)
        where c._reason is null
        group by {', '.join(keys)}""")
    groups = con.execute("select count(*) from stg").fetchone()[0]
    combined = con.execute("select count(*) from map_checked where _reason is null").fetchone()[0]
    summed = [c for c in cols if how.get(c) == "sum"]
    note = (f"{combined:,} rows combined into {groups:,} (one per {', '.join(tm.group_by)})"
            + (f"; {', '.join(summed)} summed" if summed else "")
            + ("; other columns take the first non-empty value" if any(h == "first" for h in how.values()) else ""))
    rejects += list(src.raw.staged.raw_rejects)
    return Staged(headers=cols, rows_read=groups + len(rejects), has_raw=True, decimal_comma=dec,
                  raw_rejects=rejects, notes=[note], file_format=src.raw.staged.file_format)
