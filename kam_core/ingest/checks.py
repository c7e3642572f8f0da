"""The checks every staged row goes through: parsing each column's text into its type and the
reasons a row is rejected, as SQL (one pass per file; the reason text is built only for rows
that fail)."""

from __future__ import annotations

import duckdb

from kam_core.ingest.schema import ENUM_ALIASES, Column, Table
from kam_core.settings import Settings
from kam_core.sqlutil import literal_list, quote_literal

EXCEL_ERRORS = ("#N/A", "#REF!", "#DIV/0!", "#VALUE!", "#NAME?", "#NUM!", "#NULL!")


LAZY_CLEAN = ("float", "int", "date", "month", "bool")

# The fix in the reason of a date that is an Excel day number (not converted: it may be a guess)
EXCEL_SERIAL_FIX = "so format the column as a date in the spreadsheet before exporting"

KIND_WORDS = {
    "float": "a number",
    "int": "a whole number",
    "date": "a date (YYYY-MM-DD or DD.MM.YYYY)",
    "month": "a month (YYYY-MM or a date in the month)",
    "bool": "true or false (also 1/0, yes/no, ja/nein)",
}



def _date_formats(settings: Settings) -> list[str]:
    """The day-month formats tried after ISO, in order (the first that reads the whole cell wins).

    A two-digit year (``02/03/24``, Excel's re-save of a US report) is read with the usual pivot
    (00-68 -> 20xx, 69-99 -> 19xx, as Python's ``%y``); it comes before the four-digit form, which
    would take ``24`` as the year 0024. Times may be 24-hour or 12-hour (``08:55 PM``).
    """
    day_first = settings.date_order == "dmy"
    times = ("", " %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p")

    def forms(order: str) -> list[str]:
        return [order + year + t for year in ("%y", "%Y") for t in times]

    return [
        *forms("%d.%m."),
        "%d-%m-%Y", "%d-%m-%Y %H:%M", "%d-%m-%Y %H:%M:%S",  # Excel re-save of ISO stamps
        *forms("%d/%m/" if day_first else "%m/%d/"), "%Y/%m/%d",  # last: it would read 03/02/24 as the year 3
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
        -- DuckDB's cast reads '02/03/24' as the year 2 (year first): a cell whose first part is
        -- shorter than a four-digit year goes to the day-month formats only
        create or replace temp macro kam_date(v) as coalesce(
            case when not (contains(left(v, 4), '/') or contains(left(v, 4), '.') or contains(left(v, 4), '-'))
                 then coalesce(try_cast(v as date), try_cast(try_cast(v as timestamp) as date)) end,
            try_cast(try_strptime(trim(v), {formats}) as date));
        create or replace temp macro kam_month(v) as date_trunc('month', coalesce(
            case when length(v) <= 8 then try_cast(v || '-01' as date) end,
            try_cast(try_strptime(trim(v), ['%Y-%m', '%Y/%m', '%m.%Y', '%m/%Y']) as date),
            kam_date(v)))::date;
        -- Excel's day number in its 1900 system as text: 1 = 1900-01-01, and 60 the 1900-02-29
        -- that never was (Lotus 1-2-3's leap-year bug, kept by Excel), so from 61 on the day is
        -- 1899-12-30 + n
        create or replace temp macro kam_excel_day(n) as
            case when n < 1 then null
                 when n < 60 then strftime(date '1899-12-31' + n::int, '%Y-%m-%d')
                 when n = 60 then '1900-02-29'
                 else strftime(date '1899-12-30' + n::int, '%Y-%m-%d') end;
        -- a cell that looks like an Excel serial date (a spreadsheet saved as CSV without a date
        -- format): a five-digit day number (1927-05-18 to 2173-10-14), perhaps with a time as a
        -- fraction; its day as text, else null. Only for the reason: the row stays rejected
        create or replace temp macro kam_excel_serial(v) as
            case when regexp_full_match(trim(v), '\\d{{5}}(\\.\\d+)?')
                 then kam_excel_day(floor(trim(v)::double)) end;
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


def _checks(col: Column, v: str, p: str, pre_blank: bool = False) -> list[tuple[str, str]]:
    """(condition, reason) SQL pairs: the reason text applies when the condition is true.

    ``pre_blank``: the staged rows have ``_pre_blank``, the columns whose blank an importer's
    reason already explains (that reason is given instead of "is blank (required)").
    """
    name = quote_literal(col.name)
    checks: list[tuple[str, str]] = []
    if col.required:
        explained = f" and not list_contains(_pre_blank, {name})" if pre_blank else ""
        checks.append((f"{v} is null{explained}", f"{name} || ' is blank (required)'"))
    # Excel error literals all contain '#': that cheap test guards the costly one
    is_excel = f"(contains({v}, '#') and upper(trim({v})) in {tuple(EXCEL_ERRORS)!r})"
    checks.append((is_excel, f"{name} || ' holds the Excel error ' || trim({v})"))
    if col.kind in KIND_WORDS:
        words = quote_literal(KIND_WORDS[col.kind])
        why = f"{name} || ' ' || kam_show({v}) || ' is not ' || {words}"
        if col.kind in ("date", "month"):  # an Excel day number: say so, and how to export a date
            why += (f" || coalesce(': it looks like an Excel serial day number (' || trim({v}) || ' = ' "
                    f"|| kam_excel_serial({v}) || '), {EXCEL_SERIAL_FIX}', '')")
        checks.append((f"{v} is not null and {p} is null and not {is_excel}", why))
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
                source: str = "stg", pre_blank: bool = False, keep: tuple[str, ...] = ()) -> str:
    """The SELECT that parses and checks every column of one staged file (``stg``).

    The reason text is built only for rows that fail a check (a CASE evaluates its branch
    only for the rows that reach it), which keeps clean files fast. ``pre_blank``: the source
    has ``_pre_blank`` (with ``_pre_reason``), the columns whose blank that reason explains.
    ``keep``: columns of the source passed through unchanged (a CSV row's ``_fields``).
    """
    pre_blank = pre_blank and pre_reason
    selected = ["_pre_reason"] if pre_reason else []
    if pre_blank:
        selected.append("_pre_blank")
    selected += list(keep)
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
    pairs = [pair for c in table.columns if c.name in colmap
             for pair in _checks(c, values[c.name], f"p_{c.name}", pre_blank)]
    # a null condition counts as false: OR-ing and CASE WHEN both treat it so
    conditions = [f"({_failed(c, values[c.name], f'p_{c.name}')})" for c in table.columns if c.name in colmap]
    for c in table.columns:  # required in some rows only (a won deal's amount)
        if c.required_when and c.required_when[0] in table.column_names:
            other, wanted = c.required_when
            cond = (f"p_{other} in ({', '.join(quote_literal(w) for w in wanted)}) "
                    f"and {values[c.name]} is null")
            pairs.append((cond, f"{quote_literal(c.name)} || ' is blank (required when {other} is "
                                f"{' or '.join(wanted)})'"))
            conditions.append(f"({cond})")
    reasons = [f"case when {cond} then {msg} end" for cond, msg in pairs]
    if pre_reason:
        conditions.insert(0, "_pre_reason is not null")
        reasons.insert(0, "_pre_reason")
    any_failed = " or\n            ".join(conditions) or "false"
    every_reason = f"nullif(concat_ws('; ', {', '.join(reasons)}), '')"
    if pre_reason:  # a row a mapping's filter leaves out needs no other reason
        every_reason = (f"case when starts_with(_pre_reason, 'left out by the mapping') then _pre_reason "
                        f"else {every_reason} end")
    return f"""
        with cleaned as (
            select _row, {cleaned_cols} from {source}
        ),
        parsed as (
            select *, {parsed} from cleaned
        )
        select
            _row,{"".join(f" {k}," for k in keep)}
            {finals},
            case when {any_failed}
            then {every_reason} end as _reason
        from parsed
    """




def decimal_comma(con: duckdb.DuckDBPyConnection, table: Table, colmap: dict[str, int], source: str,
                  params: dict | None, delimiter: str) -> bool:
    """German number format (decimal comma) in the number columns of a staged file?"""
    numeric = [f"c{colmap[c.name]}" for c in table.columns if c.kind in ("float", "int") and c.name in colmap]
    return decimal_comma_cells(con, numeric, source, params, delimiter)


def decimal_comma_cells(con: duckdb.DuckDBPyConnection, cells: list[str], source: str, params: dict | None,
                        delimiter: str) -> bool:
    """German number format in these cells? Only files not delimited by commas can have it: some
    cell holds a comma, or (with ``;``) every dotted one is a thousands group (``1.234``)."""
    if delimiter == "," or not cells:
        return False
    any_comma = " or ".join(f"bool_or(contains({c}, ','))" for c in cells)
    any_dot = " or ".join(f"bool_or(contains({c}, '.'))" for c in cells)
    all_thousands = " and ".join(
        f"coalesce(bool_and(regexp_full_match(trim({c}), '[+-]?\\d{{1,3}}(\\.\\d{{3}})+')) "
        f"filter (where contains({c}, '.')), true)" for c in cells
    )
    comma, dot, thousands = con.execute(
        f"select coalesce({any_comma}, false), coalesce({any_dot}, false), {all_thousands} from {source}",
        params or None,
    ).fetchone()
    return bool(comma) or (bool(dot) and bool(thousands) and delimiter == ";")
