"""Downloads: CSV and Excel bytes, with cells neutralised against formula injection.

A cell text beginning with ``=``, ``+``, ``-`` or ``@`` (also after a tab, carriage return or
line feed) would be run as a formula by a spreadsheet; it is prefixed with an apostrophe. Numbers
are left as numbers, so a negative amount stays a number.

In a CSV file a carriage return or line feed inside a value would start a new spreadsheet row
whose first cell could be a formula (``ok`` CR ``=HYPERLINK(...)``): every field holding either is
quoted, so it stays one cell (rows end in CRLF, as RFC 4180 has it).

The Excel file is written by XlsxWriter column by column (``write_xlsx``): about three times
faster than pandas' ``to_excel`` with openpyxl, with the same cells (``tests/test_export.py``).

>>> neutralise(pd.DataFrame({"a": ["=1+2", "ok", "-x", "@SUM(A1)"], "n": [-1, 2, 3, 4]})).to_dict("list")
{'a': ["'=1+2", 'ok', "'-x", "'@SUM(A1)"], 'n': [-1, 2, 3, 4]}
"""

from __future__ import annotations

import datetime as dt
import decimal
import io
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import xlsxwriter

DANGEROUS_START = ("=", "+", "-", "@", "\t", "\r", "\n")
LIST_TYPES = (list, tuple, np.ndarray)
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MISSING_MARK = "– ({})"  # an empty cell of a column whose export was not loaded: "– (needs revenue.csv)"


def _safe(value: object) -> object:
    if isinstance(value, str) and value.startswith(DANGEROUS_START):
        return "'" + value
    return value


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell and column name that starts like a formula prefixed with an
    apostrophe; other cells as they are. Text columns are checked column-wise (one vectorised
    ``startswith`` each), mixed columns cell by cell."""
    out = frame.copy()
    for i in range(out.shape[1]):
        values = out.iloc[:, i]
        if isinstance(values.dtype, pd.StringDtype):
            risky = values.str.startswith(DANGEROUS_START).fillna(False).astype(bool)
            if risky.any():
                out.isetitem(i, values.where(~risky, "'" + values))
        elif values.dtype == object or pd.api.types.is_string_dtype(values):
            out.isetitem(i, values.map(_safe, na_action="ignore"))
    out.columns = [str(_safe(str(c))) for c in out.columns]
    return out


def mark_missing(frame: pd.DataFrame, missing: dict[str, str] | None) -> pd.DataFrame:
    """The empty cells of the columns in ``missing`` (column → ``needs revenue.csv``: its export
    was not loaded) read ``– (needs revenue.csv)``: a blank cell would count as 0 in a
    spreadsheet's sums, and a figure without data is never 0.

    >>> mark_missing(pd.DataFrame({"a": [1.0, None], "n": ["x", "y"]}), {"a": "needs revenue.csv"})["a"].tolist()
    [1.0, '– (needs revenue.csv)']
    """
    if not missing:
        return frame
    out = frame.copy()
    for column, why in missing.items():
        if column in out.columns:
            values = out[column].astype(object)
            out[column] = values.where(values.notna(), MISSING_MARK.format(why))
    return out


def flatten_lists(frame: pd.DataFrame) -> pd.DataFrame:
    """List cells (an account's reasons) as one text joined by ``"; "``, as the reports write
    them: a spreadsheet cell holds text, not a list. A list may come as a Python list or tuple,
    a numpy array (how DuckDB hands a list column to pandas) or an Arrow list column.

    >>> import numpy as np
    >>> flatten_lists(pd.DataFrame({"r": [["a", "b"], np.array(["c", "d"]), [], None]}))["r"].tolist()
    ['a; b', 'c; d', '', None]
    """
    out = frame
    for i in range(frame.shape[1]):
        values = frame.iloc[:, i]
        is_list = isinstance(values.dtype, pd.ArrowDtype) and "list" in str(values.dtype)
        if is_list or (values.dtype == object and any(isinstance(v, LIST_TYPES) for v in values)):
            if out is frame:
                out = frame.copy()
            out.isetitem(i, pd.Series([_joined(v) for v in values.astype(object)], index=values.index, dtype=object))
    return out


def _joined(value: object) -> str | None:
    if isinstance(value, LIST_TYPES):
        return "; ".join(map(str, value))
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    try:
        return "; ".join(map(str, value))  # an array
    except TypeError:
        return str(value)


def to_csv_bytes(frame: pd.DataFrame, missing: dict[str, str] | None = None) -> bytes:
    """UTF-8 with BOM so that Excel shows umlauts and € correctly; the columns in ``missing``
    are marked (``mark_missing``).

    The csv module quotes a field that contains a character of the line terminator, so with
    CRLF as terminator every field holding a CR or an LF is quoted.
    """
    return neutralise(mark_missing(flatten_lists(frame), missing)).to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")


def to_excel_bytes(frame: pd.DataFrame, sheet: str = "data", missing: dict[str, str] | None = None) -> bytes:
    """An .xlsx workbook of ``frame`` (the columns in ``missing`` marked, ``mark_missing``)."""
    return write_xlsx(neutralise(mark_missing(flatten_lists(frame), missing)), sheet)


# Number formats of the cells that are not General (as pandas wrote them with openpyxl before)
DATETIME_FORMAT = "YYYY-MM-DD HH:MM:SS"
DATE_FORMAT = "YYYY-MM-DD"
DURATION_FORMAT = "0"  # a duration as a number of days
EXCEL_EPOCH = pd.Timestamp("1899-12-30")  # day 0 of Excel's 1900 date system


XLSX_OPTIONS = {"strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False}
"""XlsxWriter's options for every workbook the app writes: a text is always a text cell (never a
formula, a number or a link)."""


def number_formats(book: xlsxwriter.Workbook) -> Callable[[str], Any]:
    """``fmt(code)``: the one format of ``book`` with number format ``code`` (made once)."""
    formats: dict[str, Any] = {}

    def fmt(code: str) -> Any:
        if code not in formats:
            formats[code] = book.add_format({"num_format": code})
        return formats[code]

    return fmt


def write_xlsx(safe: pd.DataFrame, sheet: str = "data") -> bytes:
    """The workbook of a frame already flattened, marked and neutralised: one sheet, the column
    names in row 1 as text, one row per record, no widths set (as pandas wrote it with openpyxl).

    Each cell keeps its kind: numbers are numbers (±inf, which a spreadsheet has no number for,
    reads ``inf``), truth values are TRUE/FALSE, dates and times are date cells (formatted
    ``YYYY-MM-DD HH:MM:SS``, or ``YYYY-MM-DD`` for a date without a time), durations are days,
    text is text (never a formula: XlsxWriter's ``write_string``; control characters escaped as
    Excel writes them, a text longer than a cell's 32,767 characters cut there, as pandas did),
    nulls and empty texts are blank cells.

    XlsxWriter writes it, column by column: each column's kind is found once from its dtype, its
    values handed over as a Python list, dates turned into Excel day numbers with numpy. Only a
    column of mixed values (an ``object`` column that is not all text) is looked at cell by cell.
    """
    buf = io.BytesIO()
    with xlsxwriter.Workbook(buf, {"in_memory": True, **XLSX_OPTIONS}) as book:
        ws = book.add_worksheet(sheet[:31])
        fmt = number_formats(book)
        for col, name in enumerate(safe.columns):
            ws.write_string(0, col, str(name))
            write_column(ws, col, safe.iloc[:, col], fmt)
    return buf.getvalue()


def write_column(ws: Any, col: int, values: pd.Series, fmt: Callable[[str], Any], *,
                 datetime_format: str = DATETIME_FORMAT) -> None:
    """The cells of one column below its header (rows 2…): its kind from its dtype.
    ``datetime_format``: the number format of a datetime column (``DATE_FORMAT`` for a column of
    dates without times)."""
    present = values.notna().to_numpy(dtype=bool)
    rows = (np.flatnonzero(present) + 1).tolist()  # row 0 is the header
    kept = values[present]
    dtype = values.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):  # Excel has no time zones: the local wall time
        kept = kept.dt.tz_localize(None)
    if pd.api.types.is_datetime64_any_dtype(dtype):
        number, style = ws.write_number, fmt(datetime_format)
        for row, day in zip(rows, _excel_days(kept).tolist(), strict=True):
            number(row, col, day, style)
    elif pd.api.types.is_timedelta64_dtype(dtype):
        number, style = ws.write_number, fmt(DURATION_FORMAT)
        for row, days in zip(rows, (kept.dt.total_seconds() / 86400).tolist(), strict=True):
            number(row, col, days, style)
    elif pd.api.types.is_bool_dtype(dtype):
        boolean = ws.write_boolean
        for row, flag in zip(rows, kept.astype(bool).tolist(), strict=True):
            boolean(row, col, flag)
    elif pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
        number, string = ws.write_number, ws.write_string
        finite = np.isfinite(kept.to_numpy(dtype=float))
        for row, value, ok in zip(rows, kept.tolist(), finite.tolist(), strict=True):
            if ok:
                number(row, col, value)
            else:  # as pandas wrote ±inf: text
                string(row, col, "inf" if value > 0 else "-inf")
    elif isinstance(dtype, pd.StringDtype) or (
            pd.api.types.is_object_dtype(dtype) and pd.api.types.infer_dtype(kept, skipna=True) == "string"):
        string = ws.write_string
        for row, text in zip(rows, kept.tolist(), strict=True):
            if text:  # an empty text is a blank cell, as a null
                string(row, col, text)
    else:  # mixed values, categories, periods …: cell by cell
        for row, value in zip(rows, kept.astype(object).tolist(), strict=True):
            write_value(ws, row, col, value, fmt)


def write_value(ws: Any, row: int, col: int, value: object, fmt: Callable[[str], Any]) -> None:
    """One cell of a mixed column, of the kind of its value (pandas' rules for its Excel writers)."""
    if isinstance(value, bool | np.bool_):
        ws.write_boolean(row, col, bool(value))
    elif isinstance(value, int | float | np.integer | np.floating | decimal.Decimal):
        number = float(value) if isinstance(value, decimal.Decimal) else value.item() if isinstance(value, np.generic) else value
        if not isinstance(number, float) or math.isfinite(number):
            ws.write_number(row, col, number)
        else:
            ws.write_string(row, col, "inf" if number > 0 else "-inf")
    elif isinstance(value, dt.datetime):  # pandas' Timestamp too
        stamp = pd.Timestamp(value)
        if stamp.tzinfo is not None:
            stamp = stamp.tz_localize(None)
        ws.write_number(row, col, _excel_days(pd.Series([stamp])).item(), fmt(DATETIME_FORMAT))
    elif isinstance(value, dt.date):
        ws.write_number(row, col, _excel_days(pd.Series([pd.Timestamp(value)])).item(), fmt(DATE_FORMAT))
    elif isinstance(value, dt.timedelta):
        ws.write_number(row, col, value.total_seconds() / 86400, fmt(DURATION_FORMAT))
    else:  # text, and what has no cell type of its own (a time of day, a dict, bytes …) as its text
        text = value if isinstance(value, str) else str(value)
        if text:
            ws.write_string(row, col, text)


def _excel_days(stamps: pd.Series) -> np.ndarray:
    """Excel's day numbers of naive timestamps, as openpyxl computes them: whole days since
    1899-12-30 (one less before 1900-03-01, where Excel counts a 29 February 1900 that never
    was) plus the time of day as a fraction."""
    days = (stamps - EXCEL_EPOCH).dt.days.to_numpy(dtype=np.int64)
    days = np.where((days > 0) & (days <= 60), days - 1, days)
    seconds = (stamps.dt.hour * 3600 + stamps.dt.minute * 60 + stamps.dt.second).to_numpy(dtype=np.int64)
    return days + (seconds + stamps.dt.microsecond.to_numpy(dtype=np.int64) / 10**6) / 86400
