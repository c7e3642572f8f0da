"""Downloads: CSV and Excel bytes, with cells neutralised against formula injection.

A cell text beginning with ``=``, ``+``, ``-`` or ``@`` (also after a tab, carriage return or
line feed) would be run as a formula by a spreadsheet; it is prefixed with an apostrophe. Numbers
are left as numbers, so a negative amount stays a number.

In a CSV file a carriage return or line feed inside a value would start a new spreadsheet row
whose first cell could be a formula (``ok`` CR ``=HYPERLINK(...)``): every field holding either is
quoted, so it stays one cell (rows end in CRLF, as RFC 4180 has it).

>>> neutralise(pd.DataFrame({"a": ["=1+2", "ok", "-x", "@SUM(A1)"], "n": [-1, 2, 3, 4]})).to_dict("list")
{'a': ["'=1+2", 'ok', "'-x", "'@SUM(A1)"], 'n': [-1, 2, 3, 4]}
"""

from __future__ import annotations

import io

import pandas as pd

DANGEROUS_START = ("=", "+", "-", "@", "\t", "\r", "\n")
MISSING_MARK = "– ({})"  # an empty cell of a column whose export was not loaded: "– (needs revenue.csv)"


def _safe(value: object) -> object:
    if isinstance(value, str) and value.startswith(DANGEROUS_START):
        return "'" + value
    return value


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(_safe, na_action="ignore")
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
    them: a spreadsheet cell holds text, not a list.

    >>> flatten_lists(pd.DataFrame({"r": [["a", "b"], [], None]}))["r"].tolist()
    ['a; b', '', None]
    """
    out = frame
    for column in frame.columns:
        values = frame[column]
        is_list = isinstance(values.dtype, pd.ArrowDtype) and "list" in str(values.dtype)
        if is_list or (values.dtype == object and values.map(lambda v: isinstance(v, list | tuple)).any()):
            if out is frame:
                out = frame.copy()
            out[column] = pd.Series([_joined(v) for v in values.astype(object)], index=values.index, dtype=object)
    return out


def _joined(value: object) -> str | None:
    if isinstance(value, list | tuple):
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


def write_xlsx(safe: pd.DataFrame, sheet: str = "data") -> bytes:
    """The workbook of a frame already flattened, marked and neutralised."""
    buf = io.BytesIO()
    safe = safe.copy()
    for col in safe.columns:  # Excel has no time zones
        if isinstance(safe[col].dtype, pd.DatetimeTZDtype):
            safe[col] = safe[col].dt.tz_localize(None)
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        safe.to_excel(writer, sheet_name=sheet[:31], index=False)
    return buf.getvalue()
